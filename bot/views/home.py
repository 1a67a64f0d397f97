"""App Home and the card-in-a-modal: pure Block Kit builders, like the cards in bot/views/.

The Home tab tells a person where they stand with the bot (allowed, and by which allowlist rule;
or how to ask for access), how to use it, their recent lookups as one-click buttons, and how
fresh the store is. A refused person's Home carries no customer data at all: not even their
own past queries, which name customers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot import ids
from bot.access import (
    RULE_EMAIL,
    RULE_EMAIL_DOMAIN,
    RULE_LOCAL_OPERATOR,
    RULE_USER_ID,
    RULE_USERGROUP_PREFIX,
    AccessDecision,
)
from bot.freshness import Freshness
from bot.outcomes import RefusalReason
from bot.store.audit import RecentLookup
from bot.views.blocks import (
    BUTTON_TEXT_MAX,
    BUTTON_VALUE_MAX,
    QUERY_MAX,
    CardMessage,
    clean_plain_text,
    escape_text,
    format_timestamp,
    read_button_json,
)
from bot.views.follows import FollowShown, home_follow_blocks
from bot.views.freshness import freshness_footer, stale_blocks
from bot.views.notices import build_refusal
from bot.views.refusals import access_can_be_requested

RECENT_LOOKUPS_SHOWN = 5
FOLLOWS_SHOWN = 20
MODAL_TITLE = "CustomersDot"
MODAL_BLOCKS_MAX = 100
HOME_BLOCKS_MAX = 100
APP_NAME = "CustomersDot"

_COMMAND_EXAMPLES = (
    ("/license Acme", "every license issued to a customer, the active one first"),
    ("/license jane@acme.io", "licenses sent to that address (or `@acme.io`, a whole domain)"),
    ("/license A-S00012345", "by Zuora subscription, license id or hostname"),
    ("/recon Acme", "the seat reconciliations (QSR) of the customer's subscriptions"),
    ("/license follow Acme", "post Acme's renewals, trials, expiry, reconciliations, seats here"),
    ("/license following", "what this channel follows; `/license unfollow Acme` stops one"),
)
_OTHER_SURFACES = (
    "*Post license card* (a message's ⋮ menu): post a customer's card as a reply in that thread",
    "*Look up a license* (the ⚡ shortcuts menu): look a customer up in a window",
    "Paste a CustomersDot admin link to a license or reconciliation: I show it under the message",
    "*Follow in this thread* (on a card I posted): that thread hears of the customer's renewals, "
    "trials, expiry, reconciliations and seats",
)


@dataclass(frozen=True)
class HomeFacts:
    """What App Home needs from the store for an allowed user."""

    recent: tuple[RecentLookup, ...]  # newest first, from the audit table
    # Every import kind's age when the Home was read (bot/freshness.py); None: unknown.
    freshness: Freshness | None
    store_available: bool = True
    follows: tuple[FollowShown, ...] = ()  # the follows this person set up, newest first


def _mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text, verbatim=True)


def rule_words(rule: str | None, email: str | None) -> str:
    """Which allowlist entry let someone in, in words."""
    if rule == RULE_USER_ID:
        return "your Slack account is on the allowlist"
    if rule == RULE_EMAIL:
        shown = f" ({escape_text(email, 254)})" if email else ""
        return f"your email address{shown} is on the allowlist"
    if rule == RULE_EMAIL_DOMAIN:
        domain = email.rsplit("@", 1)[-1] if email and "@" in email else None
        shown = f" (@{escape_text(domain, 254)})" if domain else ""
        return f"your email domain{shown} is on the allowlist"
    if rule and rule.startswith(RULE_USERGROUP_PREFIX):
        group = escape_text(rule.removeprefix(RULE_USERGROUP_PREFIX), 80)
        return f"you are in the `{group}` user group"
    if rule == RULE_LOCAL_OPERATOR:
        return "you are the local operator"
    return "you are on the allowlist"


# ---- recent lookup buttons ---------------------------------------------------------------------


def recent_lookup_value(command: str, query: str) -> str | None:
    """The button value that re-runs a lookup; None if it would not fit in a button."""
    value = json.dumps({"c": command, "q": query}, ensure_ascii=False, separators=(",", ":"))
    return value if len(value) <= BUTTON_VALUE_MAX else None


def parse_recent_lookup_value(value: str) -> tuple[str, str] | None:
    """(command, query) from a recent-lookup button; None for anything we did not build."""
    data = read_button_json(value)
    if data is None:
        return None
    command, query = data.get("c"), data.get("q")
    if command not in ids.COMMANDS or not isinstance(query, str) or not query.strip():
        return None
    return command, query


def distinct_recent_lookups(
    recent: Sequence[RecentLookup], limit: int = RECENT_LOOKUPS_SHOWN
) -> list[tuple[str, str, RecentLookup]]:
    """The latest distinct slash-command lookups as (command, query, row), newest first.

    Only command lookups can be re-run from their audit row: other surfaces record a customer
    key or a URL, which is no query a person would recognise."""
    seen: set[tuple[str, str]] = set()
    shown: list[tuple[str, str, RecentLookup]] = []
    for row in recent:
        query = (row.query or "").strip()
        if row.surface not in ids.COMMANDS or not query:
            continue
        key = (row.surface, " ".join(query.casefold().split()))
        if key in seen:
            continue
        seen.add(key)
        shown.append((row.surface, query, row))
        if len(shown) >= limit:
            break
    return shown


def _recent_lookup_blocks(recent: Sequence[RecentLookup]) -> list[Block]:
    blocks: list[Block] = []
    for index, (command, query, row) in enumerate(distinct_recent_lookups(recent)):
        value = recent_lookup_value(command, query)
        if value is None:
            continue
        shown_query = escape_text(query, QUERY_MAX).replace("`", "'")
        text = f"`{command} {shown_query}`\n{format_timestamp(row.at)}"
        blocks.append(
            SectionBlock(
                block_id=f"home_recent:{index}",
                text=_mrkdwn(text),
                # One button per block: an action_id must be unique within its block.
                accessory=ButtonElement(
                    text=PlainTextObject(text="Open"[:BUTTON_TEXT_MAX]),
                    action_id=ids.HOME_RECENT_LOOKUP_ACTION,
                    value=value,
                ),
            )
        )
    if not blocks:
        blocks.append(
            SectionBlock(text=_mrkdwn("No lookups yet. Try `/license` with a customer's name."))
        )
    return blocks


# ---- the Home tab ------------------------------------------------------------------------------


def build_home_view(
    access: AccessDecision | None,
    facts: HomeFacts | None,
    *,
    access_request_url: str | None,
) -> View:
    """The Home tab. `facts` is read only for an allowed user; a refused one gets no data."""
    header = HeaderBlock(text=PlainTextObject(text=APP_NAME))
    if access is None or not access.allowed:
        return View(type="home", blocks=[header, *_refused_blocks(access, access_request_url)])

    available = facts is not None and facts.store_available
    freshness = facts.freshness if facts is not None and available else None
    blocks: list[Block] = [
        header,
        *(stale_blocks(freshness) if freshness is not None else ()),
        SectionBlock(
            text=_mrkdwn(
                f"✅ *You can look up customer licenses*: {rule_words(access.rule, access.email)}."
            )
        ),
        DividerBlock(),
        SectionBlock(
            text=_mrkdwn(
                "*Commands*\n"
                + "\n".join(f"• `{example}`: {meaning}" for example, meaning in _COMMAND_EXAMPLES)
            )
        ),
        SectionBlock(
            text=_mrkdwn("*Elsewhere in Slack*\n" + "\n".join(f"• {s}" for s in _OTHER_SURFACES))
        ),
        DividerBlock(),
        SectionBlock(text=_mrkdwn("*Your recent lookups*")),
    ]
    if facts is None or not facts.store_available:
        blocks.append(
            SectionBlock(text=_mrkdwn("The license store is unavailable right now. Try again."))
        )
    else:
        blocks.extend(_recent_lookup_blocks(facts.recent))
        blocks.append(DividerBlock())
        blocks.extend(home_follow_blocks(facts.follows, limit=FOLLOWS_SHOWN))
        if freshness is not None and any(kind.as_of for kind in freshness.kinds):
            blocks.append(freshness_footer(freshness))
        else:
            blocks.append(
                ContextBlock(
                    block_id=ids.FOOTER_BLOCK,
                    elements=[_mrkdwn("No export has been imported yet.")],
                )
            )
    return View(type="home", blocks=blocks[:HOME_BLOCKS_MAX])


def _refused_blocks(access: AccessDecision | None, access_request_url: str | None) -> list[Block]:
    reason = access.reason if access is not None else RefusalReason.IDENTITY_UNAVAILABLE
    refusal = build_refusal(access_request_url, reason)
    about = SectionBlock(
        text=_mrkdwn(
            f"{APP_NAME} answers questions about customer licenses and seat reconciliations "
            "for the sales organisation, on an allowlist."
        )
    )
    blocks: list[Block] = [about, *refusal.blocks]
    if not access_request_url and access_can_be_requested(reason):
        blocks.append(
            ContextBlock(
                elements=[_mrkdwn("Ask the team that runs this bot to add you to its allowlist.")]
            )
        )
    return blocks


# ---- a card shown in a modal -------------------------------------------------------------------


def _is_url_button(element: dict[str, Any]) -> bool:
    return element.get("type") == "button" and bool(element.get("url"))


def _modal_blocks(message: CardMessage) -> tuple[list[dict[str, Any]], bool]:
    """The card's blocks without buttons that act on a message: a modal has no message to
    reply to (no response_url), so Share and pick buttons would fail there. URL buttons stay."""
    kept: list[dict[str, Any]] = []
    dropped = False
    for block in message.blocks_as_dicts():
        if block.get("type") == "actions":
            elements = [e for e in block.get("elements", []) if _is_url_button(e)]
            dropped = dropped or len(elements) != len(block.get("elements", []))
            if elements:
                kept.append({**block, "elements": elements})
            continue
        accessory = block.get("accessory")
        if (
            isinstance(accessory, dict)
            and accessory.get("type") == "button"
            and not _is_url_button(accessory)
        ):
            block = {key: value for key, value in block.items() if key != "accessory"}
            dropped = True
        kept.append(block)
    return kept, dropped


def build_list_modal(message: CardMessage) -> View:
    """A list shown on top of a modal (all of a card's licenses): its buttons that act on a
    message dropped, as in `build_card_modal`; no further pages there (it says how many more)."""
    blocks, _ = _modal_blocks(message)
    return View(
        type="modal",
        title=PlainTextObject(text=clean_plain_text(MODAL_TITLE, 24)),
        close=PlainTextObject(text="Back"),
        blocks=blocks[:MODAL_BLOCKS_MAX],
    )


def build_card_modal(message: CardMessage, *, command: str, query: str) -> View:
    """A lookup's answer (card, pick list or notice) in a modal opened from App Home."""
    blocks, dropped = _modal_blocks(message)
    if dropped and not any(b.get("block_id") == ids.CARD_HEADER_BLOCK for b in blocks):
        # A pick list lost its buttons: say how to choose.
        hint = f"Run `{command} {escape_text(query, QUERY_MAX)}` in Slack to pick one."
        blocks.append(ContextBlock(elements=[_mrkdwn(hint)]).to_dict())
    return View(
        type="modal",
        callback_id=ids.LOOKUP_RESULT_MODAL,
        title=PlainTextObject(text=clean_plain_text(MODAL_TITLE, 24)),
        close=PlainTextObject(text="Close"),
        blocks=blocks[:MODAL_BLOCKS_MAX],
    )
