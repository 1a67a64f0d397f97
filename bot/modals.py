"""Pure view builders for the shortcut modals: plain values in, `slack_sdk` views out.

Two modals share one form (DESIGN.md: "Post license card" and "Look up a license"):
- the message shortcut's modal posts a card into the thread it was opened on;
- the global shortcut's modal looks a customer up, then shows the card in the modal with
  Slack's own conversation picker to send it on.

The customer is an external select served by `block_suggestion` (the same search as
`/license`); its input dispatches `block_actions`, so picking a customer refills the modal with
that customer's licenses to feature. Option values are capped at 150 characters by Slack while
customer keys reach 300, so long keys travel as a prefix plus a digest (`encode_option_value`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    ConversationFilter,
    ConversationSelectElement,
    ExternalDataSelectElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot import ids
from bot.cards import (
    CUSTOMER_STANDING_WORDS,
    NOTE_MAX,
    CardMessage,
    clean_plain_text,
    format_date,
    plan_label,
    plural,
    seats_words,
)
from bot.records import CustomerChoice, CustomerStanding, LicenseOverview, RankedLicense

MODAL_TITLE = "CustomersDot"  # at most 24 characters
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
OPTIONS_MAX = 100
PRIVATE_METADATA_MAX = 3000
ERROR_TEXT_MAX = 200  # a response_action "errors" message sits under one input; keep it short
# Where a long key's prefix ends; the digest tells keys with one prefix apart.
_LONG_KEY_MARK = "~"
_DIGEST_LENGTH = 32
LONG_KEY_PREFIX_LENGTH = OPTION_VALUE_MAX - len(_LONG_KEY_MARK) * 2 - _DIGEST_LENGTH
# One or two characters start suggestions: even "HP" or "3M" are customers.
CUSTOMER_MIN_QUERY_LENGTH = 2
_MODAL_BLOCKS_MAX = 100


# ---------------------------------------------------------------------------------------------
# Option values: customer keys within Slack's 150 characters


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:_DIGEST_LENGTH]


def encode_option_value(customer_key: str) -> str:
    """The key itself when it fits; else `~<prefix>~<digest>`. Keys never start with `~`
    (they are `sf:<id>` or `name:<normalised name>`), so the two forms cannot be confused."""
    if len(customer_key) <= OPTION_VALUE_MAX and not customer_key.startswith(_LONG_KEY_MARK):
        return customer_key
    prefix = customer_key[:LONG_KEY_PREFIX_LENGTH]
    return f"{_LONG_KEY_MARK}{prefix}{_LONG_KEY_MARK}{_digest(customer_key)}"


@dataclass(frozen=True)
class LongKeyReference:
    """A long key as an option value carries it: find keys with `prefix`, keep `digest`'s."""

    prefix: str
    digest: str

    def matches(self, customer_key: str) -> bool:
        return customer_key.startswith(self.prefix) and _digest(customer_key) == self.digest


def decode_option_value(value: str) -> str | LongKeyReference:
    """The customer key, or the reference a long key was encoded as."""
    if not value.startswith(_LONG_KEY_MARK):
        return value
    body = value[len(_LONG_KEY_MARK) :]
    if len(body) <= _DIGEST_LENGTH:
        return value  # too short to be ours (a forged value): looked up, it finds nothing
    prefix, mark, digest = (
        body[: -_DIGEST_LENGTH - 1],
        body[-_DIGEST_LENGTH - 1],
        body[-_DIGEST_LENGTH:],
    )
    if mark != _LONG_KEY_MARK or len(digest) != _DIGEST_LENGTH:
        return value  # not ours: looked up as a key, it finds nothing
    return LongKeyReference(prefix=prefix, digest=digest)


# ---------------------------------------------------------------------------------------------
# Where a modal posts: private_metadata


