"""The license card (what a customer has right now: every subscription in force with its current
license, servers and seats in use; trials; history), the list of all its licenses, and the
license link unfurl.

Pure Block Kit builders on `bot.views.blocks`; no clock unless a caller leaves `today` out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    SectionBlock,
)

from bot import ids
from bot.freshness import Freshness
from bot.licensing import customer_standing, is_recent
from bot.links import Links
from bot.names import company_search_key
from bot.records import (
    SAME_DOMAIN_SHOWN,
    CustomerLicenses,
    CustomerStanding,
    HostRecord,
    LicenseOverview,
    LicenseRecord,
    RankedLicense,
    SameDomainLicense,
    SeatUsage,
    Standing,
    SubscriptionOverview,
)
from bot.views.blocks import (
    BUTTON_VALUE_MAX,
    CONTACT_NAME_MAX,
    CONTEXT_TEXT_MAX,
    CUSTOMER_STANDING_WORDS,
    DIVIDER,
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
    button_text,
    capitalised,
    context_block,
    escape_text,
    fallback_text,
    format_date,
    format_timestamp,
    header_block,
    license_counts_words,
    license_type_label,
    link,
    mailto_link,
    mrkdwn,
    pack_lines,
    plan_label,
    plural,
    read_button_json,
    relative_dates,
    seats_words,
    section_block,
    span_words,
    url_button,
    usable_id,
)
from bot.views.follows import follow_in_thread_button
from bot.views.freshness import freshness_footer, stale_blocks, stale_fallback

# Subscriptions shown in full (current license, seats in use, servers, links); the others are
# one line each, and all of them are in "Show all licenses".
SUBSCRIPTIONS_SHOWN = 5
# Lines for the subscriptions in force beyond those (a reseller's customer with hundreds): the
# rest are counted, and listed in "Show all licenses".
MORE_IN_FORCE_SHOWN = 10
# A same-domain license's company and domain, in the card's "Also sent to" line.
SAME_DOMAIN_NAME_MAX = 80
# Servers listed per subscription or trial before pointing to version.gitlab.com.
HOSTS_SHOWN = 5
# Lines of history and trials on the card itself; the rest behind "Show all licenses".
HISTORY_SHOWN = 10
TRIALS_SHOWN = 5
# Lines of one page of "Show all licenses".
HISTORY_PAGE_LINES = 40
# A license's internal note (only the requester's records carry one: bot/answers/redaction.py),
# in full under a current license, shorter on a list line so the list stays one screen.
LEAD_NOTE_MAX = 300
LISTED_NOTE_MAX = 100
_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")
# A subscription's heading: a mark and the words of its current license's standing.
_HEADING = {
    Standing.ACTIVE: ("✅", CustomerStanding.ACTIVE),
    Standing.IN_GRACE: ("⚠️", CustomerStanding.IN_GRACE),
    Standing.UPCOMING: ("🕒", CustomerStanding.UPCOMING),
    Standing.EXPIRED: ("⛔", CustomerStanding.EXPIRED),
    Standing.SUPERSEDED: ("⛔", CustomerStanding.EXPIRED),
}
OVER_MARK = "⚠️"


# ---- words for one license ---------------------------------------------------------------------


def _seat_details(license: LicenseRecord) -> str:
    parts = [seats_words(license.user_count)]
    if license.previous_user_count is not None:
        parts.append(f"was {license.previous_user_count:,}")
    if license.trueup_quantity:
        parts.append(plural(license.trueup_quantity, "true-up"))
    return ", ".join(parts)


def _recipient(license: LicenseRecord, *, include_contact_emails: bool) -> str:
    """Who received the license: the contact's name, and the address only for an audience
    that may read it (bot/answers/redaction.py)."""
    parts: list[str] = []
    if license.contact_name and license.contact_name.strip():
        parts.append(escape_text(license.contact_name, CONTACT_NAME_MAX))
    if include_contact_emails and license.contact_email and license.contact_email.strip():
        parts.append(mailto_link(license.contact_email))
    return " ".join(parts)


def _date_range(license: LicenseRecord) -> str:
    end = format_date(license.expires_at) if license.expires_at else "no expiry"
    return f"{format_date(license.starts_at)} → {end}"


def _license_link(license: LicenseRecord, links: Links) -> str:
    return link(links.license(license.id), f"#{license.id}")


def _license_note(license: LicenseRecord, max_length: int) -> str:
    """ "Note: …" for a license whose record carries its internal note, else ""."""
    note = escape_text(license.notes, max_length) if license.notes else ""
    return f"📝 Note: {note}" if note else ""


def _licensee(license: LicenseRecord, customer_name: str) -> str | None:
    """The licensee, when the license names another company than the card's (not merely
    another spelling of its name: `Wayne Enterprises, Inc.` on Wayne Enterprises' card)."""
    company = (license.company or "").strip()
    if company and company_search_key(company) != company_search_key(customer_name):
        return escape_text(license.company, NAME_MAX)
    return None


