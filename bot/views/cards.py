"""Pure Block Kit card builders: plain values in, `slack_sdk.models.blocks` objects out.

No session, no client, no clock unless a caller leaves `today` out. Everything that comes from
a user's query or from imported data reaches Slack through `escape_text` (mrkdwn) or
`clean_plain_text` (plain_text), so a company called `<!channel>` stays a company name.

Readers are salespeople on phones: the answer comes first, in words rather than codes, in
short lines; details follow in two-column fields that stack on a narrow screen.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

from slack_sdk.models.blocks import (
    ActionsBlock,
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
from bot.licensing import customer_standing
from bot.links import Links
from bot.records import (
    CustomerChoice,
    CustomerLicenses,
    CustomerReconciliations,
    CustomerStanding,
    HostRecord,
    LicenseOverview,
    LicenseRecord,
    RankedLicense,
    ReconciliationRecord,
    ReconciliationStatus,
    Standing,
)
from bot.slack.identity import refusal_sentence, refusal_text

# Slack's limits (https://docs.slack.dev/reference/block-kit/blocks): some are not checked by
# slack_sdk's to_dict(), so the builders keep under them by construction.
# Every card stays far under 50 blocks and 2,000 characters per section field: the tests
# (tests/test_cards.py's check_message, tests/test_hostile_input.py) check both on every card.
HEADER_TEXT_MAX = 150
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
CONTEXT_ELEMENTS_MAX = 10

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

# How many rows of each list a card shows before pointing to the source system.
HOSTS_SHOWN = 5
OTHER_LICENSES_SHOWN = 20
TRIALS_SHOWN = 10
RECONCILIATIONS_SHOWN = 12
PICK_CHOICES_SHOWN = 10
SUGGESTIONS_SHOWN = 5

GRACE_WORDS = "in grace"
ELLIPSIS = "…"
ZERO_WIDTH_JOINER = "\u200d"
# Slack turns these into notifications for everyone in a channel when it parses mentions.
_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone|group)\b)", re.IGNORECASE)
_WHITESPACE = re.compile(r"[\s\x00-\x1f\x7f]+")
_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")


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
_STANDING_WORDS = {
    Standing.ACTIVE: "active",
    Standing.IN_GRACE: GRACE_WORDS,
    Standing.EXPIRED: "expired",
    Standing.UPCOMING: "upcoming",
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
# The card's lead heading: a mark, the standing's words, and what the lead license is.
_LEAD_HEADING_PARTS = {
    CustomerStanding.ACTIVE: ("✅", ""),
    CustomerStanding.IN_GRACE: ("⚠️", ""),
    CustomerStanding.EXPIRED: ("⛔", ". Newest:"),
    CustomerStanding.UPCOMING: ("🕒", ""),
}
_RECON_STATUS_WORDS = {
    ReconciliationStatus.PENDING.value: "⏳ Pending",
    ReconciliationStatus.PROCESSED.value: "✅ Processed",
    ReconciliationStatus.SKIPPED.value: "⏭️ Skipped",
    ReconciliationStatus.FAILED.value: "❌ Failed",
}


@dataclass(frozen=True)
class CardMessage:
    """A Slack message: `text` is the notification and screen-reader fallback of `blocks`."""

    text: str
    blocks: list[Block]

    def blocks_as_dicts(self) -> list[dict[str, Any]]:
        return [block.to_dict() for block in self.blocks]

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks_as_dicts()}


# ---------------------------------------------------------------------------------------------
# Text safety


def _truncate(text: str, max_length: int) -> str:
    if len(text) <= max_length:
        return text
    return text[: max(max_length - 1, 0)].rstrip() + ELLIPSIS


def _neutralise_broadcasts(text: str) -> str:
    return _BROADCAST.sub("@" + ZERO_WIDTH_JOINER, text)


def escape_text(text: object, max_length: int = NAME_MAX) -> str:
    """User or imported text, safe to embed in mrkdwn.

    One line (newlines and control characters become spaces), at most `max_length` characters
    before escaping, `&`, `<`, `>` escaped so Slack never reads a mention or a link into it,
    and `@channel`-style broadcasts broken with a zero-width joiner.
    """
    single_line = _WHITESPACE.sub(" ", str(text)).strip()
    shortened = _truncate(single_line, max_length)
    escaped = shortened.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _neutralise_broadcasts(escaped)


def clean_plain_text(text: object, max_length: int) -> str:
    """User or imported text for a plain_text object (headers, buttons).

    plain_text is never parsed for mentions or links, so `<` stays as is (an entity would show
    literally); broadcasts are still broken in case a client ever parses them.
    """
    single_line = _WHITESPACE.sub(" ", str(text)).strip()
    return _neutralise_broadcasts(_truncate(single_line, max_length))


def _mrkdwn_url(url: str) -> str:
    # Links are built from settings and quoted ids, but a `|` or `>` would still end the link
    # early; percent-encoding them keeps the URL one token, and `&` is escaped as Slack expects.
    for raw, encoded in (("|", "%7C"), ("<", "%3C"), (">", "%3E"), (" ", "%20")):
        url = url.replace(raw, encoded)
    return url.replace("&", "&amp;")


def link(url: str, label: object, max_length: int = NAME_MAX) -> str:
    """`<url|label>` with the label escaped; `|` in a label would start a second label."""
    safe_label = escape_text(label, max_length).replace("|", "¦")
    return f"<{_mrkdwn_url(url)}|{safe_label}>"


def _mailto(email: str) -> str:
    address = _truncate(_WHITESPACE.sub("", email), EMAIL_MAX)
    return link("mailto:" + quote(address, safe="@.+-_"), address, EMAIL_MAX)


def _usable_id(value: str | None) -> str | None:
    """An external id fit for a URL, or None when missing or clearly not an id."""
    if value is None:
        return None
    stripped = value.strip()
    if not stripped or len(stripped) > ID_IN_URL_MAX:
        return None
    return stripped


def _mrkdwn(text: str) -> MarkdownTextObject:
    # verbatim: no auto-linking of bare hostnames or channel names from imported data; our own
    # `<url|label>` links are still parsed.
    return MarkdownTextObject(text=text, verbatim=True)


# ---------------------------------------------------------------------------------------------
# Words for values


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"


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


def format_date(value: date | None) -> str:
    return value.isoformat() if value is not None else "?"


def format_timestamp(value: datetime | None) -> str:
    """`2025-02-27 14:03 UTC`; naive timestamps are UTC (ARCHITECTURE.md: Import files)."""
    if value is None:
        return "unknown"
    return _as_utc(value).strftime("%Y-%m-%d %H:%M UTC")


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


# ---------------------------------------------------------------------------------------------
# Shared pieces


def _header(text: str) -> HeaderBlock:
    return HeaderBlock(
        block_id=ids.CARD_HEADER_BLOCK,
        text=PlainTextObject(text=clean_plain_text(text, HEADER_TEXT_MAX) or "Customer"),
    )


def _context(*texts: str, block_id: str | None = None) -> ContextBlock:
    return ContextBlock(
        block_id=block_id,
        elements=[_mrkdwn(text) for text in texts[:CONTEXT_ELEMENTS_MAX]],
    )


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=_mrkdwn(_truncate(text, SECTION_TEXT_MAX)))


def _footer(data_as_of: datetime | None) -> ContextBlock:
    words = (
        f"Data as of {format_timestamp(data_as_of)}"
        if data_as_of is not None
        else "No import recorded yet"
    )
    return _context(words, block_id=ids.FOOTER_BLOCK)


def _url_button(text: str, url: str, name: str) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text=text[:BUTTON_TEXT_MAX]),
        url=url,
        action_id=ids.link_action_id(name),
    )


def _pack_lines(lines: Iterable[str], limit: int = SECTION_TEXT_MAX) -> list[str]:
    """Lines joined into as few texts of at most `limit` characters as they fit in."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = _truncate(line, limit)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
        else:
            chunks.append(current)
            current = line
    if current:
        chunks.append(current)
    return chunks


