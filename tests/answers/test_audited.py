"""The audited transaction's order (bot/answers/audited.py): the work first, then the claim,
the user's lock, the rate limit's check and the audit row, so the lock every worker's lookups
share on SQLite (the audit file's write lock) is held for those few statements only; over the
limit nothing of the work is kept, and a user found over it is refused without the work."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from bot.answers.audited import AuditedTransaction, Requester
from bot.outcomes import Outcome
from bot.store.audit import RATE_LIMIT_WINDOW, RateLimitHit
from bot.store.db import create_store_engine, make_session_factory
from bot.store.models import AuditEvent, Customer
from tests.helpers.clocks import SettableClock

START = datetime(2026, 11, 3, 9, 41, 30, tzinfo=UTC)
ALICE = Requester("UALICE", "T1", channel_id="C1")
BOB = Requester("UBOB", "T1", channel_id="C1")
LIMIT = 3


def _customers(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Customer)) or 0


def _outcome(result: str) -> tuple[Outcome, int]:
    return (Outcome.RATE_LIMITED, 0) if result == "limited" else (Outcome.OK, 1)


def _audited(session_factory: sessionmaker[Session], requester: Requester) -> list[str]:
    with session_factory() as session:
        return list(
            session.scalars(
                select(AuditEvent.outcome)
                .where(AuditEvent.user_id == requester.user_id)
                .order_by(AuditEvent.id)
            )
        )


def test_a_lookups_work_holds_no_lock_another_workers_lookup_needs(store_url: str) -> None:
    """Two workers on one store: while the first is inside its work, the second's whole lookup
    (claimless here: its check, its audit row, its commit) goes through. On SQLite the check's
    lock is the audit file's write lock, which every user shares: taken before the work, it
    held every other lookup of every worker for as long as a search and a card took."""
    engines: list[Engine] = [create_store_engine(store_url) for _ in range(2)]
    try:
        first, second = (
            AuditedTransaction(make_session_factory(engine), rate_limit_per_hour=LIMIT)
            for engine in engines
        )
        inside, release = threading.Event(), threading.Event()

        def slow_work(session: Session, hit: RateLimitHit | None) -> str:
            _customers(session)  # a read of the store, as a search makes
            inside.set()
            assert release.wait(30)
            return "limited" if hit else "worked"

        with ThreadPoolExecutor(max_workers=1) as pool:
            slow = pool.submit(
                first.run, "/license", "a", ALICE, work=slow_work, outcome_of=_outcome, failed=""
            )
            assert inside.wait(30)
            try:
                quick = second.run(
                    "/license",
                    "b",
                    BOB,
                    work=lambda session, hit: "limited" if hit else "worked",
                    outcome_of=_outcome,
                    failed="",
                )
                assert quick == "worked"
                assert _audited(first.session_factory, BOB) == ["ok"]
                assert not slow.done()
            finally:
                release.set()
            assert slow.result(30) == "worked"
        assert _audited(first.session_factory, ALICE) == ["ok"]
    finally:
        for engine in engines:
            engine.dispose()


def _at_the_limit(session_factory: sessionmaker[Session], requester: Requester) -> None:
    with session_factory.begin() as session:
        for minute in range(LIMIT):
            session.execute(
                insert(AuditEvent),
                {
                    "at": START - timedelta(minutes=30 - minute),
                    "surface": "/license",
                    "outcome": "ok",
                    "user_id": requester.user_id,
                    "team_id": requester.team_id,
                    "query": "earlier",
                    "result_count": 1,
                },
            )


def test_over_the_limit_nothing_of_the_work_is_kept(session_factory) -> None:
    """Found over the limit after its work (this process did not know): the work's writes roll
    back with it, and the answer is the limit's notice, audited."""
    _at_the_limit(session_factory, ALICE)
    audited = AuditedTransaction(
        session_factory, clock=SettableClock(START), rate_limit_per_hour=LIMIT
    )

    def writing_work(session: Session, hit: RateLimitHit | None) -> str:
        if hit is not None:
            return "limited"
        session.add(Customer(key="name:written", name="Written", search_key="written"))
        session.flush()
        return "worked"

    result = audited.run(
        "/license/follow", "x", ALICE, work=writing_work, outcome_of=_outcome, failed=""
    )
    assert result == "limited"
    with session_factory() as session:
        assert _customers(session) == 0
    assert _audited(session_factory, ALICE) == ["ok"] * LIMIT + ["rate_limited"]


def test_a_user_found_over_the_limit_is_refused_without_the_work_until_their_retry_time(
    session_factory,
) -> None:
    _at_the_limit(session_factory, ALICE)
    clock = SettableClock(START)
    audited = AuditedTransaction(session_factory, clock=clock, rate_limit_per_hour=LIMIT)
    calls: list[RateLimitHit | None] = []

    def work(_session: Session, hit: RateLimitHit | None) -> str:
        calls.append(hit)
        return "limited" if hit else "worked"

    def lookup(requester: Requester = ALICE) -> str | None:
        return audited.run("/license", "q", requester, work=work, outcome_of=_outcome, failed="")

    assert lookup() == "limited"
    assert calls[0] is None and calls[1] is not None  # the work, then the notice
    retry_at = calls[1].retry_at
    assert retry_at == START - timedelta(minutes=30) + RATE_LIMIT_WINDOW
    calls.clear()
    clock.now = retry_at - timedelta(seconds=1)
    assert lookup() == "limited"
    assert calls == [calls[0]] and calls[0] is not None  # the notice, no work
    assert lookup(BOB) == "worked"  # another user is checked in the store as ever
    calls.clear()
    clock.now = retry_at  # the oldest lookup has left the hour: the store is asked again
    assert lookup() == "worked"
    assert calls == [None]
    assert _audited(session_factory, ALICE) == ["ok"] * LIMIT + ["rate_limited"] * 2 + ["ok"]
