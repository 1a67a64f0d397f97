"""The low-level pieces every Block Kit card is built from: Slack's limits, `CardMessage`,
text safety, words for values, and the shared section/context/header helpers.

Pure: plain values in, `slack_sdk.models.blocks` objects out; no session, no client, no clock.
Everything that comes from a user's query or from imported data reaches Slack through
`escape_text` (mrkdwn) or `clean_plain_text` (plain_text), so a company called `<!channel>` stays
a company name.

Readers are salespeople on phones: the answer comes first, in words rather than codes, in
short lines; details follow in two-column fields that stack on a narrow screen.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypedDict
from urllib.parse import quote

from slack_sdk.models.basic_objects import EMPTY_ALLOWED_TYPE_AND_PROPERTY_LIST, JsonObject
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

from bot import ids, money
from bot.records import (
    CustomerStanding,
    LicenseRecord,
    Standing,
)

# Slack's limits (https://docs.slack.dev/reference/block-kit/blocks): some are not checked by
# slack_sdk's to_dict(), so the builders keep under them by construction.
# Every card stays far under 50 blocks and 2,000 characters per section field: the tests
# (tests/helpers/cards.py's check_message, tests/app/test_hostile_input.py) check both on every card.
HEADER_TEXT_MAX = 150
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
CONTEXT_ELEMENTS_MAX = 10
CONTEXT_TEXT_MAX = 3000  # characters of one context element's text

# How much of each user-controlled value is worth showing; long values are data errors or
# attacks, and either way a phone screen has no room for them.
NAME_MAX = 200
QUERY_MAX = 100
CONTACT_NAME_MAX = 100
EMAIL_MAX = 254
PLAN_MAX = 40
SHORT_CODE_MAX = 40  # subscription names, GitLab versions, currency codes, statuses
HOSTNAME_MAX = 100
REASON_MAX = 300
FALLBACK_TEXT_MAX = 300
NOTE_MAX = 500  # the shortcut modal's note input allows this many characters
ID_IN_URL_MAX = 64  # Zuora/Salesforce ids are 18-32 characters; longer ones are bad data

GRACE_WORDS = "in grace"
ELLIPSIS = "…"
ZERO_WIDTH_JOINER = "\u200d"
# Slack turns these into notifications for everyone in a channel when it parses mentions.
_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone|group)\b)", re.IGNORECASE)
_WHITESPACE = re.compile(r"[\s\x00-\x1f\x7f]+")
# Characters that reorder or hide text: bidi embeddings, overrides and isolates, zero-width space,
# word joiner, BOM. In a name they spoof: "Ini\u200btech" shows as a second, identical
# "Initech"; U+202E shows a name reversed. Dropped from every shown value (ZWJ and ZWNJ stay:
# Persian and Indic names need them).
_SPOOFING = dict.fromkeys(
    map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u2060\ufeff")
)
# mrkdwn's formatting markers in data ("*Active license*" as a company name would read as the
# card's own words). Slack has no escape for them: data shows look-alikes that format nothing.
_MARKER_LOOKALIKES = str.maketrans({"*": "∗", "_": "＿", "~": "∼", "`": "ˋ"})

_PLAN_NAMES = {
    "free": "Free",
    "starter": "Starter",
    "premium": "Premium",
    "ultimate": "Ultimate",
    "bronze": "Bronze",
    "silver": "Silver",
    "gold": "Gold",
}
_LICENSE_TYPE_NAMES = {"cloud": "Cloud", "offline_cloud": "Offline cloud", "legacy": "Legacy"}
STANDING_WORDS = {
    Standing.ACTIVE: "active",
    Standing.IN_GRACE: GRACE_WORDS,
    Standing.EXPIRED: "expired",
    Standing.UPCOMING: "upcoming",
    Standing.SUPERSEDED: "superseded",
}
# A customer's standing (bot.licensing.customer_standing) in words, the same on every surface:
# the card's first line, pick-list lines, modal options.
CUSTOMER_STANDING_WORDS = {
    CustomerStanding.ACTIVE: "active license",
    CustomerStanding.IN_GRACE: "expired, in grace period",
    CustomerStanding.EXPIRED: "no active license",
    CustomerStanding.UPCOMING: "upcoming license",
    CustomerStanding.TRIAL_ONLY: "no paid license yet",
    CustomerStanding.NONE: "no licenses",
}


class MessagePayload(TypedDict):
    """A message as Slack's methods take it (chat.postMessage, a response_url, ack)."""

    text: str
    blocks: list[dict[str, Any]]