def _capitalised(text: str) -> str:
    # str.capitalize() would also lower-case the rest ("CHF" -> "chf").
    return text[:1].upper() + text[1:]


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _fallback(text: str) -> str:
    return _truncate(text, FALLBACK_TEXT_MAX)


def _quoted_query(query: str) -> str:
    return f"“{escape_text(query, QUERY_MAX)}”"


# ---------------------------------------------------------------------------------------------
# License card


def _seat_details(license: LicenseRecord) -> str:
    parts = [seats_words(license.user_count)]
    if license.previous_user_count is not None:
        parts.append(f"was {license.previous_user_count:,}")
    if license.trueup_quantity:
        parts.append(plural(license.trueup_quantity, "true-up"))
    return ", ".join(parts)


def _lead_section(
    ranked: RankedLicense,
    links: Links,
    today: date,
    *,
    customer_name: str,
    include_contact_emails: bool,
    heading: str,
) -> SectionBlock:
    license = ranked.license
    plan = escape_text(plan_label(license.plan), PLAN_MAX)
    summary = " · ".join(
        [plan, seats_words(license.user_count), relative_dates(license, ranked.standing, today)]
    )
    text = f"{heading} {link(links.license(license.id), f'#{license.id}')}\n*{summary}*"

    kind = license_type_label(license.license_type)
    fields = [
        f"*Seats*\n{_seat_details(license)}",
        f"*Type*\n{escape_text(kind, SHORT_CODE_MAX)} · {'trial' if license.trial else 'paid'}",
        f"*Starts*\n{format_date(license.starts_at)}",
        f"*Expires*\n{format_date(license.expires_at) if license.expires_at else 'no expiry'}",
        f"*Issued*\n{format_timestamp(license.issued_at)}",
    ]
    recipient = _recipient(license, include_contact_emails=include_contact_emails)
    if recipient:
        fields.append(f"*Sent to*\n{recipient}")
    if license.zuora_subscription_name:
        fields.append(
            f"*Subscription*\n{escape_text(license.zuora_subscription_name, SHORT_CODE_MAX)}"
        )
    # The licensee only says something new when the license names another company.
    company = (license.company or "").strip()
    if company and company.casefold() != customer_name.strip().casefold():
        fields.append(f"*Licensee*\n{escape_text(license.company, NAME_MAX)}")
    return SectionBlock(
        text=_mrkdwn(text), fields=[_mrkdwn(field) for field in fields[:SECTION_FIELDS_MAX]]
    )


