"""Short answers around the cards: usage, refusal, a card not shared, notices, and a notice
set above another message.

Pure Block Kit builders on `bot.views.blocks`.
"""

from __future__ import annotations

from datetime import UTC

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
)

from bot import ids
from bot.store.audit import RateLimitHit
from bot.views.blocks import (
    BUTTON_VALUE_MAX,
    EMAIL_MAX,
    SECTION_TEXT_MAX,
    SHORT_CODE_MAX,
    CardMessage,
    context_block,
    escape_text,
    fallback_text,
    link,
    section_block,
)
from bot.views.license_card import send_to_me_button
from bot.views.refusals import refusal_sentence, refusal_text


def build_share_refused(problem: str, customer_key: str) -> CardMessage:
    """Why a card was not shared where the button was clicked, with a way to still get it:
    Send to me puts it in the clicker's DM with the bot, which is theirs alone."""
    text = f"Nothing was shared. {escape_text(problem, SECTION_TEXT_MAX - 40)}"
    blocks: list[Block] = [section_block(text)]
    if len(customer_key) <= BUTTON_VALUE_MAX:
        blocks.append(
            ActionsBlock(
                block_id=ids.CARD_ACTIONS_BLOCK, elements=[send_to_me_button(customer_key)]
            )
        )
    return CardMessage(text=fallback_text(text), blocks=blocks)


_USAGE_EXAMPLES = (
    ("Acme", "company name (typos are fine)"),
    ("jane@acme.io", "who a license was sent to"),
    ("@acme.io", "an email domain"),
    ("A-S00012345", "a Zuora subscription"),
    ("12345", "a license id"),
    ("gitlab.acme.io", "a hostname from usage pings"),
)


def build_usage(command: str) -> CardMessage:
    """How to use /license or /recon, with one example per kind of search."""
    safe_command = escape_text(command, SHORT_CODE_MAX)
    if command == ids.RECON_COMMAND:
        purpose = f"`{safe_command}` shows the seat reconciliations of a customer's subscriptions."
    else:
        purpose = (
            f"`{safe_command}` shows every license issued to a customer, the active one first."
        )
    examples = [f"• `{safe_command} {example}`: {meaning}" for example, meaning in _USAGE_EXAMPLES]
    other = ids.LICENSE_COMMAND if command == ids.RECON_COMMAND else ids.RECON_COMMAND
    blocks: list[Block] = [
        section_block(purpose + "\n" + "\n".join(examples)),
        context_block(f"See also `{other}`."),
    ]
    return CardMessage(text=fallback_text(purpose), blocks=blocks)


def build_refusal(access_request_url: str | None, reason: str | None) -> CardMessage:
    """A polite no: no customer data, and a way to ask for access when one exists.

    The wording is bot/views/refusals.py's, the allowlist's plain fallback's too."""
    text = refusal_text(reason, access_request_url, link=link)
    return CardMessage(text=fallback_text(refusal_sentence(reason)), blocks=[section_block(text)])


def build_notice(text: str) -> CardMessage:
    """A short message with no card around it, e.g. the store being unavailable."""
    safe = escape_text(text, SECTION_TEXT_MAX - 1)
    return CardMessage(text=fallback_text(safe), blocks=[section_block(safe)])


def unsent_email_notice(email: str, *, by_domain: bool, customer_count: int) -> str:
    """What to say above the answer to an address no license was sent to: the card or pick
    list below is its domain's customers (`by_domain`) or, failing those, the names that match.
    """
    address = escape_text(email, EMAIL_MAX)
    domain = "@" + escape_text(email.rpartition("@")[2], EMAIL_MAX)
    if not by_domain:
        return f"No license was sent to {address} or anyone at {domain}; showing names that match."
    customers = "the customer" if customer_count == 1 else "the customers"
    return f"No license was sent to {address}; showing {customers} with licenses sent to {domain}."


def with_notice(message: CardMessage, notice: str) -> CardMessage:
    """`message` with `notice` (mrkdwn, already escaped) read first, in its blocks and its
    notification text."""
    return CardMessage(
        text=fallback_text(f"{notice} {message.text}"),
        blocks=[section_block(notice), *message.blocks],  # one more block: cards stay far under 50
    )


STORE_UNAVAILABLE = (
    "The license store is unavailable right now. Try again in a minute; "
    "if it keeps happening, tell the team that runs this bot."
)
LINK_GONE = "That record is not in the license store."
CUSTOMER_GONE = "That customer is no longer in the license store. Search again with /license."
STORE_EMPTY = (
    "The license store is empty: no export has been imported yet. Whoever runs this bot loads "
    "one with `python -m bot import licenses FILE` (or `python -m bot demo` to try it)."
)
MORE_GONE = "That list cannot be continued. Search again with a longer name."


def rate_limited_notice(hit: RateLimitHit) -> str:
    return (
        f"You've made {hit.lookups} lookups in the last hour; the limit is {hit.limit} "
        f"to protect customer data; try again at {hit.retry_at.astimezone(UTC):%H:%M} UTC."
    )