@dataclass(frozen=True)
class CardMessage:
    """A Slack message: `text` is the notification and screen-reader fallback of `blocks`."""

    text: str
    blocks: list[Block]

    def blocks_as_dicts(self) -> list[dict[str, Any]]:
        return [block_dict(block) for block in self.blocks]

    def to_dict(self) -> MessagePayload:
        return {"text": self.text, "blocks": self.blocks_as_dicts()}


def block_dict(element: JsonObject) -> dict[str, Any]:
    """`element.to_dict()`: the same dict, after the same validators, each raising the same
    SlackObjectFormationError. slack_sdk's to_dict reflects on every object each time (dir, the
    attribute set, sorting, a closure per call), a third of a lookup's own CPU time; this reads
    each class's validators and attributes once. A class that overrides how it serialises (an
    option, a rich-text element) is serialised by its own to_dict.
    (tests/views/test_blocks.py compares the two on every kind of card.)"""
    kind = type(element)
    if kind is MarkdownTextObject or kind is PlainTextObject:
        # Most of a card's objects: no validators, and plain values (see _text_object_dict).
        text_dict = _text_object_dict(element)  # type: ignore[arg-type]
        if text_dict is not None:
            return text_dict
    plan = _SERIALISATION_PLANS.get(type(element))
    if plan is None:
        plan = _serialisation_plan(element)
        _SERIALISATION_PLANS[type(element)] = plan
    if plan is _OWN_TO_DICT:
        return {key: _dict_compatible(value) for key, value in element.to_dict().items()}
    validators, keys = plan
    for validator in validators:
        validator(element)
    dictionary: dict[str, Any] = {}
    for key in keys:
        value = getattr(element, key, None)
        if value is None:
            continue
        kind = type(value)
        if kind is str or kind is bool or kind is int:  # most values: kept as they are
            if value == "" and (getattr(element, "type", None), key) not in _MAY_BE_EMPTY:
                continue
            dictionary[key] = value
        elif hasattr(value, "__len__") and len(value) == 0:
            if (getattr(element, "type", None), key) in _MAY_BE_EMPTY:
                dictionary[key] = _dict_compatible(value)
        else:
            dictionary[key] = _dict_compatible(value)
    return dictionary


def _text_object_dict(element: MarkdownTextObject | PlainTextObject) -> dict[str, Any] | None:
    """A text object's dict as the general path makes it (its attributes emoji, text, type and
    verbatim, sorted; None ones left out), when its text is a non-empty str and its flags
    bools or None; else None, for the general path."""
    text = element.text
    emoji = element.emoji
    verbatim = getattr(element, "verbatim", None)
    if (
        type(text) is not str
        or not text
        or (emoji is not None and type(emoji) is not bool)
        or (verbatim is not None and type(verbatim) is not bool)
        or type(element.type) is not str
        or not element.type
    ):
        return None
    dictionary: dict[str, Any] = {"emoji": emoji} if emoji is not None else {}
    dictionary["text"] = text
    dictionary["type"] = element.type
    if verbatim is not None:
        dictionary["verbatim"] = verbatim
    return dictionary


# (the validators, as the class's functions, and the attribute names), both sorted as slack_sdk's
# to_dict walks them.
_SerialisationPlan = tuple[tuple[Callable[[JsonObject], None], ...], tuple[str, ...]]
_OWN_TO_DICT: _SerialisationPlan = ((), ())
_SERIALISATION_PLANS: dict[type, _SerialisationPlan] = {}
# slack_sdk's exceptions to "an empty list is left out" (EMPTY_ALLOWED_TYPE_AND_PROPERTY_LIST).
_MAY_BE_EMPTY = frozenset(
    (allowed["type"], allowed["property"]) for allowed in EMPTY_ALLOWED_TYPE_AND_PROPERTY_LIST
)