def _lead_heading(standing: CustomerStanding) -> str:
    mark, after = _LEAD_HEADING_PARTS[standing]
    return f"{mark} *{_capitalised(CUSTOMER_STANDING_WORDS[standing])}*{after}"


def _recipient(license: LicenseRecord, *, include_contact_emails: bool) -> str:
    parts: list[str] = []
    if license.contact_name and license.contact_name.strip():
        parts.append(escape_text(license.contact_name, CONTACT_NAME_MAX))
    if include_contact_emails and license.contact_email and license.contact_email.strip():
        parts.append(_mailto(license.contact_email))
    return "\n".join(parts)


def _lead_link_buttons(license: LicenseRecord, links: Links) -> ActionsBlock:
    buttons: list[ButtonElement] = []
    subscription_id = _usable_id(license.zuora_subscription_id)
    if subscription_id:
        buttons.append(
            _url_button(
                "Zuora subscription",
                links.zuora_subscription(subscription_id),
                "zuora_subscription",
            )
        )
    buttons.append(_url_button("CustomersDot", links.license(license.id), "customersdot_license"))
    buttons.append(
        _url_button("Hostnames", links.license_hostnames(license.id), "license_hostnames")
    )
    return ActionsBlock(block_id=ids.CARD_LINKS_BLOCK, elements=buttons)


def _host_line(host: HostRecord, today: date) -> str:
    # Backticks keep Slack from turning a customer's hostname into a link.
    hostname = escape_text(host.hostname, HOSTNAME_MAX).replace("`", "'")
    parts = [f"`{hostname}`"]
    if host.gitlab_version:
        parts.append(escape_text(host.gitlab_version, SHORT_CODE_MAX))
    if host.active_user_count is not None:
        parts.append(plural(host.active_user_count, "active user"))
    if host.last_ping_at is not None:
        days = (today - _as_utc(host.last_ping_at).date()).days
        parts.append(f"reported {ago_words(days)}")
    return "• " + " · ".join(parts)


def _hosts_section(
    hosts: Sequence[HostRecord], license_id: int, links: Links, today: date
) -> SectionBlock:
    if not hosts:
        text = "*Hosts*\nNo usage pings for this license."
        return _section(text)
    newest_first = sorted(
        hosts,
        key=lambda host: _as_utc(host.last_ping_at).timestamp() if host.last_ping_at else 0.0,
        reverse=True,
    )
    lines = [f"*Hosts* ({len(hosts):,})"]
    lines += [_host_line(host, today) for host in newest_first[:HOSTS_SHOWN]]
    hidden = len(hosts) - HOSTS_SHOWN
    if hidden > 0:
        more = link(links.license_hostnames(license_id), "version.gitlab.com")
        lines.append(f"and {hidden:,} more on {more}")
    return _section("\n".join(lines))