def _license_fields(
    license: LicenseRecord,
    *,
    customer_name: str,
    include_contact_emails: bool,
    with_subscription: bool = True,
) -> list[str]:
    """A license in full, as two-column fields that stack on a phone. `with_subscription`:
    False under a subscription's heading, which names it already."""
    fields = [
        f"*Seats*\n{_seat_details(license)}",
        f"*Starts*\n{format_date(license.starts_at)}",
        f"*Expires*\n{format_date(license.expires_at) if license.expires_at else 'no expiry'}",
        f"*Issued*\n{format_timestamp(license.issued_at)}",
    ]
    fields += _delivery_fields(license, include_contact_emails=include_contact_emails)
    if not with_subscription:
        fields = [field for field in fields if not field.startswith("*Subscription*")]
    if license.license_type:
        # CustomersDot's own export has no type: then nothing is said, not "unknown".
        fields.append(f"*Type*\n{escape_text(license_type_label(license.license_type), 40)}")
    licensee = _licensee(license, customer_name)
    if licensee:
        fields.append(f"*Licensee*\n{licensee}")
    return fields[:SECTION_FIELDS_MAX]


def _delivery_fields(license: LicenseRecord, *, include_contact_emails: bool) -> list[str]:
    """Who received the license and on which subscription: the card's and the unfurl's fields."""
    fields: list[str] = []
    recipient = _recipient(license, include_contact_emails=include_contact_emails).replace(
        " <mailto", "\n<mailto"
    )
    if recipient:
        fields.append(f"*Sent to*\n{recipient}")
    subscription = license.subscription or license.zuora_subscription_name
    if subscription:
        fields.append(f"*Subscription*\n{escape_text(subscription, SHORT_CODE_MAX)}")
    return fields


def _summary(ranked: RankedLicense, today: date) -> str:
    license = ranked.license
    return " · ".join(
        [
            escape_text(plan_label(license.plan), PLAN_MAX),
            seats_words(license.user_count),
            relative_dates(license, ranked.standing, today),
        ]
    )


# ---- seats in use and servers ------------------------------------------------------------------


def seats_in_use_words(seats: SeatUsage) -> str:
    """`412 of 400 seats in use: 12 over` (flagged), `380 of 400 seats in use`."""
    if seats.bought is None:
        words = f"{plural(seats.in_use, 'user')} in use (seats bought unknown)"
    else:
        words = f"{seats.in_use:,} of {plural(seats.bought, 'seat')} in use"
        if seats.over:
            words = f"{OVER_MARK} *{words}: {seats.over:,} over*"
    if seats.historical_max is not None:
        words += f" · historical max {seats.historical_max:,}"
    return words


def _usage_line(subscription: SubscriptionOverview, today: date) -> str | None:
    if subscription.seats is not None:
        return seats_in_use_words(subscription.seats)
    if subscription.hosts:
        newest = subscription.hosts[0].last_ping_at
        when = f"; last {ago_words(_days_since(newest, today))}" if newest else ""
        if any(is_recent(host, today) for host in subscription.hosts):
            # Pinging, but without user counts (usage ping's counts turned off).
            return f"Servers report no user counts{when}."
        return f"No usage reported in the last 30 days{when}."
    return None


def _days_since(moment: datetime, today: date) -> int:
    return (today - as_utc(moment).date()).days


def _days_ago(days: int) -> str:
    """A ping's age: in days while days tell (whether it counts: 30), then in months."""
    if 1 < days < 90:
        return f"{days:,} days ago"
    return ago_words(days)


