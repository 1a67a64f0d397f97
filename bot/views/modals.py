"""Pure view builders for the shortcut modals: plain values in, `slack_sdk` views out.

Two modals share one form (docs/ARCHITECTURE.md: Surfaces; README: What it does):
- the message shortcut's modal posts a card into the thread it was opened on;
- the global shortcut's modal looks a customer up, then shows the card in the modal with
  Slack's own conversation picker to send it on.

The customer is an external select served by `block_suggestion` (the same search as
`/license`); its input dispatches `block_actions`, so picking a customer refills the modal with
that customer's licenses to feature. Option values are capped at 150 characters by Slack while
customer keys reach 300, so long keys travel as a prefix plus a digest (`encode_option_value`).
What the user entered comes back through `ModalForm.read` (junk in a block is named, not
guessed), and `refilled_modal` rebuilds the modal around the customer picked: the handlers
only call these.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
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
from bot.records import CustomerChoice, LicenseOverview, RankedLicense
from bot.views.blocks import (
    NOTE_MAX,
    CardMessage,
    clean_plain_text,
    format_date,
    plan_label,
    seats_words,
)

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
    if mark != _LONG_KEY_MARK or len(prefix) != LONG_KEY_PREFIX_LENGTH:
        # Not ours (every long key's prefix has exactly this length): looked up as a key, it
        # finds nothing. A shorter prefix would make the lookup read and hash every key.
        return value
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
    """`Initech, LLC · initech.example · A00009001` in at most 75 characters, the name cut
    first. The name and what a person recognises to tell it apart (the contact's email domain,
    the Zuora account number, else a subscription), never plan or seats: type-ahead answers 20
    customers per counted request, and the terms of that many customers an hour would be a
    scraper's dream."""
    account = next(iter(choice.account_numbers), None) or next(
        iter(choice.subscription_names), None
    )
    details = [
        clean_plain_text(detail, 30)
        for detail in (choice.email_domain, account)
        if detail and detail.strip()
    ]
    detail = " · ".join(detail for detail in details if detail)
    if not detail:
        return clean_plain_text(choice.name, OPTION_TEXT_MAX) or "Customer"
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
        hint=PlainTextObject(
            text="Posted with the card. Email addresses in it are hidden, as the card's are, "
            "unless your workspace shares them."
        ),
    )