def _date_range(license: LicenseRecord) -> str:
    end = format_date(license.expires_at) if license.expires_at else "no expiry"
    return f"{format_date(license.starts_at)} → {end}"


def _other_license_line(ranked: RankedLicense, links: Links) -> str:
    license = ranked.license
    license_link = link(links.license(license.id), f"#{license.id}")
    parts = [
        f"{license_link} {escape_text(plan_label(license.plan), PLAN_MAX)}",
        seats_words(license.user_count),
        f"{_date_range(license)} ({_STANDING_WORDS[ranked.standing]})",
    ]
    subscription_id = _usable_id(license.zuora_subscription_id)
    name = license.zuora_subscription_name
    if subscription_id:
        parts.append(
            link(links.zuora_subscription(subscription_id), name or "Zuora", SHORT_CODE_MAX)
        )
    elif name:
        parts.append(escape_text(name, SHORT_CODE_MAX))
    return "• " + " · ".join(parts)


def _other_license_sections(others: Sequence[RankedLicense], links: Links) -> list[SectionBlock]:
    lines = [f"*Other licenses* ({len(others):,}), newest first"]
    lines += [_other_license_line(ranked, links) for ranked in others[:OTHER_LICENSES_SHOWN]]
    hidden = len(others) - OTHER_LICENSES_SHOWN
    if hidden > 0:
        where = link(links.customersdot_url, "CustomersDot")
        lines.append(f"…and {plural(hidden, 'more license')} in {where}")
    return [_section(text) for text in _pack_lines(lines)]


def _trial_label(license: LicenseRecord) -> str:
    started = license.starts_at or (license.issued_at.date() if license.issued_at else None)
    month = started.strftime("%Y-%m") if started else "????-??"
    users = "" if license.user_count is None else f" {plural(license.user_count, 'user')}"
    return f"{month} {plan_label(license.plan)}{users}"


def _trials_section(trials: Sequence[RankedLicense], links: Links) -> SectionBlock:
    labels = [
        link(links.license(ranked.license.id), _trial_label(ranked.license), PLAN_MAX + 30)
        for ranked in trials[:TRIALS_SHOWN]
    ]
    hidden = len(trials) - TRIALS_SHOWN
    if hidden > 0:
        labels.append(f"and {hidden:,} more")
    return _section(f"*{plural(len(trials), 'trial')}:* " + ", ".join(labels))


def _send_to_me_button(customer_key: str) -> ButtonElement:
    # Ephemeral replies vanish and never reach a phone; a DM from the bot stays.
    return ButtonElement(
        text=PlainTextObject(text="Send to me"),
        action_id=ids.LICENSE_SEND_TO_ME_ACTION,
        value=customer_key,
    )


def _share_actions(customer_key: str) -> ActionsBlock | None:
    if len(customer_key) > BUTTON_VALUE_MAX:
        return None  # cannot round-trip through a button value; keys are far shorter
    return ActionsBlock(
        block_id=ids.CARD_ACTIONS_BLOCK,
        elements=[
            ButtonElement(
                text=PlainTextObject(text="Share in channel"),
                action_id=ids.LICENSE_SHARE_ACTION,
                value=customer_key,
            ),
            _send_to_me_button(customer_key),
        ],
    )


def build_share_refused(problem: str, customer_key: str) -> CardMessage:
    """Why a card was not shared where the button was clicked, with a way to still get it:
    Send to me puts it in the clicker's DM with the bot, which is theirs alone."""
    text = f"Nothing was shared. {escape_text(problem, SECTION_TEXT_MAX - 40)}"
    blocks: list[Block] = [_section(text)]
    if len(customer_key) <= BUTTON_VALUE_MAX:
        blocks.append(
            ActionsBlock(
                block_id=ids.CARD_ACTIONS_BLOCK, elements=[_send_to_me_button(customer_key)]
            )
        )
    return CardMessage(text=_fallback(text), blocks=blocks)


def _featured_first(overview: LicenseOverview, featured_license_id: int | None) -> LicenseOverview:
    """The overview with the featured license as its lead; the former lead becomes the first
    of the others, since it is still the one the active-license rule picked."""
    if featured_license_id is None or overview.lead is None:
        return overview
    if overview.lead.license.id == featured_license_id:
        return overview
    for position, ranked in enumerate(overview.others):
        if ranked.license.id == featured_license_id:
            others = (overview.lead, *overview.others[:position], *overview.others[position + 1 :])
            return LicenseOverview(lead=ranked, others=others, trials=overview.trials)
    return overview  # trials and unknown ids are not featured: the card stays as it was