def _host_line(host: HostRecord, links: Links, today: date) -> str:
    hostname = escape_text(host.hostname, HOSTNAME_MAX)
    name = link(links.license_hostnames(host.license_id), hostname) if host.license_id else hostname
    parts = [name]
    if host.gitlab_version:
        parts.append(escape_text(host.gitlab_version, SHORT_CODE_MAX))
    if host.active_user_count is not None:
        parts.append(plural(host.active_user_count, "active user"))
    if host.billable_user_count is not None:
        parts.append(f"{host.billable_user_count:,} billable")
    if host.last_ping_at is not None:
        reported = f"reported {_days_ago(_days_since(host.last_ping_at, today))}"
        if not is_recent(host, today):
            reported += " (older than 30 days)"
        parts.append(reported)
    return "• " + " · ".join(parts)


def _servers_text(
    hosts: Sequence[HostRecord], links: Links, today: date, *, plan: str, license_id: int
) -> str:
    if not hosts:
        why = " (GitLab.com subscriptions send none)" if plan.startswith("gitlab_com") else ""
        return f"*Servers*: no usage data{why}."
    lines = [f"*Servers* ({len(hosts):,})"]
    lines += [_host_line(host, links, today) for host in hosts[:HOSTS_SHOWN]]
    hidden = len(hosts) - HOSTS_SHOWN
    if hidden > 0:
        more = link(links.license_hostnames(license_id), "version.gitlab.com")
        lines.append(f"and {hidden:,} more on {more}")
    return "\n".join(lines)


# ---- one subscription --------------------------------------------------------------------------


def _subscription_label(subscription: SubscriptionOverview) -> str:
    if subscription.name is None:
        return "no subscription"
    return escape_text(subscription.name, SHORT_CODE_MAX)


def _heading(standing: Standing) -> str:
    mark, words = _HEADING[standing]
    heading = f"{mark} *{capitalised(CUSTOMER_STANDING_WORDS[words])}*"
    return heading + (". Newest:" if words is CustomerStanding.EXPIRED else "")


def _subscription_blocks(
    subscription: SubscriptionOverview,
    links: Links,
    today: date,
    *,
    position: int,
    customer_name: str,
    include_contact_emails: bool,
) -> list[Block]:
    """A subscription in full: its current license, seats in use against seats bought, a
    renewal already issued, its servers, and the links to Zuora, CustomersDot and the
    hostnames reporting it."""
    current = subscription.current
    license = current.license
    lines = [
        f"{_heading(current.standing)} {_license_link(license, links)}"
        f" · {_subscription_label(subscription)}",
        f"*{_summary(current, today)}*",
    ]
    usage = _usage_line(subscription, today)
    if usage:
        lines.append(usage)
    blocks: list[Block] = [
        SectionBlock(
            text=mrkdwn("\n".join(lines)),
            fields=[
                mrkdwn(field)
                for field in _license_fields(
                    license,
                    customer_name=customer_name,
                    include_contact_emails=include_contact_emails,
                    with_subscription=False,
                )
            ],
        )
    ]
    extra: list[str] = []
    note = _license_note(license, LEAD_NOTE_MAX)
    if note:
        extra.append(note)
    if subscription.renewal is not None:
        renewal = subscription.renewal.license
        starts = renewal.starts_at
        when = f"starts {format_date(starts)}" if starts else "starts later"
        extra.append(
            f"🔁 Renewal issued, {when}: {_license_link(renewal, links)} "
            f"{escape_text(plan_label(renewal.plan), PLAN_MAX)} · {seats_words(renewal.user_count)}"
        )
    if extra:
        blocks.append(context_block(*extra))
    blocks.append(
        section_block(
            _servers_text(
                subscription.hosts, links, today, plan=license.plan or "", license_id=license.id
            )
        )
    )
    blocks.append(_link_buttons(license, links, position))
    return blocks


def _link_buttons(license: LicenseRecord, links: Links, position: int) -> ActionsBlock:
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
    block_id = ids.CARD_LINKS_BLOCK if position == 0 else f"{ids.CARD_LINKS_BLOCK}:{position}"
    return ActionsBlock(block_id=block_id, elements=buttons)


def _subscription_line(subscription: SubscriptionOverview, links: Links, today: date) -> str:
    """A subscription in force beyond those shown in full: one line."""
    current = subscription.current
    parts = [
        f"{_license_link(current.license, links)} · {_subscription_label(subscription)}",
        _summary(current, today),
    ]
    if subscription.seats is not None:
        parts.append(seats_in_use_words(subscription.seats))
    return "• " + " · ".join(parts)


# ---- trials, history, same-domain licenses ------------------------------------------------------