def _serialisation_plan(element: JsonObject) -> _SerialisationPlan:
    cls = type(element)
    if any(
        getattr(cls, method) is not getattr(JsonObject, method)
        for method in (
            "to_dict",
            "validate_json",
            "get_non_null_attributes",
            "get_object_attribute",
        )
    ):
        return _OWN_TO_DICT
    validators = tuple(
        getattr(cls, name)
        for name in sorted(dir(cls))
        if not name.startswith("__") and _is_validator(getattr(cls, name, None))
    )
    # Every Block Kit class's attribute set is a constant (a class set, or a property returning
    # its parent's set and its own names).
    return validators, tuple(sorted(element.attributes))


def _is_validator(attribute: object) -> bool:
    return callable(attribute) and hasattr(attribute, "validator")


def _dict_compatible(value: object) -> Any:
    # slack_sdk's to_dict_compatible: lists and tuples become lists, objects their dicts.
    if isinstance(value, (list, tuple)):
        return [_dict_compatible(item) for item in value]
    if isinstance(value, JsonObject):
        return block_dict(value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return {key: _dict_compatible(item) for key, item in to_dict().items()}
    return value


def truncate(text: str, max_length: int) -> str:
    if len(text) <= max_length:
        return text
    return text[: max(max_length - 1, 0)].rstrip() + ELLIPSIS


def _neutralise_broadcasts(text: str) -> str:
    return _BROADCAST.sub("@" + ZERO_WIDTH_JOINER, text)


def escape_text(text: object, max_length: int = NAME_MAX, *, markers: bool = True) -> str:
    """User or imported text, safe to embed in mrkdwn.

    One line (newlines and control characters become spaces), without the characters that
    reorder or hide text, at most `max_length` characters before escaping, `&`, `<`, `>`
    escaped so Slack never reads a mention or a link into it, `@channel`-style broadcasts
    broken with a zero-width joiner, and (unless `markers=False`: an email address, whose
    underscores format nothing inside a word) mrkdwn's markers shown as look-alikes.
    """
    if type(text) is str and len(text) <= max_length and _NOTHING_TO_ESCAPE.fullmatch(text):
        return text  # most names, ids and dates: every step below would leave them as they are
    return _escape(str(text), max_length, markers=markers)


# Letters, digits and punctuation that is no mrkdwn marker, entity or mention, in words parted
# by single spaces: text escape_text returns unchanged. Anything else takes every step.
_PLAIN_CHARACTER = r"(?:[^\W_]|[.,:;'()/#+=%$!?\-])"
_NOTHING_TO_ESCAPE = re.compile(rf"{_PLAIN_CHARACTER}+(?: {_PLAIN_CHARACTER}+)*")


def _escape(text: str, max_length: int, *, markers: bool) -> str:
    single_line = _WHITESPACE.sub(" ", text.translate(_SPOOFING)).strip()
    shortened = truncate(single_line, max_length)
    if markers:
        shortened = shortened.translate(_MARKER_LOOKALIKES)
    escaped = shortened.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _neutralise_broadcasts(escaped)


def clean_plain_text(text: object, max_length: int) -> str:
    """User or imported text for a plain_text object (headers, buttons).

    plain_text is never parsed for mentions or links, so `<` stays as is (an entity would show
    literally); broadcasts are still broken in case a client ever parses them.
    """
    single_line = _WHITESPACE.sub(" ", str(text).translate(_SPOOFING)).strip()
    return _neutralise_broadcasts(truncate(single_line, max_length))


def _mrkdwn_url(url: str) -> str:
    # Links are built from settings and quoted ids, but a `|` or `>` would still end the link
    # early; percent-encoding them keeps the URL one token, and `&` is escaped as Slack expects.
    for raw, encoded in (("|", "%7C"), ("<", "%3C"), (">", "%3E"), (" ", "%20")):
        url = url.replace(raw, encoded)
    return url.replace("&", "&amp;")


def link(url: str, label: object, max_length: int = NAME_MAX, *, markers: bool = True) -> str:
    """`<url|label>` with the label escaped; `|` in a label would start a second label."""
    safe_label = escape_text(label, max_length, markers=markers).replace("|", "¦")
    return f"<{_mrkdwn_url(url)}|{safe_label}>"


def mailto_link(email: str) -> str:
    if len(email) <= EMAIL_MAX and _PLAIN_EMAIL.fullmatch(email):
        # Most addresses: quoting, escaping and the URL's own escapes would leave them as they
        # are; only a broadcast-like domain (`bob@here.example`) is still broken in the label.
        return f"<mailto:{email}|{_neutralise_broadcasts(email)}>"
    return _escaped_mailto_link(email)


# An address that quote(safe="@.+-_"), escape_text(markers=False) and _mrkdwn_url leave as it is.
_PLAIN_EMAIL = re.compile(r"[A-Za-z0-9._+\-]+@[A-Za-z0-9._+\-]+")


def _escaped_mailto_link(email: str) -> str:
    address = truncate(_WHITESPACE.sub("", email), EMAIL_MAX)
    return link("mailto:" + quote(address, safe="@.+-_"), address, EMAIL_MAX, markers=False)


def usable_id(value: str | None) -> str | None:
    """An external id fit for a URL, or None when missing or clearly not an id."""
    if value is None:
        return None
    stripped = value.strip()
    if not stripped or len(stripped) > ID_IN_URL_MAX:
        return None
    return stripped


def mrkdwn(text: str) -> MarkdownTextObject:
    # verbatim: no auto-linking of bare hostnames or channel names from imported data; our own
    # `<url|label>` links are still parsed.
    return MarkdownTextObject(text=text, verbatim=True)


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"


# A card names a plan several times, and the store holds few distinct plan codes.
@functools.lru_cache(maxsize=256)
def plan_label(plan: str | None) -> str:
    """`premium` -> Premium, `gitlab_com_premium` -> GitLab.com Premium; unknown plans readable."""
    if not plan or not plan.strip():
        # Older CustomersDot licenses carry neither a plan code nor a plan name.
        return "Plan not recorded"
    code = plan.strip().lower().replace("-", "_").replace(" ", "_")
    prefix = ""
    if code.startswith("gitlab_com_"):
        prefix, code = "GitLab.com ", code.removeprefix("gitlab_com_")
    words = [word for word in code.split("_") if word]
    if not words:
        return "Unknown plan"
    named = _PLAN_NAMES.get(words[0], words[0].capitalize())
    rest = " ".join(words[1:])
    return prefix + named + (f" {rest}" if rest else "")


def license_type_label(license_type: str | None) -> str:
    if not license_type:
        return "Unknown type"
    return _LICENSE_TYPE_NAMES.get(license_type.strip().lower(), license_type.strip())


def span_words(days: int) -> str:
    """A positive number of days in words: 18 days, 2 months, 3 years."""
    if days < 45:
        return plural(days, "day")
    if days < 548:
        return plural(round(days / 30.4375), "month")
    return plural(round(days / 365.25), "year")


def ago_words(days: int) -> str:
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    return f"{span_words(days)} ago"


def relative_dates(license: LicenseRecord, standing: Standing, today: date) -> str:
    """Where a license stands in time: "expires in 18 days", "expired 3 days ago, in grace"."""
    if license.starts_at is not None and license.starts_at > today:
        days = (license.starts_at - today).days
        return "starts tomorrow" if days == 1 else f"starts in {span_words(days)}"
    if license.expires_at is None:
        return "no expiry"
    days_left = (license.expires_at - today).days
    if days_left == 0:
        return "expires today"
    if days_left == 1:
        return "expires tomorrow"
    if days_left > 0:
        return f"expires in {span_words(days_left)}"
    words = f"expired {ago_words(-days_left)}"
    return f"{words}, {GRACE_WORDS}" if standing is Standing.IN_GRACE else words


def seats_words(user_count: int | None) -> str:
    return "seats unknown" if user_count is None else plural(user_count, "seat")


def license_counts_words(paid_count: int, trial_count: int) -> str:
    """`3 licenses · 2 trials`: the one way every surface counts a customer's licenses (the
    card's first line, pick lists, unfurls), from bot.licensing's overview."""
    words = plural(paid_count, "license")
    if trial_count:
        words += f" · {plural(trial_count, 'trial')}"
    return words


def format_date(value: date | None) -> str:
    return value.isoformat() if value is not None else "?"


def format_timestamp(value: datetime | None) -> str:
    """`2025-02-27 14:03 UTC`; naive timestamps are UTC (docs/import-formats.md)."""
    if value is None:
        return "unknown"
    utc = as_utc(value)
    if utc.year < 1000:  # strftime's %Y does not pad such a year
        return utc.strftime("%Y-%m-%d %H:%M UTC")
    # strftime's format, without its cost (four of these on a card).
    return f"{utc.year}-{utc.month:02}-{utc.day:02} {utc.hour:02}:{utc.minute:02} UTC"


def format_money(amount_minor: int, currency: str | None) -> str:
    """Exact minor units to words (bot/money.py); an odd currency code is mrkdwn-escaped."""
    return money.format_money(
        amount_minor, currency, escape=lambda code: escape_text(code, SHORT_CODE_MAX)
    )


def sentence(text: str | None, max_length: int = REASON_MAX) -> str:
    """A skip reason or error message in plain words: `no_seat_change` -> No seat change."""
    if not text or not text.strip():
        return ""
    raw = text.strip()
    if " " not in raw and "_" in raw:
        raw = raw.replace("_", " ")
    raw = raw[0].upper() + raw[1:]
    return escape_text(raw, max_length)


def header_block(text: str) -> HeaderBlock:
    return HeaderBlock(
        block_id=ids.CARD_HEADER_BLOCK,
        text=PlainTextObject(text=clean_plain_text(text, HEADER_TEXT_MAX) or "Customer"),
    )


def context_block(*texts: str, block_id: str | None = None) -> ContextBlock:
    return ContextBlock(
        block_id=block_id,
        elements=[mrkdwn(text) for text in texts[:CONTEXT_ELEMENTS_MAX]],
    )


def section_block(text: str) -> SectionBlock:
    return SectionBlock(text=mrkdwn(truncate(text, SECTION_TEXT_MAX)))


def url_button(text: str, url: str, name: str) -> ButtonElement:
    return ButtonElement(text=button_text(text), url=url, action_id=ids.link_action_id(name))


# One object per label, shared by every card that has the button: building one costs as much as
# the rest of the button. Shared parts are never changed once built (nothing in bot/ sets an
# attribute of a Block Kit object: builders make new ones; tests/views/test_blocks.py checks
# that building and serialising cards leaves them as they were).
@functools.lru_cache(maxsize=64)
def button_text(label: str) -> PlainTextObject:
    """A button's label, the app's own words (never data): one shared object per label."""
    return PlainTextObject(text=label[:BUTTON_TEXT_MAX])


# The divider between a card's parts: one shared object (see button_text).
DIVIDER = DividerBlock()


def pack_lines(lines: Iterable[str], limit: int = SECTION_TEXT_MAX) -> list[str]:
    """Lines joined into as few texts of at most `limit` characters as they fit in."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = truncate(line, limit)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
        else:
            chunks.append(current)
            current = line
    if current:
        chunks.append(current)
    return chunks


def capitalised(text: str) -> str:
    # str.capitalize() would also lower-case the rest ("CHF" -> "chf").
    return text[:1].upper() + text[1:]


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def fallback_text(text: str) -> str:
    return truncate(text, FALLBACK_TEXT_MAX)


def read_button_json(value: str) -> dict[str, Any] | None:
    """A button value this app wrote as a JSON object, or None: a button's value is the
    clicker's to forge, so its fields are checked by whoever reads them."""
    try:
        decoded = json.loads(value)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None


def quoted_query(query: str) -> str:
    return f"“{escape_text(query, QUERY_MAX)}”"