@dataclass(frozen=True)
class ModalContext:
    """What a modal must remember between opening and submission (in private_metadata).

    `channel_id`/`thread_ts`: the thread the message shortcut was used in. `customer` and
    `license_id`: the looked-up card the global shortcut's result modal sends on.
    """

    channel_id: str | None = None
    thread_ts: str | None = None
    customer: str | None = None  # an option value (see encode_option_value)
    license_id: int | None = None

    def encode(self) -> str:
        fields = {
            "c": self.channel_id,
            "t": self.thread_ts,
            "k": self.customer,
            "l": self.license_id,
        }
        text = json.dumps({k: v for k, v in fields.items() if v is not None}, separators=(",", ":"))
        if len(text) > PRIVATE_METADATA_MAX:  # by construction it cannot be: ids are short
            raise ValueError("private_metadata would exceed Slack's 3000 characters")
        return text

    @classmethod
    def decode(cls, text: str | None) -> ModalContext:
        try:
            fields = json.loads(text or "{}")
        except ValueError:
            return cls()
        if not isinstance(fields, dict):
            return cls()

        def text_field(name: str) -> str | None:
            value = fields.get(name)
            return value if isinstance(value, str) and value else None

        license_id = fields.get("l")
        return cls(
            channel_id=text_field("c"),
            thread_ts=text_field("t"),
            customer=text_field("k"),
            license_id=license_id if isinstance(license_id, int) else None,
        )


# ---------------------------------------------------------------------------------------------
# Options


def customer_option_text(choice: CustomerChoice) -> str:
    """`Initech · Premium, 120 seats` (or `Initech · 2 licenses, expired, in grace period`) in
    at most 75 characters, the name cut first."""
    if choice.standing is CustomerStanding.ACTIVE and choice.active_plan:
        detail = plan_label(choice.active_plan)
        if choice.active_user_count is not None:
            detail += f", {seats_words(choice.active_user_count)}"
    else:
        detail = CUSTOMER_STANDING_WORDS[choice.standing]
        if choice.license_count:
            detail = f"{plural(choice.license_count, 'license')}, {detail}"
    detail = clean_plain_text(detail, 40)
    name = clean_plain_text(choice.name, OPTION_TEXT_MAX - len(detail) - 3) or "Customer"
    return f"{name} · {detail}"


def customer_option(choice: CustomerChoice) -> Option:
    return Option(text=customer_option_text(choice), value=encode_option_value(choice.key))


def customer_options(choices: Sequence[CustomerChoice]) -> list[dict[str, Any]]:
    """block_suggestion's `options`, as `ack(options=...)` takes them."""
    return [customer_option(choice).to_dict() for choice in choices[:OPTIONS_MAX]]


def license_option_text(ranked: RankedLicense) -> str:
    license = ranked.license
    end = format_date(license.expires_at) if license.expires_at else "no expiry"
    parts = [
        f"#{license.id} {plan_label(license.plan)}",
        seats_words(license.user_count),
        f"{format_date(license.starts_at)} → {end}",
        ranked.standing.value.replace("_", " "),
    ]
    return clean_plain_text(" · ".join(parts), OPTION_TEXT_MAX)


def license_options(overview: LicenseOverview) -> list[Option]:
    """The paid licenses a card can feature, the lead first; nothing to pick when one."""
    ranked = [*([overview.lead] if overview.lead else []), *overview.others]
    if len(ranked) < 2:
        return []
    return [
        Option(text=license_option_text(item), value=str(item.license.id))
        for item in ranked[:OPTIONS_MAX]
    ]


# ---------------------------------------------------------------------------------------------
# Modals


def _customer_input(initial: CustomerChoice | None) -> InputBlock:
    select = ExternalDataSelectElement(
        action_id=ids.CUSTOMER_SELECT_ACTION,
        placeholder=PlainTextObject(text="Company, email, @domain, A-S…, license id"),
        min_query_length=CUSTOMER_MIN_QUERY_LENGTH,
        initial_option=customer_option(initial) if initial else None,
    )
    return InputBlock(
        block_id=ids.CUSTOMER_BLOCK,
        label=PlainTextObject(text="Customer"),
        element=select,
        # Picking a customer sends block_actions, so the modal can offer its licenses.
        dispatch_action=True,
        hint=PlainTextObject(text="Search as with /license: name, email, domain, subscription"),
    )


def _license_input(options: Sequence[Option], selected: int | None) -> InputBlock:
    initial = next((o for o in options if selected is not None and o.value == str(selected)), None)
    return InputBlock(
        block_id=ids.LICENSE_BLOCK,
        label=PlainTextObject(text="License to feature"),
        element=StaticSelectElement(
            action_id=ids.LICENSE_SELECT_ACTION,
            placeholder=PlainTextObject(text="The active license"),
            options=list(options),
            initial_option=initial,
        ),
        optional=True,
    )