def _trial_status(ranked: RankedLicense, today: date) -> str:
    license = ranked.license
    if ranked.standing is Standing.ACTIVE and license.expires_at is not None:
        return f"running, {_ends_in(license.expires_at, today)}"
    return STANDING_WORDS[ranked.standing]


def _ends_in(expires_at: date, today: date) -> str:
    days = (expires_at - today).days
    if days <= 0:
        return "ends today"
    return "ends tomorrow" if days == 1 else f"ends in {span_words(days)}"


def _trial_lines(
    ranked: RankedLicense,
    links: Links,
    today: date,
    hosts: Sequence[HostRecord],
    *,
    include_contact_emails: bool,
) -> str:
    """A trial: plan, users, exact dates and where it stands; who requested it and when; its
    servers."""
    license = ranked.license
    users = "" if license.user_count is None else f" · {plural(license.user_count, 'user')}"
    plan = escape_text(plan_label(license.plan), PLAN_MAX)
    first = (
        f"• {_license_link(license, links)} {plan} trial{users} · {_date_range(license)}"
        f" · {_trial_status(ranked, today)}"
    )
    details: list[str] = []
    requester = _recipient(license, include_contact_emails=include_contact_emails)
    requested = f"requested {format_timestamp(license.issued_at)}"
    details.append(f"{requested} by {requester}" if requester else requested)
    if hosts:
        shown = ", ".join(escape_text(host.hostname, HOSTNAME_MAX) for host in hosts[:HOSTS_SHOWN])
        more = f" and {len(hosts) - HOSTS_SHOWN:,} more" if len(hosts) > HOSTS_SHOWN else ""
        details.append(f"servers: {shown}{more}")
    note = _license_note(license, LISTED_NOTE_MAX)
    if note:
        details.append(note)
    return first + "\n      " + " · ".join(details)


def _history_line(ranked: RankedLicense, links: Links, *, include_contact_emails: bool) -> str:
    """An older license: what it was, who received it and when it was issued."""
    license = ranked.license
    kind = " trial" if license.trial else ""
    parts = [
        f"{_license_link(license, links)} {escape_text(plan_label(license.plan), PLAN_MAX)}{kind}",
        seats_words(license.user_count),
        f"{_date_range(license)} ({STANDING_WORDS[ranked.standing]})",
    ]
    recipient = _recipient(license, include_contact_emails=include_contact_emails)
    if recipient:
        parts.append(f"sent to {recipient}")
    parts.append(f"issued {format_timestamp(license.issued_at)}")
    note = _license_note(license, LISTED_NOTE_MAX)
    return "• " + " · ".join(parts) + (f"\n      {note}" if note else "")


def _history_groups(
    overview: LicenseOverview, shown_in_full: int
) -> list[tuple[str, list[RankedLicense]]]:
    """The licenses the card does not show in full, by subscription, card order: the history
    of the subscriptions shown in full, and every license of the others not in force."""
    groups: list[tuple[str, list[RankedLicense]]] = []
    for position, subscription in enumerate(overview.subscriptions):
        if position < shown_in_full:
            listed = list(subscription.history)
        elif subscription.in_force:
            continue  # a line of its own above, and its history in "Show all licenses"
        else:
            listed = list(subscription.licenses)
        if listed:
            groups.append((_group_heading(subscription), listed))
    return groups


def _history_entries(
    groups: Sequence[tuple[str, Sequence[RankedLicense]]],
    links: Links,
    *,
    include_contact_emails: bool,
) -> list[tuple[str, str]]:
    """(group heading, line) for each license of each group, in order."""
    return [
        (heading, _history_line(ranked, links, include_contact_emails=include_contact_emails))
        for heading, listed in groups
        for ranked in listed
    ]


def _with_headings(entries: Sequence[tuple[str, str]]) -> list[str]:
    """The lines, each group's heading before its first line."""
    lines: list[str] = []
    heading: str | None = None
    for group, line in entries:
        if group != heading:
            lines.append(group)
            heading = group
        lines.append(line)
    return lines


def _group_heading(subscription: SubscriptionOverview) -> str:
    return f"*{capitalised(_subscription_label(subscription))}*"


