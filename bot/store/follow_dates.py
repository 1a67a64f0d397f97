"""The daily pass of `python -m bot notify`: follow events that come from the calendar and the
usage pings rather than from an import (bot/store/follows.py records them once each).

- expiry: a subscription's license in force expires in 30, 7 or 1 days, or expired (in its
  grace period, nothing else in force) — each threshold once per expiry date, only the tightest
  one reached (a first look 5 days before says "7 days", not also "30"), and never while a
  renewal is already issued. The event happened on the threshold's day (`occurred_at`), so a
  follow started after that day is not told of it.
- seats: seats in use on a subscription in force, as the card counts them (bot.licensing:
  the highest user count its servers reported in the last 30 days), reached 90% or 100% of the
  seats bought. Each subscription's level is kept (models.SeatLevel): a rise records one event
  (`seats:<subscription>:<level>:<n>`, n counting the rises), a fall only lowers the level, so a
  later rise posts again and a level held for weeks posts once. The first look at a
  subscription is its baseline: a level already reached is not news. So is the first look
  since its customer is watched again: a level last seen before the customer's follows began
  (`watched_since`: all of them unfollowed or paused in between) is set again without an
  event, since whatever it crossed meanwhile happened before anyone followed.

Only the customers of active follows are looked at: one card's worth of reading per customer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.records import Standing, SubscriptionOverview
from bot.store import follows
from bot.store.models import SeatLevel
from bot.store.queries import load_customer_licenses

EXPIRY_THRESHOLDS = (1, 7, 30)  # days before expiry, tightest first
SEAT_LEVELS = (100, 90)  # percent of seats bought, highest first


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _subscription_key(subscription: SubscriptionOverview) -> str:
    return subscription.name or f"license:{subscription.current.license.id}"


def run_daily_pass(
    session: Session, watched_since: Mapping[str, datetime], *, now: datetime
) -> int:
    """Record the expiry and seats events as of `now` of the customers `watched_since` names,
    each with the moment since when it has been followed without a break (the earliest
    `active_since` of its active follows that look at dates); how many events were new."""
    today = now.astimezone(UTC).date()
    recorded = 0
    for customer_key in sorted(watched_since):
        found = load_customer_licenses(session, customer_key, today=today)
        if found is None:
            continue
        since = watched_since[customer_key]
        for subscription in found.overview.subscriptions:
            recorded += _expiry(session, found.customer.key, subscription, today, now)
            recorded += _seats(session, found.customer.key, subscription, since, now)
    return recorded


def _expiry(
    session: Session,
    customer_key: str,
    subscription: SubscriptionOverview,
    today: date,
    now: datetime,
) -> int:
    current = subscription.current
    license = current.license
    if license.expires_at is None or subscription.renewal is not None:
        return 0
    if current.standing is Standing.ACTIVE:
        days = (license.expires_at - today).days
        reached = [t for t in EXPIRY_THRESHOLDS if days <= t]
        if not reached:
            return 0
        threshold: int | str = reached[0]
        occurred = _start_of(license.expires_at - timedelta(days=reached[0]))
    elif current.standing is Standing.IN_GRACE:
        threshold = "expired"
        occurred = _start_of(license.expires_at + timedelta(days=1))
    else:
        return 0
    key = _subscription_key(subscription)
    facts: dict[str, Any] = {
        "subscription": subscription.name,
        "license_id": license.id,
        "plan": license.plan,
        "seats": license.user_count,
        "expires_on": license.expires_at.isoformat(),
        "threshold": threshold,
    }
    return int(
        follows.record_event(
            session,
            kind="expiry",
            customer_key=customer_key,
            subscription_name=subscription.name,
            subject=str(license.id),
            dedupe_key=f"expiry:{key}:{license.expires_at.isoformat()}:{threshold}",
            facts=facts,
            occurred_at=occurred,
            now=now,
        )
    )


def seat_level(in_use: int, bought: int) -> int:
    """The highest of SEAT_LEVELS that `in_use` reaches of `bought` (0: none)."""
    for level in SEAT_LEVELS:
        if in_use * 100 >= bought * level:
            return level
    return 0


def _seats(
    session: Session,
    customer_key: str,
    subscription: SubscriptionOverview,
    watched_since: datetime,
    now: datetime,
) -> int:
    seats = subscription.seats
    if not subscription.in_force or seats is None or not seats.bought:
        return 0
    key = _subscription_key(subscription)[:64]
    level = seat_level(seats.in_use, seats.bought)
    stored = session.get(SeatLevel, key)
    if stored is None:
        session.add(SeatLevel(subscription_name=key, level=level, crossings=0, seen_at=now))
        session.flush()
        return 0
    unwatched_since_seen = stored.seen_at < watched_since
    stored.seen_at = now
    if unwatched_since_seen or level <= stored.level:
        # A fall resets (the next rise is news again); a level from before the customer was
        # watched again is the new baseline.
        stored.level = level
        session.flush()
        return 0
    stored.level = level
    stored.crossings += 1
    session.flush()
    facts: dict[str, Any] = {
        "subscription": subscription.name,
        "in_use": seats.in_use,
        "bought": seats.bought,
        "level": level,
        "over": seats.over,
    }
    return int(
        follows.record_event(
            session,
            kind="seats",
            customer_key=customer_key,
            subscription_name=subscription.name,
            subject=key,
            dedupe_key=f"seats:{key}:{level}:{stored.crossings}",
            facts=facts,
            occurred_at=now,
            now=now,
        )
    )
