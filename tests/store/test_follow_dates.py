"""The daily pass's expiry and seats events (bot/store/follow_dates.py), on both engines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.follow_dates import run_daily_pass, seat_level
from bot.store.models import FollowEvent, Host, License
from tests.helpers.store_rows import add_customer

ACME = "sub:A-S1"
TODAY = date(2026, 12, 7)
# Followed since long before any look below.
WATCHED = {ACME: datetime(2026, 1, 1, tzinfo=UTC)}


def _at(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=6)


def _acme(session: Session, *, expires: date, seats: int = 100, **columns: object) -> None:
    add_customer(session, ACME, "Acme")
    values: dict[str, object] = {
        "company": "Acme",
        "plan": "premium",
        "user_count": seats,
        "trial": False,
        "issued_at": _at(expires - timedelta(days=365)),
        "starts_at": expires - timedelta(days=365),
        "expires_at": expires,
        "zuora_subscription_name": "A-S1",
    }
    values.update(columns)
    session.add(License(id=1, customer_key=ACME, **values))
    session.flush()


def _keys(session: Session) -> list[str]:
    return list(session.scalars(select(FollowEvent.dedupe_key).order_by(FollowEvent.id)))


def test_each_expiry_threshold_is_recorded_once_on_its_day(session):
    expires = TODAY + timedelta(days=10)
    _acme(session, expires=expires)
    day = TODAY
    assert run_daily_pass(session, WATCHED, now=_at(day)) == 1  # 10 days out: 30 reached
    assert run_daily_pass(session, WATCHED, now=_at(day)) == 0
    assert run_daily_pass(session, WATCHED, now=_at(day + timedelta(days=2))) == 0  # 8 days
    assert run_daily_pass(session, WATCHED, now=_at(day + timedelta(days=3))) == 1  # 7 days
    assert run_daily_pass(session, WATCHED, now=_at(day + timedelta(days=4))) == 0
    assert run_daily_pass(session, WATCHED, now=_at(expires + timedelta(days=1))) == 1  # expired
    assert _keys(session) == [
        f"expiry:A-S1:{expires}:30",
        f"expiry:A-S1:{expires}:7",
        f"expiry:A-S1:{expires}:expired",
    ]
    seven = session.scalars(select(FollowEvent).where(FollowEvent.dedupe_key.like("%:7"))).one()
    assert seven.occurred_at == datetime.combine(
        expires - timedelta(days=7), datetime.min.time(), UTC
    )
    assert seven.facts["threshold"] == 7 and seven.facts["expires_on"] == expires.isoformat()


def test_no_expiry_notice_when_the_renewal_is_issued(session):
    expires = TODAY + timedelta(days=5)
    _acme(session, expires=expires)
    session.add(
        License(
            id=2, customer_key=ACME, company="Acme", plan="premium", user_count=100, trial=False,
            issued_at=_at(TODAY - timedelta(days=1)), starts_at=expires + timedelta(days=1),
            expires_at=expires + timedelta(days=366), zuora_subscription_name="A-S1",
        )
    )  # fmt: skip
    session.flush()
    assert run_daily_pass(session, WATCHED, now=_at(TODAY)) == 0


def _ping(session: Session, users: int, at: datetime) -> None:
    host = session.get(Host, "host:gitlab.acme.example")
    if host is None:
        host = Host(instance_key="host:gitlab.acme.example", hostname="gitlab.acme.example")
        session.add(host)
    host.license_id, host.active_user_count, host.last_ping_at = 1, users, at
    session.flush()


def test_seats_crossing_a_level_is_recorded_once_per_crossing(session):
    _acme(session, expires=TODAY + timedelta(days=300), seats=100)
    now = _at(TODAY)
    _ping(session, 95, now)
    assert run_daily_pass(session, WATCHED, now=now) == 0  # the baseline: 90% already reached
    _ping(session, 101, now)
    assert run_daily_pass(session, WATCHED, now=now) == 1  # 100% crossed
    _ping(session, 120, now)
    assert run_daily_pass(session, WATCHED, now=now) == 0  # still over: no news
    _ping(session, 50, now)
    assert run_daily_pass(session, WATCHED, now=now) == 0  # dropped: reset
    _ping(session, 100, now)
    assert run_daily_pass(session, WATCHED, now=now) == 1  # crossed again
    assert _keys(session) == ["seats:A-S1:100:1", "seats:A-S1:100:2"]
    event = session.scalars(select(FollowEvent)).first()
    assert event is not None
    assert (event.facts["in_use"], event.facts["bought"], event.facts["over"]) == (101, 100, 1)


def test_a_level_crossed_while_nobody_followed_is_the_new_baseline(session):
    _acme(session, expires=TODAY + timedelta(days=300), seats=100)
    day = _at(TODAY)
    _ping(session, 50, day)
    assert run_daily_pass(session, {ACME: day}, now=day) == 0  # followed: the baseline, 50%
    # Unfollowed the next day; meanwhile the servers reach every seat; followed again.
    _ping(session, 100, day + timedelta(days=2))
    again = day + timedelta(days=3)
    assert run_daily_pass(session, {ACME: again}, now=again + timedelta(hours=1)) == 0
    later = again + timedelta(days=1)
    assert run_daily_pass(session, {ACME: again}, now=later) == 0  # held: still no news
    _ping(session, 50, later)
    assert run_daily_pass(session, {ACME: again}, now=later + timedelta(hours=1)) == 0
    _ping(session, 100, later)
    assert run_daily_pass(session, {ACME: again}, now=later + timedelta(hours=2)) == 1
    assert _keys(session) == ["seats:A-S1:100:1"]


def test_seat_levels():
    assert [seat_level(n, 100) for n in (0, 89, 90, 99, 100, 400)] == [0, 0, 90, 90, 100, 100]