def _same_domain_text(same_domain: Sequence[SameDomainLicense], links: Links) -> str:
    """`📨 Also sent to @domain: trial #… (name), …; Also sent to @other: …`, the licenses
    shown while the line stays within a context element's 3,000 characters (an escaped name
    can be five times as long as it was: `&` is `&amp;`); " and more" says some were not."""
    by_domain: dict[str, list[str]] = {}
    for license in same_domain[:SAME_DOMAIN_SHOWN]:
        kind = "trial" if license.trial else "license"
        label = link(links.license(license.license_id), f"{kind} #{license.license_id}")
        company = (
            escape_text(license.company, SAME_DOMAIN_NAME_MAX)
            if license.company.strip()
            else "no name"
        )
        by_domain.setdefault(license.domain, []).append(f"{label} ({company})")
    more = " and more"
    budget = CONTEXT_TEXT_MAX - len(more)
    text = "📨 "
    shown = 0
    for domain, found in by_domain.items():
        heading = (
            f"{'; ' if shown else ''}Also sent to @{escape_text(domain, SAME_DOMAIN_NAME_MAX)}: "
        )
        for position, entry in enumerate(found):
            addition = (heading if position == 0 else ", ") + entry
            if len(text) + len(addition) > budget:
                if not shown:  # a single entry too long: said without it
                    return "📨 Licenses were also sent to its domains under other names"
                return text + more
            text += addition
            shown += 1
    return text + (more if len(same_domain) > shown else "")


# ---- buttons -----------------------------------------------------------------------------------


def send_to_me_button(customer_key: str) -> ButtonElement:
    # Ephemeral replies vanish and never reach a phone; a DM from the bot stays.
    return ButtonElement(
        text=button_text("Send to me"),
        action_id=ids.LICENSE_SEND_TO_ME_ACTION,
        value=customer_key,
    )


def history_value(customer_key: str, offset: int) -> str:
    """A "Show all licenses" (or its "Show more") button's value: the customer and the line the
    page starts at. Forged values only ever show a customer's list to someone allowed, through
    the same allowlist, rate limit and audit as a card."""
    return json.dumps({"k": customer_key, "o": offset}, ensure_ascii=False, separators=(",", ":"))


def read_history_value(value: str) -> tuple[str, int] | None:
    decoded = read_button_json(value)
    if decoded is None:
        return None
    key, offset = decoded.get("k"), decoded.get("o")
    if not isinstance(key, str) or not key or type(offset) is not int or offset < 0:
        return None
    return key, offset


def _history_button(
    customer_key: str, offset: int = 0, text: str = "Show all licenses"
) -> ButtonElement | None:
    value = history_value(customer_key, offset)
    if len(value) > BUTTON_VALUE_MAX:
        return None
    return ButtonElement(text=button_text(text), action_id=ids.LICENSE_HISTORY_ACTION, value=value)


def _card_actions(
    customer_key: str, *, shareable: bool, has_more: bool, followable: bool = False
) -> ActionsBlock | None:
    if len(customer_key) > BUTTON_VALUE_MAX:
        return None  # cannot round-trip through a button value; keys are far shorter
    buttons: list[ButtonElement] = []
    if followable:
        # Slack runs no slash command in a thread: this button is how a thread follows.
        buttons.append(follow_in_thread_button(customer_key))
    if shareable:
        buttons.append(
            ButtonElement(
                text=button_text("Share in channel"),
                action_id=ids.LICENSE_SHARE_ACTION,
                value=customer_key,
            )
        )
        buttons.append(send_to_me_button(customer_key))
    if has_more:
        history = _history_button(customer_key)
        if history is not None:
            buttons.append(history)
    if not buttons:
        return None
    return ActionsBlock(block_id=ids.CARD_ACTIONS_BLOCK, elements=buttons)


# ---- the card ----------------------------------------------------------------------------------


def _note_section(note: str) -> SectionBlock | None:
    text = escape_text(note, NOTE_MAX)
    return section_block(f"💬 {text}") if text else None


def _shared_by(user_id: str) -> str:
    if _SLACK_USER_ID.fullmatch(user_id):
        return f"Shared by <@{user_id}>"  # a real mention: readers see who posted the card
    return f"Shared by {escape_text(user_id, SHORT_CODE_MAX)}"


def _counts_line(data: CustomerLicenses, links: Links) -> str:
    """`2 subscriptions in force · 5 licenses · 2 trials · Salesforce account: …`."""
    overview, customer = data.overview, data.customer
    counts: list[str] = []
    if len(overview.in_force) > 1:
        counts.append(f"{len(overview.in_force):,} subscriptions in force")
    counts.append(license_counts_words(overview.paid_count, len(overview.trials)))
    salesforce_id = usable_id(customer.salesforce_account_id)
    # The account's name (from a subscriptions export) is the name as in Salesforce.
    account = f"Salesforce account: {customer.account_name}" if customer.account_name else None
    if salesforce_id:
        counts.append(
            link(links.salesforce_account(salesforce_id), account or "Salesforce account")
        )
    elif account:
        counts.append(escape_text(account, NAME_MAX))
    return " · ".join(counts)


