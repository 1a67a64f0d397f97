"""The license card (a customer's licenses, the lead license first) and its link unfurl.

Pure Block Kit builders on `bot.views.blocks`; no clock unless a caller leaves `today` out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    DividerBlock,
    PlainTextObject,
    SectionBlock,
)

from bot import ids
from bot.licensing import customer_standing
from bot.links import Links
from bot.records import (
    CustomerLicenses,
    CustomerStanding,
    HostRecord,
    LicenseOverview,
    LicenseRecord,
    RankedLicense,
    Standing,
)
from bot.views.blocks import (
    BUTTON_VALUE_MAX,
    CONTACT_NAME_MAX,
    CUSTOMER_STANDING_WORDS,
    HOSTNAME_MAX,
    NAME_MAX,
    NOTE_MAX,
    PLAN_MAX,
    SECTION_FIELDS_MAX,
    SHORT_CODE_MAX,
    STANDING_WORDS,
    CardMessage,
    ago_words,
    as_utc,
    capitalised,
    context_block,
    escape_text,
    fallback_text,
    footer_block,
    format_date,
    format_timestamp,
    header_block,
    license_type_label,
    link,
    mailto_link,
    mrkdwn,
    pack_lines,
    plan_label,
    plural,
    relative_dates,
    seats_words,
    section_block,
    url_button,
    usable_id,
)

# How many rows of each list a card shows before pointing to the source system.
HOSTS_SHOWN = 5
OTHER_LICENSES_SHOWN = 20
TRIALS_SHOWN = 10
# A license's internal note (only the requester's records carry one: bot/answers/redaction.py),
# in full under the lead license, shorter on a list line so the list stays one screen.
LEAD_NOTE_MAX = 300
LISTED_NOTE_MAX = 100
_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")
# The card's lead heading: a mark, the standing's words, and what the lead license is.
_LEAD_HEADING_PARTS = {
    CustomerStanding.ACTIVE: ("✅", ""),
    CustomerStanding.IN_GRACE: ("⚠️", ""),
    CustomerStanding.EXPIRED: ("⛔", ". Newest:"),
    CustomerStanding.UPCOMING: ("🕒", ""),
}


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
    fields += _delivery_fields(license, include_contact_emails=include_contact_emails)
    # The licensee only says something new when the license names another company.
    company = (license.company or "").strip()
    if company and company.casefold() != customer_name.strip().casefold():
        fields.append(f"*Licensee*\n{escape_text(license.company, NAME_MAX)}")
    return SectionBlock(
        text=mrkdwn(text), fields=[mrkdwn(field) for field in fields[:SECTION_FIELDS_MAX]]
    )


def _lead_heading(standing: CustomerStanding) -> str:
    mark, after = _LEAD_HEADING_PARTS[standing]
    return f"{mark} *{capitalised(CUSTOMER_STANDING_WORDS[standing])}*{after}"


def _delivery_fields(license: LicenseRecord, *, include_contact_emails: bool) -> list[str]:
    """Who received the license and on which subscription: the card's and the unfurl's fields."""
    fields: list[str] = []
    recipient = _recipient(license, include_contact_emails=include_contact_emails)
    if recipient:
        fields.append(f"*Sent to*\n{recipient}")
    if license.zuora_subscription_name:
        fields.append(
            f"*Subscription*\n{escape_text(license.zuora_subscription_name, SHORT_CODE_MAX)}"
        )
    return fields


def _recipient(license: LicenseRecord, *, include_contact_emails: bool) -> str:
    parts: list[str] = []
    if license.contact_name and license.contact_name.strip():
        parts.append(escape_text(license.contact_name, CONTACT_NAME_MAX))
    if include_contact_emails and license.contact_email and license.contact_email.strip():
        parts.append(mailto_link(license.contact_email))
    return "\n".join(parts)


def _lead_link_buttons(license: LicenseRecord, links: Links) -> ActionsBlock:
    buttons: list[ButtonElement] = []
    subscription_id = usable_id(license.zuora_subscription_id)
    if subscription_id:
        buttons.append(
            url_button(
                "Zuora subscription",
                links.zuora_subscription(subscription_id),
                "zuora_subscription",
            )
        )
    buttons.append(url_button("CustomersDot", links.license(license.id), "customersdot_license"))
    buttons.append(
        url_button("Hostnames", links.license_hostnames(license.id), "license_hostnames")
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
        days = (today - as_utc(host.last_ping_at).date()).days
        parts.append(f"reported {ago_words(days)}")
    return "• " + " · ".join(parts)


def _hosts_section(
    hosts: Sequence[HostRecord], license_id: int, links: Links, today: date
) -> SectionBlock:
    if not hosts:
        text = "*Hosts*\nNo usage pings for this license."
        return section_block(text)
    newest_first = sorted(
        hosts,
        key=lambda host: as_utc(host.last_ping_at).timestamp() if host.last_ping_at else 0.0,
        reverse=True,
    )
    lines = [f"*Hosts* ({len(hosts):,})"]
    lines += [_host_line(host, today) for host in newest_first[:HOSTS_SHOWN]]
    hidden = len(hosts) - HOSTS_SHOWN
    if hidden > 0:
        more = link(links.license_hostnames(license_id), "version.gitlab.com")
        lines.append(f"and {hidden:,} more on {more}")
    return section_block("\n".join(lines))


def _date_range(license: LicenseRecord) -> str:
    end = format_date(license.expires_at) if license.expires_at else "no expiry"
    return f"{format_date(license.starts_at)} → {end}"


def _other_license_line(ranked: RankedLicense, links: Links) -> str:
    license = ranked.license
    license_link = link(links.license(license.id), f"#{license.id}")
    parts = [
        f"{license_link} {escape_text(plan_label(license.plan), PLAN_MAX)}",
        seats_words(license.user_count),
        f"{_date_range(license)} ({STANDING_WORDS[ranked.standing]})",
    ]
    subscription_id = usable_id(license.zuora_subscription_id)
    name = license.zuora_subscription_name
    if subscription_id:
        parts.append(
            link(links.zuora_subscription(subscription_id), name or "Zuora", SHORT_CODE_MAX)
        )
    elif name:
        parts.append(escape_text(name, SHORT_CODE_MAX))
    note = _license_note(license, LISTED_NOTE_MAX)
    return "• " + " · ".join(parts) + (f"\n      {note}" if note else "")


def _other_license_sections(others: Sequence[RankedLicense], links: Links) -> list[SectionBlock]:
    lines = [f"*Other licenses* ({len(others):,}), newest first"]
    lines += [_other_license_line(ranked, links) for ranked in others[:OTHER_LICENSES_SHOWN]]
    hidden = len(others) - OTHER_LICENSES_SHOWN
    if hidden > 0:
        where = link(links.customersdot_url, "CustomersDot")
        lines.append(f"…and {plural(hidden, 'more license')} in {where}")
    return [section_block(text) for text in pack_lines(lines)]


def _trial_label(license: LicenseRecord) -> str:
    started = license.starts_at or (license.issued_at.date() if license.issued_at else None)
    month = started.strftime("%Y-%m") if started else "????-??"
    users = "" if license.user_count is None else f" {plural(license.user_count, 'user')}"
    return f"{month} {plan_label(license.plan)}{users}"


def _trials_section(trials: Sequence[RankedLicense], links: Links) -> SectionBlock:
    labels = [
        link(links.license(ranked.license.id), _trial_label(ranked.license), PLAN_MAX + 30)
        + _in_parentheses(_license_note(ranked.license, LISTED_NOTE_MAX))
        for ranked in trials[:TRIALS_SHOWN]
    ]
    hidden = len(trials) - TRIALS_SHOWN
    if hidden > 0:
        labels.append(f"and {hidden:,} more")
    return section_block(f"*{plural(len(trials), 'trial')}:* " + ", ".join(labels))


def _license_note(license: LicenseRecord, max_length: int) -> str:
    """ "Note: …" for a license whose record carries its internal note, else ""."""
    note = escape_text(license.notes, max_length) if license.notes else ""
    return f"📝 Note: {note}" if note else ""


def _in_parentheses(text: str) -> str:
    return f" ({text})" if text else ""


def send_to_me_button(customer_key: str) -> ButtonElement:
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
            send_to_me_button(customer_key),
        ],
    )


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
    return section_block(f"💬 {text}") if text else None


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
    A license's internal `notes` show under it when its record carries them: the redaction
    rule (bot/answers/redaction.py) leaves them only in the requester's records.
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
    salesforce_id = usable_id(customer.salesforce_account_id)
    # The account's name (from a subscriptions export) is the name as in Salesforce.
    account = f"Salesforce account: {customer.account_name}" if customer.account_name else None
    if salesforce_id:
        label = account or "Salesforce account"
        counts.append(link(links.salesforce_account(salesforce_id), label))
    elif account:
        counts.append(escape_text(account, NAME_MAX))

    blocks: list[Block] = [header_block(customer.name), context_block(" · ".join(counts))]
    if shared_by_user_id:
        blocks.append(context_block(_shared_by(shared_by_user_id)))
    note_section = _note_section(note) if note else None
    if note_section is not None:
        blocks.append(note_section)

    lead = overview.lead
    featured = lead is not None and lead is not original_lead
    standing = customer_standing(data.overview)
    standing_words = CUSTOMER_STANDING_WORDS[standing]
    if lead is None:
        blocks.append(section_block(f"*{capitalised(standing_words)}.*"))
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
                    f"📌 *Featured license* ({STANDING_WORDS[lead.standing]})"
                    if featured
                    else _lead_heading(standing)
                ),
            )
        )
        lead_note = _license_note(lead.license, LEAD_NOTE_MAX)
        if lead_note:
            blocks.append(context_block(lead_note))
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
    blocks.append(footer_block(data.data_as_of))
    return CardMessage(text=fallback_text(fallback), blocks=blocks)


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
        blocks: list[Block] = [section_block(text), footer_block(data.data_as_of)]
        return CardMessage(text=fallback_text(f"{name}: license #{int(license_id)}"), blocks=blocks)

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
    fields += _delivery_fields(license, include_contact_emails=include_contact_emails)
    blocks = [SectionBlock(text=mrkdwn(text), fields=[mrkdwn(field) for field in fields])]

    lead = data.overview.lead
    if lead is not None and lead.license.id != license.id:
        current = lead.license
        blocks.append(
            context_block(
                f"Current license: {link(links.license(current.id), f'#{current.id}')} "
                f"{escape_text(plan_label(current.plan), PLAN_MAX)}, "
                f"{seats_words(current.user_count)} ({STANDING_WORDS[lead.standing]})"
            )
        )
    blocks.append(footer_block(data.data_as_of))
    return CardMessage(text=fallback_text(f"{name}: {summary}"), blocks=blocks)