def _note_section(note: str) -> SectionBlock | None:
    text = escape_text(note, NOTE_MAX)
    return _section(f"💬 {text}") if text else None


def _shared_by(user_id: str) -> str:
    if _SLACK_USER_ID.fullmatch(user_id):
        return f"Shared by <@{user_id}>"  # a real mention: readers see who posted the card
    return f"Shared by {escape_text(user_id, SHORT_CODE_MAX)}"


def build_license_card(
    data: CustomerLicenses,
    links: Links,
    *,
    include_contact_emails: bool,
    shareable: bool = True,
    shared_by_user_id: str | None = None,
    today: date | None = None,
    featured_license_id: int | None = None,
    note: str | None = None,
) -> CardMessage:
    """One customer's licenses: the lead license in full, then the rest in one line each.

    `featured_license_id` (a paid license of the customer) takes the lead section's place, as
    the license a deal thread is about; `note` is the poster's words, shown under the header.
    """
    today = today or data.today or datetime.now(UTC).date()
    original_lead = data.overview.lead
    overview = _featured_first(data.overview, featured_license_id)
    customer = data.customer
    name = escape_text(customer.name, NAME_MAX)
    paid_count = (1 if overview.lead else 0) + len(overview.others)

    counts = [plural(paid_count, "license")]
    if overview.trials:
        counts.append(plural(len(overview.trials), "trial"))
    salesforce_id = _usable_id(customer.salesforce_account_id)
    # The account's name (from a subscriptions export) is the name as in Salesforce.
    account = f"Salesforce account: {customer.account_name}" if customer.account_name else None
    if salesforce_id:
        label = account or "Salesforce account"
        counts.append(link(links.salesforce_account(salesforce_id), label))
    elif account:
        counts.append(escape_text(account, NAME_MAX))

    blocks: list[Block] = [_header(customer.name), _context(" · ".join(counts))]
    if shared_by_user_id:
        blocks.append(_context(_shared_by(shared_by_user_id)))
    note_section = _note_section(note) if note else None
    if note_section is not None:
        blocks.append(note_section)

    lead = overview.lead
    featured = lead is not None and lead is not original_lead
    standing = customer_standing(data.overview)
    standing_words = CUSTOMER_STANDING_WORDS[standing]
    if lead is None:
        blocks.append(_section(f"*{_capitalised(standing_words)}.*"))
        fallback = f"{name}: {standing_words}"
        if overview.trials:
            fallback += f", {plural(len(overview.trials), 'trial')}"
    else:
        blocks.append(
            _lead_section(
                lead,
                links,
                today,
                customer_name=customer.name,
                include_contact_emails=include_contact_emails,
                heading=(
                    f"📌 *Featured license* ({_STANDING_WORDS[lead.standing]})"
                    if featured
                    else _lead_heading(standing)
                ),
            )
        )
        blocks.append(_lead_link_buttons(lead.license, links))
        hosts = data.hosts_by_license.get(lead.license.id, ())
        blocks.append(_hosts_section(hosts, lead.license.id, links, today))
        fallback = (
            f"{name}: {escape_text(plan_label(lead.license.plan), PLAN_MAX)}, "
            f"{seats_words(lead.license.user_count)}, "
            f"{relative_dates(lead.license, lead.standing, today)}"
        )

    if overview.others:
        blocks.append(DividerBlock())
        blocks.extend(_other_license_sections(overview.others, links))
    if overview.trials:
        blocks.append(_trials_section(overview.trials, links))

    if shareable:
        share = _share_actions(customer.key)
        if share is not None:
            blocks.append(share)
    blocks.append(_footer(data.data_as_of))
    return CardMessage(text=_fallback(fallback), blocks=blocks)


# ---------------------------------------------------------------------------------------------
# Reconciliation card


def recon_status_words(status: str) -> str:
    key = (status or "").strip().lower()
    return _RECON_STATUS_WORDS.get(key) or escape_text(status or "unknown", SHORT_CODE_MAX)