def _running_trial_text(ranked: RankedLicense, links: Links, today: date) -> str:
    license = ranked.license
    ends = _ends_in(license.expires_at, today) if license.expires_at else "no end date"
    users = "" if license.user_count is None else f", {plural(license.user_count, 'user')}"
    plan = escape_text(plan_label(license.plan), PLAN_MAX)
    return f"🧪 *In trial, {ends}*: {plan} trial{users} ({_license_link(license, links)})"


def _featured(
    overview: LicenseOverview, license_id: int | None, shown_in_full: int
) -> RankedLicense | None:
    """The license a deal thread or a query names (`/license 600011`), when the card would not
    already show it in full (the current license of one of the first `shown_in_full`
    subscriptions)."""
    if license_id is None:
        return None
    shown = {sub.current.license.id for sub in overview.subscriptions[:shown_in_full]}
    for ranked in (*overview.paid, *overview.trials):
        if ranked.license.id == license_id and license_id not in shown:
            return ranked
    return None


def _featured_section(
    ranked: RankedLicense,
    links: Links,
    *,
    customer_name: str,
    include_contact_emails: bool,
) -> SectionBlock:
    license = ranked.license
    kind = "trial" if license.trial else "license"
    text = (
        f"📌 *Featured {kind}* {_license_link(license, links)} ({STANDING_WORDS[ranked.standing]})"
        f"\n*{escape_text(plan_label(license.plan), PLAN_MAX)} · {seats_words(license.user_count)}"
        f" · {_date_range(license)}*"
    )
    fields = _license_fields(
        license, customer_name=customer_name, include_contact_emails=include_contact_emails
    )
    return SectionBlock(text=mrkdwn(text), fields=[mrkdwn(field) for field in fields])