def _note_input(note: str | None) -> InputBlock:
    return InputBlock(
        block_id=ids.NOTE_BLOCK,
        label=PlainTextObject(text="Note"),
        element=PlainTextInputElement(
            action_id=ids.NOTE_ACTION,
            multiline=True,
            max_length=NOTE_MAX,
            initial_value=note or None,
            placeholder=PlainTextObject(text="Why you're sharing this (optional)"),
        ),
        optional=True,
    )


def _form_blocks(
    initial: CustomerChoice | None,
    licenses: Sequence[Option],
    *,
    selected_license: int | None,
    note: str | None,
    with_note: bool,
) -> list[Block]:
    blocks: list[Block] = [_customer_input(initial)]
    if licenses:
        blocks.append(_license_input(licenses, selected_license))
    if with_note:
        blocks.append(_note_input(note))
    return blocks


def build_post_card_modal(
    context: ModalContext,
    *,
    suggested: CustomerChoice | None = None,
    licenses: Sequence[Option] = (),
    selected_license: int | None = None,
    note: str | None = None,
    external_id: str | None = None,
) -> View:
    """The message shortcut's modal: pick a customer (suggested from the message), a license
    to feature and a note; submitting posts the card as a reply in the thread."""
    blocks = _form_blocks(
        suggested, licenses, selected_license=selected_license, note=note, with_note=True
    )
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="The card is posted in this thread, credited to you. "
                    "Contact emails stay out of it unless your workspace shares them."
                )
            ]
        )
    )
    return View(
        type="modal",
        callback_id=ids.POST_CARD_MODAL,
        title=PlainTextObject(text=MODAL_TITLE),
        submit=PlainTextObject(text="Post"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=context.encode(),
        external_id=external_id,
        blocks=blocks,
    )


def build_lookup_modal(
    *,
    selected: CustomerChoice | None = None,
    licenses: Sequence[Option] = (),
    selected_license: int | None = None,
) -> View:
    """The global shortcut's modal: the same customer search; the card shows in the modal."""
    return View(
        type="modal",
        callback_id=ids.LOOKUP_MODAL,
        title=PlainTextObject(text=MODAL_TITLE),
        submit=PlainTextObject(text="Look up"),
        close=PlainTextObject(text="Cancel"),
        blocks=_form_blocks(
            selected, licenses, selected_license=selected_license, note=None, with_note=False
        ),
    )


def build_lookup_result_modal(card: CardMessage, context: ModalContext) -> View:
    """The card, then Slack's conversation picker: submitting sends the card there."""
    picker = ConversationSelectElement(
        action_id=ids.CONVERSATION_SELECT_ACTION,
        placeholder=PlainTextObject(text="A channel or thread's channel"),
        default_to_current_conversation=True,
        # Slack's picker already hides Slack Connect channels; the bot checks again on send.
        filter=ConversationFilter(
            include=["public", "private", "im"],
            exclude_external_shared_channels=True,
            exclude_bot_users=True,
        ),
    )
    room = _MODAL_BLOCKS_MAX - 2
    blocks: list[Block] = [*card.blocks[:room]]
    blocks.append(
        InputBlock(
            block_id=ids.CONVERSATION_BLOCK,
            label=PlainTextObject(text="Send to"),
            element=picker,
            hint=PlainTextObject(
                text="Contact emails stay out of cards sent to conversations "
                "unless your workspace shares them."
            ),
        )
    )
    blocks.append(_note_input(None))
    return View(
        type="modal",
        callback_id=ids.LOOKUP_RESULT_MODAL,
        title=PlainTextObject(text=MODAL_TITLE),
        submit=PlainTextObject(text="Send"),
        close=PlainTextObject(text="Done"),
        private_metadata=context.encode(),
        blocks=blocks,
    )


def build_message_modal(text: str, *, external_id: str | None = None) -> View:
    """A modal that only says something (why the bot can't post here, or that it did).

    `text` is mrkdwn the bot wrote (it may hold `<#C123>`); nothing a user typed goes in it.
    """
    return View(
        type="modal",
        title=PlainTextObject(text=MODAL_TITLE),
        close=PlainTextObject(text="Close"),
        external_id=external_id,
        blocks=[SectionBlock(text=MarkdownTextObject(text=text[:2900]))],
    )


def error_text(text: str) -> str:
    """A `response_action: errors` message: plain words under the input, kept short (it is
    plain text, so mrkdwn backticks would show as they are)."""
    return clean_plain_text(text.replace("`", ""), ERROR_TEXT_MAX)