def _reconciliation_text(record: ReconciliationRecord, links: Links) -> str:
    label = record.subscription_name or "Subscription"
    subscription_id = _usable_id(record.zuora_subscription_id)
    if subscription_id:
        title = link(links.zuora_subscription(subscription_id), label, SHORT_CODE_MAX)
    else:
        title = escape_text(label, SHORT_CODE_MAX)
    lines = [f"*{title}* · {recon_status_words(record.status)}"]

    when = [f"reconcile on {format_date(record.reconcile_on)}"]
    if record.reconcile_done_at is not None:
        when.append(f"finished {format_date(_as_utc(record.reconcile_done_at).date())}")
    lines.append(_capitalised(" · ".join(when)))

    outcome = []
    if record.user_count is not None:
        outcome.append(f"{plural(record.user_count, 'user')} after reconciliation")
    if record.invoiced_amount_minor is not None:
        outcome.append(f"invoiced {format_money(record.invoiced_amount_minor, record.currency)}")
    if outcome:
        lines.append(_capitalised(" · ".join(outcome)))

    skip_reason = sentence(record.skip_reason)
    if skip_reason:
        lines.append(f"Skipped because: {skip_reason}")
    error = sentence(record.error_message)
    if error:
        lines.append(f"Error: {error}")
    lines.append(link(links.reconciliation(record.id), "Open in CustomersDot"))
    return "\n".join(lines)


def build_recon_card(data: CustomerReconciliations, links: Links) -> CardMessage:
    """A customer's seat reconciliations (QSR), newest first."""
    name = escape_text(data.customer.name, NAME_MAX)
    records = data.reconciliations
    blocks: list[Block] = [_header(f"Seat reconciliations: {data.customer.name}")]
    if not records:
        blocks.append(_section(f"No seat reconciliations for {name}."))
        blocks.append(_footer(data.data_as_of))
        return CardMessage(text=_fallback(f"No seat reconciliations for {name}"), blocks=blocks)

    blocks.append(_context(plural(len(records), "reconciliation") + ", newest first"))
    for index, record in enumerate(records[:RECONCILIATIONS_SHOWN]):
        if index:
            blocks.append(DividerBlock())
        blocks.append(_section(_reconciliation_text(record, links)))
    hidden = len(records) - RECONCILIATIONS_SHOWN
    if hidden > 0:
        where = link(links.customersdot_url, "CustomersDot")
        blocks.append(_context(f"…and {plural(hidden, 'older reconciliation')} in {where}"))
    blocks.append(_footer(data.data_as_of))

    latest = records[0]
    fallback = (
        f"{name}: {plural(len(records), 'seat reconciliation')}, latest "
        f"{recon_status_words(latest.status)}"
    )
    return CardMessage(text=_fallback(fallback), blocks=blocks)


# ---------------------------------------------------------------------------------------------
# Pick list, not found, usage, refusal, notice


def _choice_line(choice: CustomerChoice) -> str:
    parts = [f"*{escape_text(choice.name, NAME_MAX)}*", plural(choice.license_count, "license")]
    if choice.standing is CustomerStanding.ACTIVE and choice.active_plan:
        active = escape_text(plan_label(choice.active_plan), PLAN_MAX)
        if choice.active_user_count is not None:
            active += f", {seats_words(choice.active_user_count)}"
        parts.append(active)
    else:
        parts.append(CUSTOMER_STANDING_WORDS[choice.standing])
    return " · ".join(parts)


# Distinguishing details shown per kind, at most this many values each.
_DETAIL_VALUES = 2


def _choice_lines(choices: Sequence[CustomerChoice]) -> list[str]:
    """Pick-list lines, never two alike: customers with the same name are told apart by what
    differs (account name or Salesforce id, subscriptions, contact email domains)."""
    lines = [_choice_line(choice) for choice in choices]
    names = Counter(choice.name.strip().casefold() for choice in choices)
    for index, choice in enumerate(choices):
        if names[choice.name.strip().casefold()] > 1:
            details = _choice_details(choice)
            if details:
                lines[index] += " · " + " · ".join(details)
    seen: Counter[str] = Counter()
    for index, line in enumerate(lines):
        seen[line] += 1
        if seen[line] > 1 or lines.count(line) > 1:
            # Nothing on record tells them apart: their keys do.
            lines[index] = f"{line} · `{escape_text(choices[index].key, NAME_MAX)}`"
    return lines