def build_license_card(
    data: CustomerLicenses,
    links: Links,
    *,
    freshness: Freshness,
    include_contact_emails: bool,
    shareable: bool = True,
    shared_by_user_id: str | None = None,
    today: date | None = None,
    featured_license_id: int | None = None,
    note: str | None = None,
    followable: bool = False,
) -> CardMessage:
    """What the customer has right now: every subscription in force in full (current license,
    seats in use against seats bought, servers, links), then trials (a running one said near
    the top), then the history, each license with who received it; the rest behind "Show all
    licenses", never cut silently.

    `featured_license_id` (a license of the customer's: a deal thread's, or the one a query
    named) is shown first; `note` is the poster's words, under the header. `followable`: a card
    the bot posts into a conversation carries "Follow in this thread". A license's internal
    `notes` show under it when its record carries them: the redaction rule
    (bot/answers/redaction.py) leaves them only in the requester's records. `freshness`: the
    age of its licenses, subscriptions and usage pings (a stale kind said under the header).
    """
    today = today or data.today or datetime.now(UTC).date()
    overview = data.overview
    customer = data.customer
    name = escape_text(customer.name, NAME_MAX)
    emails = include_contact_emails

    blocks: list[Block] = [header_block(customer.name)]
    blocks += stale_blocks(freshness)
    blocks.append(context_block(_counts_line(data, links)))
    if shared_by_user_id:
        blocks.append(context_block(_shared_by(shared_by_user_id)))
    note_section = _note_section(note) if note else None
    if note_section is not None:
        blocks.append(note_section)
    # In full: every subscription in force (up to SUBSCRIPTIONS_SHOWN), else the one that
    # leads (in grace, upcoming, or the newest lapsed).
    in_full = max(len(overview.in_force), 1 if overview.subscriptions else 0)
    shown_in_full = min(in_full, SUBSCRIPTIONS_SHOWN)
    featured = _featured(overview, featured_license_id, shown_in_full)
    if featured is not None:
        blocks.append(
            _featured_section(
                featured, links, customer_name=customer.name, include_contact_emails=emails
            )
        )
    running = overview.running_trial
    if running is not None:
        blocks.append(section_block(_running_trial_text(running, links, today)))

    standing = customer_standing(overview)
    for position, subscription in enumerate(overview.subscriptions[:shown_in_full]):
        blocks.extend(
            _subscription_blocks(
                subscription,
                links,
                today,
                position=position,
                customer_name=customer.name,
                include_contact_emails=emails,
            )
        )
    hidden = 0
    more_in_force = overview.in_force[shown_in_full:]
    if more_in_force:
        lines = [f"*{plural(len(more_in_force), 'more subscription')} in force*"]
        lines += [
            _subscription_line(sub, links, today) for sub in more_in_force[:MORE_IN_FORCE_SHOWN]
        ]
        unlisted = more_in_force[MORE_IN_FORCE_SHOWN:]
        if unlisted:
            lines.append(f"…and {plural(len(unlisted), 'more subscription')} in force")
        blocks.extend(section_block(text) for text in pack_lines(lines))
        # Each has a line (its current license, unless unlisted); the rest are in "Show all".
        hidden += sum(len(sub.licenses) - 1 for sub in more_in_force) + len(unlisted)
    if not overview.subscriptions:
        blocks.append(section_block(f"*{capitalised(CUSTOMER_STANDING_WORDS[standing])}.*"))

    trials = overview.trials
    if trials:
        blocks.append(DIVIDER)
        lines = [f"*{plural(len(trials), 'trial')}*, newest first"]
        lines += [
            _trial_lines(
                ranked,
                links,
                today,
                data.hosts_by_license.get(ranked.license.id, ()),
                include_contact_emails=emails,
            )
            for ranked in trials[:TRIALS_SHOWN]
        ]
        hidden += max(len(trials) - TRIALS_SHOWN, 0)
        if len(trials) > TRIALS_SHOWN:
            lines.append(f"…and {plural(len(trials) - TRIALS_SHOWN, 'more trial')}")
        blocks.extend(section_block(text) for text in pack_lines(lines))

    entries = _history_entries(
        _history_groups(overview, shown_in_full), links, include_contact_emails=emails
    )
    if entries:
        blocks.append(DIVIDER)
        lines = [f"*History* ({plural(len(entries), 'license')}), newest first"]
        lines += _with_headings(entries[:HISTORY_SHOWN])
        hidden_history = len(entries) - HISTORY_SHOWN
        if hidden_history > 0:
            lines.append(f"…and {plural(hidden_history, 'more license')}")
            hidden += hidden_history
        blocks.extend(section_block(text) for text in pack_lines(lines))
    if data.same_domain:
        blocks.append(context_block(_same_domain_text(data.same_domain, links)))

    actions = _card_actions(
        customer.key, shareable=shareable, has_more=hidden > 0, followable=followable
    )
    if actions is not None:
        blocks.append(actions)
    blocks.append(freshness_footer(freshness))
    fallback = stale_fallback(freshness, _fallback(name, overview, standing, today))
    return CardMessage(text=fallback_text(fallback), blocks=blocks)


def _fallback(name: str, overview: LicenseOverview, standing: CustomerStanding, today: date) -> str:
    """The notification and screen-reader line: the lead subscription's current license, or the
    standing; a running trial too."""
    lead = overview.lead
    if lead is None:
        words = f"{name}: {CUSTOMER_STANDING_WORDS[standing]}"
        if overview.trials:
            words += f", {plural(len(overview.trials), 'trial')}"
    else:
        words = f"{name}: {_summary(lead, today)}"
        if len(overview.in_force) > 1:
            words += f" (+{plural(len(overview.in_force) - 1, 'more subscription')} in force)"
    running = overview.running_trial
    if running is not None and running.license.expires_at is not None:
        words += f"; in trial, {_ends_in(running.license.expires_at, today)}"
    return words


# ---- all licenses ("Show all licenses") --------------------------------------------------------