def _follow_thread_input(checked: bool) -> InputBlock:
    option = Option(
        value=ids.FOLLOW_THREAD_OPTION,
        text=PlainTextObject(text="Keep this thread updated"),
        description=PlainTextObject(
            text="Renewals, trials, expiry, reconciliations, seats: posted here"
        ),
    )
    return InputBlock(
        block_id=ids.FOLLOW_THREAD_BLOCK,
        label=PlainTextObject(text="Follow"),
        element=CheckboxesElement(
            action_id=ids.FOLLOW_THREAD_ACTION,
            options=[option],
            initial_options=[option] if checked else None,
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
    follow_thread: bool = False,
) -> View:
    """The message shortcut's modal: pick a customer (suggested from the message), a license
    to feature, a note, and whether to keep the thread updated (follow the customer there);
    submitting posts the card as a reply in the thread."""
    blocks = _form_blocks(
        suggested, licenses, selected_license=selected_license, note=note, with_note=True
    )
    blocks.append(_follow_thread_input(follow_thread))
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


# The inputs of the modals, in the order a problem with them is reported.
FORM_BLOCKS = (
    ids.CUSTOMER_BLOCK,
    ids.LICENSE_BLOCK,
    ids.NOTE_BLOCK,
    ids.CONVERSATION_BLOCK,
    ids.FOLLOW_THREAD_BLOCK,
)
UNREADABLE_INPUT = "This could not be read. Choose again, or close the form and start over."
POST_CARD_BLOCKS = (ids.CUSTOMER_BLOCK, ids.LICENSE_BLOCK, ids.NOTE_BLOCK, ids.FOLLOW_THREAD_BLOCK)
LOOKUP_BLOCKS = (ids.CUSTOMER_BLOCK, ids.LICENSE_BLOCK)
SEND_BLOCKS = (ids.CONVERSATION_BLOCK, ids.NOTE_BLOCK)


@dataclass(frozen=True)
class ModalForm:
    """What the user entered in a shortcut modal, read from `view.state.values`."""

    customer: str | None = None  # the external select's option value
    license_id: int | None = None
    note: str | None = None
    conversation: str | None = None
    follow_thread: bool = False  # the post-card modal's "Keep this thread updated"
    # The first of the modal's blocks whose value is not what Slack sends: answered with the
    # modal's own error on that block rather than a guess (or a 500).
    unreadable_block: str | None = None

    @classmethod
    def read(cls, view: dict[str, Any], *, blocks: tuple[str, ...] = FORM_BLOCKS) -> ModalForm:
        """The form, reading only `blocks` (the ones this modal has)."""
        unreadable: list[str] = []
        state = view.get("state")
        values = state.get("values") if isinstance(state, dict) else None
        if (state is not None and not isinstance(state, dict)) or (
            values is not None and not isinstance(values, dict)
        ):
            unreadable.append(blocks[0])  # nothing in the form can be read
        values = values if isinstance(values, dict) else {}

        def element(block_id: str, action_id: str) -> dict[str, Any]:
            if block_id not in blocks:
                return {}
            block = values.get(block_id)
            found = block.get(action_id) if isinstance(block, dict) else None
            if (block is not None and not isinstance(block, dict)) or (
                found is not None and not isinstance(found, dict)
            ):
                unreadable.append(block_id)
            return found if isinstance(found, dict) else {}

        def text(block_id: str, action_id: str, key: str) -> str | None:
            value = element(block_id, action_id).get(key)
            if value is not None and not isinstance(value, str):
                unreadable.append(block_id)
            return value if isinstance(value, str) and value else None

        def selected(block_id: str, action_id: str) -> str | None:
            option = element(block_id, action_id).get("selected_option")
            value = option.get("value") if isinstance(option, dict) else None
            if option is not None and not (isinstance(value, str) and value):
                unreadable.append(block_id)
            return value if isinstance(value, str) and value else None

        customer = selected(ids.CUSTOMER_BLOCK, ids.CUSTOMER_SELECT_ACTION)
        license_value = selected(ids.LICENSE_BLOCK, ids.LICENSE_SELECT_ACTION)
        license_id = None
        if license_value is not None:
            # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
            if license_value.isascii() and license_value.isdigit():
                license_id = int(license_value[: ids.LICENSE_ID_DIGITS_MAX])
            if len(license_value) > ids.LICENSE_ID_DIGITS_MAX or license_id is None:
                unreadable.append(ids.LICENSE_BLOCK)
        note = text(ids.NOTE_BLOCK, ids.NOTE_ACTION, "value")
        conversation = text(
            ids.CONVERSATION_BLOCK, ids.CONVERSATION_SELECT_ACTION, "selected_conversation"
        )
        checked = element(ids.FOLLOW_THREAD_BLOCK, ids.FOLLOW_THREAD_ACTION).get("selected_options")
        if checked is not None and not isinstance(checked, list):
            unreadable.append(ids.FOLLOW_THREAD_BLOCK)
        follow_thread = isinstance(checked, list) and any(
            isinstance(option, dict) and option.get("value") == ids.FOLLOW_THREAD_OPTION
            for option in checked
        )
        return cls(
            customer=customer,
            license_id=license_id,
            note=(note.strip() or None) if note else None,
            conversation=conversation,
            follow_thread=follow_thread,
            unreadable_block=min(unreadable, key=blocks.index) if unreadable else None,
        )


def refilled_modal(
    view: dict[str, Any], choice: CustomerChoice, overview: LicenseOverview
) -> View | None:
    """The modal the user is in (`view` as Slack sends it back), rebuilt around the customer
    they picked, with that customer's licenses to choose from (note kept); None for a view
    that is not one of the modals with a customer select."""
    licenses = license_options(overview)
    callback_id = view.get("callback_id")
    if callback_id == ids.POST_CARD_MODAL:
        form = ModalForm.read(view)
        return build_post_card_modal(
            ModalContext.decode(view.get("private_metadata")),
            suggested=choice,
            licenses=licenses,
            note=form.note,
            follow_thread=form.follow_thread,
        )
    if callback_id == ids.LOOKUP_MODAL:
        return build_lookup_modal(selected=choice, licenses=licenses)
    return None
