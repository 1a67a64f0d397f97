"""What a customer has right now: its licenses grouped by subscription, the current license of
each, its servers and seats in use, and where the customer stands (ARCHITECTURE.md: the
active-license rule).

A customer may hold several subscriptions at once (departments, self-managed and SaaS, an
add-on), so the active-license rule applies *per subscription*: within one subscription, the
non-trial license whose start <= today <= expiry is current, the latest issued if several (an
early renewal or a true-up supersedes the license it replaces); none active, a license in the
14 days after its expiry (in grace); else one issued but not yet started; else the newest. A
subscription is a Zuora subscription's name (every version's id joins it); a paid license
without any subscription is one of its own.

Pure: no session, no clock. The caller passes `today` (a UTC date) so every card built from
one lookup agrees on what "today" is.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

from bot.records import (
    CustomerStanding,
    HostRecord,
    LicenseOverview,
    LicenseRecord,
    RankedLicense,
    SeatUsage,
    Standing,
    SubscriptionOverview,
)

# A lapsed subscription keeps leading the card this long while its renewal is being sorted out.
GRACE_PERIOD = timedelta(days=14)
# A server counts towards its subscription's seats in use while its newest ping is this recent.
SEATS_IN_USE_WINDOW = timedelta(days=30)

_NEVER = datetime.min.replace(tzinfo=UTC)
# The card's order of subscriptions: in force first, then in grace, then starting soon, then
# lapsed.
_STANDING_ORDER = {
    Standing.ACTIVE: 0,
    Standing.IN_GRACE: 1,
    Standing.UPCOMING: 2,
    Standing.EXPIRED: 3,
    Standing.SUPERSEDED: 4,
}


def standing(license: LicenseRecord, today: date) -> Standing:
    """Where `license` stands on `today`, judged by its own dates alone.

    No start date counts as started; no expiry date is open-ended. IN_GRACE here only means
    "expired less than 14 days ago": `summarise_licenses` demotes it to EXPIRED when another
    license of its subscription is current, and trials never get a grace period.
    """
    if license.starts_at is not None and license.starts_at > today:
        return Standing.UPCOMING
    if license.expires_at is None or today <= license.expires_at:
        return Standing.ACTIVE
    if not license.trial and today <= license.expires_at + GRACE_PERIOD:
        return Standing.IN_GRACE
    return Standing.EXPIRED


def newest_first_key(license: LicenseRecord) -> tuple[date, datetime, int]:
    """Sort key, ascending = oldest: by start, then issued, then id.

    A license without a start date is placed by the day it was issued, so one issued last
    week does not sink below a license that started years ago.
    """
    issued = license.issued_at or _NEVER
    started = license.starts_at or (license.issued_at.date() if license.issued_at else date.min)
    return (started, issued, license.id)


def _latest_issued_key(license: LicenseRecord) -> tuple[datetime, date, int]:
    started, issued, license_id = newest_first_key(license)
    return (issued, started, license_id)


def _soonest_start_key(license: LicenseRecord) -> tuple[date, float, int]:
    """Ascending = starts first; of two starting together, the one issued last first."""
    started, issued, license_id = newest_first_key(license)
    return (started, -issued.timestamp() if issued is not _NEVER else 0.0, -license_id)


def summarise_licenses(
    licenses: Iterable[LicenseRecord],
    today: date,
    hosts_by_license: Mapping[int, Sequence[HostRecord]] | None = None,
) -> LicenseOverview:
    """A customer's licenses as the card shows them: its subscriptions (in force first, the
    largest first), each with its current license, renewal, history, servers and seats in use;
    then its trials, newest first."""
    hosts_by_license = hosts_by_license or {}
    by_subscription: dict[str, list[LicenseRecord]] = defaultdict(list)
    trials: list[LicenseRecord] = []
    for license in licenses:
        if license.trial:
            trials.append(license)
        else:
            key = license.subscription or f"license:{license.id}"
            by_subscription[key].append(license)
    subscriptions = [
        _subscription(group, today, hosts_by_license) for group in by_subscription.values()
    ]
    subscriptions.sort(key=_subscription_order)
    trials.sort(key=newest_first_key, reverse=True)
    return LicenseOverview(
        subscriptions=tuple(subscriptions),
        trials=tuple(RankedLicense(trial, standing(trial, today)) for trial in trials),
    )


def _subscription(
    licenses: list[LicenseRecord], today: date, hosts_by_license: Mapping[int, Sequence[HostRecord]]
) -> SubscriptionOverview:
    """One subscription's licenses: the current one by the active-license rule, a renewal
    already issued, the rest newest first."""
    licenses.sort(key=newest_first_key, reverse=True)
    standings = {license.id: standing(license, today) for license in licenses}

    def of(wanted: Standing) -> list[LicenseRecord]:
        return [license for license in licenses if standings[license.id] is wanted]

    active, in_grace, upcoming = of(Standing.ACTIVE), of(Standing.IN_GRACE), of(Standing.UPCOMING)
    if active:
        # Overlapping licenses (an early renewal, a true-up): the one issued last is current.
        current = max(active, key=_latest_issued_key)
    elif in_grace:
        current = in_grace[0]
    elif upcoming:
        current = min(upcoming, key=_soonest_start_key)
    else:
        current = licenses[0]
    renewal = None
    if upcoming and current not in upcoming:
        renewal = min(upcoming, key=_soonest_start_key)

    def ranked(license: LicenseRecord) -> RankedLicense:
        position = standings[license.id]
        if license is not current:
            if position is Standing.ACTIVE:
                position = Standing.SUPERSEDED
            elif position is Standing.IN_GRACE:
                # Grace only means something while nothing else of the subscription is current.
                position = Standing.EXPIRED
        return RankedLicense(license, position)

    hosts = _newest_first(
        host for license in licenses for host in hosts_by_license.get(license.id, ())
    )
    return SubscriptionOverview(
        name=current.subscription,
        current=ranked(current),
        renewal=ranked(renewal) if renewal is not None else None,
        history=tuple(
            ranked(license)
            for license in licenses
            if license is not current and license is not renewal
        ),
        hosts=hosts,
        seats=seats_in_use(hosts, current.user_count, today),
    )


def _subscription_order(subscription: SubscriptionOverview) -> tuple[object, ...]:
    current = subscription.current
    position = _STANDING_ORDER[current.standing]
    if current.standing is Standing.ACTIVE:
        # The largest first (the 400-seat subscription before the 25-seat add-on), then the one
        # expiring soonest.
        return (
            position,
            -(current.license.user_count or 0),
            current.license.expires_at or date.max,
            subscription.name or "",
            current.license.id,
        )
    started, issued, license_id = newest_first_key(current.license)
    # The newest first.
    return (position, -started.toordinal(), -(issued - _NEVER).total_seconds(), -license_id)


def _newest_first(hosts: Iterable[HostRecord]) -> tuple[HostRecord, ...]:
    return tuple(
        sorted(
            hosts,
            key=lambda host: (
                -(_as_utc(host.last_ping_at).timestamp() if host.last_ping_at else float("-inf")),
                host.hostname,
            ),
        )
    )


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def is_recent(host: HostRecord, today: date) -> bool:
    """Whether a server's newest ping counts towards seats in use (SEATS_IN_USE_WINDOW)."""
    if host.last_ping_at is None:
        return False
    return (today - _as_utc(host.last_ping_at).date()) <= SEATS_IN_USE_WINDOW