def build_license_history(
    data: CustomerLicenses,
    links: Links,
    *,
    freshness: Freshness,
    include_contact_emails: bool,
    offset: int = 0,
) -> CardMessage:
    """Every license of the customer, by subscription (each current first) then the trials, with
    who received each and when it was issued: a page of HISTORY_PAGE_LINES lines from `offset`,
    with "Show more" for the next."""
    overview = data.overview
    name = escape_text(data.customer.name, NAME_MAX)
    groups: list[tuple[str, Sequence[RankedLicense]]] = [
        (_group_heading(subscription), subscription.licenses)
        for subscription in overview.subscriptions
    ]
    groups.append(("*Trials*", overview.trials))
    entries = _history_entries(groups, links, include_contact_emails=include_contact_emails)
    page = entries[offset : offset + HISTORY_PAGE_LINES]
    total = len(entries)
    intro = (
        f"*{name}*: all {plural(total, 'license')}, by subscription"
        if offset == 0
        else f"*{name}*: licenses {offset + 1:,}-{offset + len(page):,} of {total:,}"
    )
    lines = [intro, *_with_headings(page)]
    if not page:
        lines.append("No more licenses.")
    blocks: list[Block] = stale_blocks(freshness)
    blocks += [section_block(text) for text in pack_lines(lines)]
    following = offset + HISTORY_PAGE_LINES
    if following < total:
        button = _history_button(data.customer.key, following, "Show more")
        blocks.append(context_block(f"{plural(total - following, 'more license')} after these."))
        if button is not None:
            blocks.append(ActionsBlock(block_id=ids.HISTORY_MORE_BLOCK, elements=[button]))
    blocks.append(freshness_footer(freshness))
    fallback = stale_fallback(freshness, f"{name}: {plural(total, 'license')}")
    return CardMessage(text=fallback_text(fallback), blocks=blocks)


# ---- the unfurl --------------------------------------------------------------------------------

_UNFURL_STANDING = {
    Standing.ACTIVE: "✅ Active",
    Standing.IN_GRACE: "⚠️ Expired, in grace period",
    Standing.EXPIRED: "⛔ Expired",
    Standing.UPCOMING: "🕒 Upcoming",
    Standing.SUPERSEDED: "⛔ Superseded",
}


def subscription_of(overview: LicenseOverview, license_id: int) -> SubscriptionOverview | None:
    for subscription in overview.subscriptions:
        if any(ranked.license.id == license_id for ranked in subscription.licenses):
            return subscription
    return None


def build_license_unfurl(
    data: CustomerLicenses,
    license_id: int,
    links: Links,
    *,
    freshness: Freshness,
    include_contact_emails: bool,
    today: date | None = None,
) -> CardMessage:
    """The compact card under a posted license link: THAT license featured, then its
    subscription's current license when it is another one, and the customer's counts and
    standing as the card says them. No header, no buttons: it hangs under someone else's
    message, so it stays a few lines long."""
    today = today or data.today or datetime.now(UTC).date()
    overview = data.overview
    name = escape_text(data.customer.name, NAME_MAX)
    featured = next(
        (
            ranked
            for ranked in (*overview.paid, *overview.trials)
            if ranked.license.id == license_id
        ),
        None,
    )
    if featured is None:
        # The link names a license the store no longer files under this customer.
        text = f"*{name}*\nLicense #{int(license_id)} is not in the license store."
        blocks: list[Block] = [
            *stale_blocks(freshness),
            section_block(text),
            freshness_footer(freshness),
        ]
        fallback = stale_fallback(freshness, f"{name}: license #{int(license_id)}")
        return CardMessage(text=fallback_text(fallback), blocks=blocks)

    license = featured.license
    summary = _summary(featured, today)
    heading = _UNFURL_STANDING[featured.standing] + (" trial" if license.trial else "")
    text = f"*{name}*\n{heading} license {_license_link(license, links)}: {summary}"

    fields = [f"*Starts → expires*\n{_date_range(license)}"]
    if license.license_type:
        fields.insert(0, f"*Type*\n{escape_text(license_type_label(license.license_type), 40)}")
    fields += _delivery_fields(license, include_contact_emails=include_contact_emails)
    blocks = stale_blocks(freshness)
    blocks.append(SectionBlock(text=mrkdwn(text), fields=[mrkdwn(field) for field in fields]))

    context: list[str] = []
    subscription = subscription_of(overview, license.id)
    if subscription is not None and subscription.current.license.id != license.id:
        current = subscription.current
        context.append(
            f"Current license of {_subscription_label(subscription)}: "
            f"{_license_link(current.license, links)} "
            f"{escape_text(plan_label(current.license.plan), PLAN_MAX)}, "
            f"{seats_words(current.license.user_count)} ({STANDING_WORDS[current.standing]})"
        )
    standing = CUSTOMER_STANDING_WORDS[customer_standing(overview)]
    counts = license_counts_words(overview.paid_count, len(overview.trials))
    context.append(f"{name}: {counts} · {standing}")
    blocks.append(context_block(*context))
    blocks.append(freshness_footer(freshness))
    return CardMessage(
        text=fallback_text(stale_fallback(freshness, f"{name}: {summary}")), blocks=blocks
    )