def _choice_details(choice: CustomerChoice) -> list[str]:
    details: list[str] = []
    if choice.account_name and choice.account_name.strip().casefold() != (
        choice.name.strip().casefold()
    ):
        details.append(f"account {escape_text(choice.account_name, NAME_MAX)}")
    elif choice.salesforce_account_id:
        details.append(f"Salesforce {escape_text(choice.salesforce_account_id, SHORT_CODE_MAX)}")
    if choice.subscription_names:
        shown = ", ".join(
            escape_text(name, SHORT_CODE_MAX) for name in choice.subscription_names[:_DETAIL_VALUES]
        )
        details.append(shown)
    if choice.email_domains:
        details.append(
            ", ".join(
                "@" + escape_text(domain, NAME_MAX)
                for domain in choice.email_domains[:_DETAIL_VALUES]
            )
        )
    return details


def build_pick_list(
    query: str,
    choices: Sequence[CustomerChoice],
    *,
    action_id: str,
    more_count: int = 0,
    has_more: bool = False,
) -> CardMessage:
    """Several customers match: one line and a "Show" button per customer.

    `has_more`: the search found more customers than it handed over; say so and how to narrow
    it (SearchResult.has_more)."""
    intro = f"Several customers match {_quoted_query(query)}. Pick one:"
    blocks: list[Block] = [_section(intro)]
    usable = [choice for choice in choices if len(choice.key) <= BUTTON_VALUE_MAX]
    shown = usable[:PICK_CHOICES_SHOWN]
    for index, (choice, line) in enumerate(zip(shown, _choice_lines(shown), strict=True)):
        blocks.append(
            SectionBlock(
                block_id=f"{ids.PICK_LIST_BLOCK_PREFIX}{index}",
                text=_mrkdwn(line),
                accessory=ButtonElement(
                    text=PlainTextObject(text="Show"),
                    action_id=action_id,
                    value=choice.key,
                ),
            )
        )
    hidden = more_count + max(len(usable) - PICK_CHOICES_SHOWN, 0)
    if hidden > 0:
        blocks.append(
            _context(f"…and {plural(hidden, 'more match', 'more matches')}. Try a longer name.")
        )
    elif has_more:
        blocks.append(_context(MORE_MATCHES_HINT))
    return CardMessage(text=_fallback(intro), blocks=blocks)


MORE_MATCHES_HINT = (
    "More customers match than are shown here. Narrow the search: add a word of the name, or "
    "search by contact email, `@domain` or subscription (`A-S…`)."
)
# Customers offered beside a card the query named exactly.
ALSO_MATCHING_SHOWN = 5


def also_matching_blocks(others: Sequence[tuple[str, str]], *, action_id: str) -> list[Block]:
    """ "Also matching: Acme Holdings, ACME GmbH", a button each (the pick list's action, so the
    pick handler shows the one chosen): the query is exactly the card's customer's name, but
    these share its words. (key, name) pairs, best first."""
    usable = [(key, name) for key, name in others if len(key) <= BUTTON_VALUE_MAX]
    shown = usable[:ALSO_MATCHING_SHOWN]
    if not shown:
        return []
    names = ", ".join(escape_text(name, NAME_MAX) for _, name in shown)
    blocks: list[Block] = [_context(f"Also matching: {names}")]
    for index, (key, name) in enumerate(shown):
        blocks.append(
            SectionBlock(
                block_id=f"{ids.ALSO_MATCHING_BLOCK_PREFIX}{index}",
                text=_mrkdwn(f"*{escape_text(name, NAME_MAX)}*"),
                accessory=ButtonElement(
                    text=PlainTextObject(text="Show"), action_id=action_id, value=key
                ),
            )
        )
    return blocks


def build_not_found(query: str, suggestions: Sequence[str], *, command: str) -> CardMessage:
    """Nothing matches: say so, suggest the closest names and what else can be searched."""
    first = f"No customer matches {_quoted_query(query)}."
    lines = [first]
    shown = [escape_text(name, NAME_MAX) for name in suggestions[:SUGGESTIONS_SHOWN]]
    if shown:
        lines.append(f"Did you mean: {', '.join(shown)}?")
    safe_command = escape_text(command, SHORT_CODE_MAX)
    hint = (
        "You can search by company name, contact email, `@domain`, subscription "
        f"(`A-S00012345`), license id or hostname, e.g. `{safe_command} Acme`."
    )
    blocks: list[Block] = [_section("\n".join(lines)), _context(hint)]
    return CardMessage(text=_fallback(first), blocks=blocks)


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
        _section(purpose + "\n" + "\n".join(examples)),
        _context(f"See also `{other}`."),
    ]
    return CardMessage(text=_fallback(purpose), blocks=blocks)