def seats_in_use(hosts: Iterable[HostRecord], bought: int | None, today: date) -> SeatUsage | None:
    """The highest user count (billable where reported) among the servers whose newest ping is
    recent, against `bought`; None when no recent ping reports users."""
    recent = [host for host in hosts if is_recent(host, today) and host.users_in_use is not None]
    if not recent:
        return None
    maxima = [host.historical_max_users for host in recent if host.historical_max_users is not None]
    return SeatUsage(
        in_use=max(host.users_in_use or 0 for host in recent),
        bought=bought,
        historical_max=max(maxima) if maxima else None,
        servers=len(recent),
    )


_CUSTOMER_STANDING_OF_LEAD = {
    Standing.ACTIVE: CustomerStanding.ACTIVE,
    Standing.IN_GRACE: CustomerStanding.IN_GRACE,
    Standing.EXPIRED: CustomerStanding.EXPIRED,
    Standing.UPCOMING: CustomerStanding.UPCOMING,
    Standing.SUPERSEDED: CustomerStanding.EXPIRED,  # never a subscription's current license
}


def customer_standing(overview: LicenseOverview) -> CustomerStanding:
    """Where the customer of `overview` stands: as its first subscription's current license
    does (the card's first line: a subscription in force, else in grace, else upcoming, else
    the newest lapsed), else trials only, else no license at all. The pick list, the card, the
    modals, the unfurl and the shell all say this one value, so a line cannot say "no active
    license" about a card that says "in grace period"."""
    if overview.lead is not None:
        return _CUSTOMER_STANDING_OF_LEAD[overview.lead.standing]
    return CustomerStanding.TRIAL_ONLY if overview.trials else CustomerStanding.NONE


def with_licenses_replaced(
    overview: LicenseOverview, replace_one: Callable[[RankedLicense], RankedLicense]
) -> LicenseOverview:
    """`overview` with every license passed through `replace_one`, the order kept (the
    redaction rule strips what an audience may not read this way)."""
    return LicenseOverview(
        subscriptions=tuple(
            dataclasses.replace(
                subscription,
                current=replace_one(subscription.current),
                renewal=(
                    replace_one(subscription.renewal) if subscription.renewal is not None else None
                ),
                history=tuple(replace_one(ranked) for ranked in subscription.history),
            )
            for subscription in overview.subscriptions
        ),
        trials=tuple(replace_one(ranked) for ranked in overview.trials),
    )