def build_refusal(access_request_url: str | None, reason: str) -> CardMessage:
    """A polite no: no customer data, and a way to ask for access when one exists.

    The wording is bot.slack.identity.refusal_text's, the allowlist's plain fallback's too."""
    text = refusal_text(reason, access_request_url, link=link)
    return CardMessage(text=_fallback(refusal_sentence(reason)), blocks=[_section(text)])


def build_notice(text: str) -> CardMessage:
    """A short message with no card around it, e.g. the store being unavailable."""
    safe = escape_text(text, SECTION_TEXT_MAX - 1)
    return CardMessage(text=_fallback(safe), blocks=[_section(safe)])


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
        text=_fallback(f"{notice} {message.text}"),
        blocks=[_section(notice), *message.blocks],  # one more block: cards stay far under 50
    )


# ---------------------------------------------------------------------------------------------
# Link unfurls: compact cards under a link someone posted (ARCHITECTURE.md: Privacy, one rule)


_UNFURL_STANDING = {
    Standing.ACTIVE: "✅ Active",
    Standing.IN_GRACE: "⚠️ Expired, in grace period",
    Standing.EXPIRED: "⛔ Expired",
    Standing.UPCOMING: "🕒 Upcoming",
}


def _ranked_licenses(data: CustomerLicenses) -> list[RankedLicense]:
    overview = data.overview
    lead = [overview.lead] if overview.lead is not None else []
    return [*lead, *overview.others, *overview.trials]


def build_license_unfurl(
    data: CustomerLicenses,
    license_id: int,
    links: Links,
    *,
    include_contact_emails: bool,
    today: date | None = None,
) -> CardMessage:
    """The compact card under a posted license link: THAT license featured, then the
    customer's current license when it is another one. No header, no buttons: it hangs under
    someone else's message, so it stays a few lines long."""
    today = today or data.today or datetime.now(UTC).date()
    name = escape_text(data.customer.name, NAME_MAX)
    featured = next(
        (ranked for ranked in _ranked_licenses(data) if ranked.license.id == license_id), None
    )
    if featured is None:
        # The link names a license the store no longer files under this customer.
        text = f"*{name}*\nLicense #{int(license_id)} is not in the license store."
        blocks: list[Block] = [_section(text), _footer(data.data_as_of)]
        return CardMessage(text=_fallback(f"{name}: license #{int(license_id)}"), blocks=blocks)

    license = featured.license
    plan = escape_text(plan_label(license.plan), PLAN_MAX)
    summary = " · ".join(
        [plan, seats_words(license.user_count), relative_dates(license, featured.standing, today)]
    )
    heading = _UNFURL_STANDING[featured.standing] + (" trial" if license.trial else "")
    license_link = link(links.license(license.id), f"#{license.id}")
    text = f"*{name}*\n{heading} license {license_link}: {summary}"

    fields = [
        f"*Type*\n{escape_text(license_type_label(license.license_type), SHORT_CODE_MAX)}",
        f"*Starts → expires*\n{_date_range(license)}",
    ]
    recipient = _recipient(license, include_contact_emails=include_contact_emails)
    if recipient:
        fields.append(f"*Sent to*\n{recipient}")
    if license.zuora_subscription_name:
        fields.append(
            f"*Subscription*\n{escape_text(license.zuora_subscription_name, SHORT_CODE_MAX)}"
        )
    blocks = [SectionBlock(text=_mrkdwn(text), fields=[_mrkdwn(field) for field in fields])]

    lead = data.overview.lead
    if lead is not None and lead.license.id != license.id:
        current = lead.license
        blocks.append(
            _context(
                f"Current license: {link(links.license(current.id), f'#{current.id}')} "
                f"{escape_text(plan_label(current.plan), PLAN_MAX)}, "
                f"{seats_words(current.user_count)} ({_STANDING_WORDS[lead.standing]})"
            )
        )
    blocks.append(_footer(data.data_as_of))
    return CardMessage(text=_fallback(f"{name}: {summary}"), blocks=blocks)


def build_recon_unfurl(
    record: ReconciliationRecord, links: Links, *, data_as_of: datetime | None
) -> CardMessage:
    """The compact card under a posted reconciliation link: that one reconciliation."""
    name = escape_text(record.customer_name, NAME_MAX)
    text = f"*{name}* · seat reconciliation\n{_reconciliation_text(record, links)}"
    fallback = f"{name}: seat reconciliation, {recon_status_words(record.status)}"
    return CardMessage(text=_fallback(fallback), blocks=[_section(text), _footer(data_as_of)])
