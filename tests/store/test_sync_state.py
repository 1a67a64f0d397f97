"""The store's record of syncs and the sync lease (bot/store/sync_state.py), on both engines."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from bot.store.db import (
    SQLITE_BUSY_TIMEOUT_MS,
    create_store_engine,
    make_session_factory,
    session_scope,
)
from bot.store.importing.kinds import ImportKind
from bot.store.sync_state import (
    ERROR_WIDTH,
    SYNC_ORDER,
    Lease,
    SyncStatus,
    Validators,
    acquire_lease,
    current_lease,
    record_attempt,
    record_failure,
    record_success,
    release_lease,
    renew_lease,
    sync_status,
    validators_for,
)

T0 = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
SOURCE = "https://exports.example/licenses.csv?<signature masked>"
GOOD = Validators(etag='"v1"', last_modified="Mon, 07 Dec 2026 05:00:00 GMT")
TTL = timedelta(minutes=10)


def _status(session_factory: sessionmaker[Session], kind: ImportKind) -> SyncStatus:
    with session_factory() as session:
        return next(s for s in sync_status(session) if s.kind == kind)


def _succeed(
    session_factory: sessionmaker[Session],
    kind: ImportKind,
    at: datetime,
    *,
    source: str = SOURCE,
    rows: int = 1200,
    validators: Validators = GOOD,
) -> bool:
    with session_scope(session_factory) as session:
        record_attempt(session, kind, source, at=at)
    with session_scope(session_factory) as session:
        return record_success(
            session,
            kind,
            at=at + timedelta(seconds=3),
            rows=rows,
            duration=timedelta(seconds=2.5),
            validators=validators,
        )


def _fail(
    session_factory: sessionmaker[Session], kind: ImportKind, at: datetime, error: str
) -> bool:
    with session_scope(session_factory) as session:
        record_attempt(session, kind, SOURCE, at=at)
    with session_scope(session_factory) as session:
        return record_failure(session, kind, at=at + timedelta(seconds=1), error=error)


# ---- bookkeeping ------------------------------------------------------------------------------


def test_a_store_never_synced_lists_every_kind_empty(session: Session) -> None:
    assert sync_status(session) == [SyncStatus(kind=kind) for kind in SYNC_ORDER]
    assert [s.kind for s in sync_status(session)] == [
        ImportKind.SUBSCRIPTIONS,  # the customer rule reads them: first
        ImportKind.LICENSES,
        ImportKind.HOSTS,
        ImportKind.RECONCILIATIONS,
    ]
    assert validators_for(session, "licenses") == Validators()
    assert current_lease(session) is None


def test_an_attempt_is_running_until_it_ends(session_factory: sessionmaker[Session]) -> None:
    with session_scope(session_factory) as session:
        record_attempt(session, ImportKind.HOSTS, SOURCE, at=T0)
    status = _status(session_factory, ImportKind.HOSTS)
    assert (status.source, status.last_attempt_at, status.last_outcome) == (SOURCE, T0, "running")
    assert status.last_success_at is None and status.last_error is None


def test_a_success_records_its_rows_duration_and_validators(
    session_factory: sessionmaker[Session],
) -> None:
    assert _succeed(session_factory, ImportKind.LICENSES, T0) is False  # nothing recovered
    status = _status(session_factory, ImportKind.LICENSES)
    assert status == SyncStatus(
        kind=ImportKind.LICENSES,
        source=SOURCE,
        last_attempt_at=T0,
        last_outcome="succeeded",
        last_success_at=T0 + timedelta(seconds=3),
        rows=1200,
        duration=timedelta(seconds=2.5),
        validators=GOOD,
    )
    assert status.last_success_at is not None and status.last_success_at.tzinfo is not None
    with session_factory() as session:
        assert validators_for(session, ImportKind.LICENSES) == GOOD
        assert validators_for(session, ImportKind.HOSTS) == Validators()  # kinds are apart


def test_a_failure_keeps_the_last_success_and_its_validators(
    session_factory: sessionmaker[Session],
) -> None:
    _succeed(session_factory, ImportKind.LICENSES, T0)
    later = T0 + timedelta(hours=1)
    assert _fail(session_factory, ImportKind.LICENSES, later, "HTTP 500 from exports.example")
    status = _status(session_factory, ImportKind.LICENSES)
    assert status.last_outcome == "failed"
    assert status.last_attempt_at == later
    assert status.last_error == "HTTP 500 from exports.example"
    assert status.last_failure_at == status.failing_since == later + timedelta(seconds=1)
    # What the store still holds is what the last success loaded, and is asked against.
    assert status.last_success_at == T0 + timedelta(seconds=3)
    assert (status.rows, status.duration) == (1200, timedelta(seconds=2.5))
    assert status.validators == GOOD
    with session_factory() as session:
        assert validators_for(session, ImportKind.LICENSES) == GOOD


def test_one_alert_when_a_kind_starts_failing_and_one_when_it_recovers(
    session_factory: sessionmaker[Session],
) -> None:
    kind = ImportKind.SUBSCRIPTIONS
    first, second = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    assert _fail(session_factory, kind, T0, "a first sync that fails") is True  # never succeeded
    _succeed(session_factory, kind, T0 + timedelta(minutes=30))
    assert _fail(session_factory, kind, first, "timed out") is True
    assert _fail(session_factory, kind, second, "timed out again") is False
    status = _status(session_factory, kind)
    assert status.failing_since == first + timedelta(seconds=1)  # the run's first failure
    assert status.last_failure_at == second + timedelta(seconds=1)
    assert status.last_error == "timed out again"
    assert _succeed(session_factory, kind, T0 + timedelta(hours=3), rows=7) is True  # recovered
    status = _status(session_factory, kind)
    assert (status.last_outcome, status.failing_since, status.last_error) == (
        "succeeded",
        None,
        None,
    )
    assert status.last_failure_at == second + timedelta(seconds=1)  # history, not the state
    assert _succeed(session_factory, kind, T0 + timedelta(hours=4)) is False


def test_an_attempt_after_a_success_keeps_it_until_it_ends(
    session_factory: sessionmaker[Session],
) -> None:
    _succeed(session_factory, ImportKind.HOSTS, T0)
    with session_scope(session_factory) as session:
        record_attempt(session, ImportKind.HOSTS, SOURCE, at=T0 + timedelta(hours=1))
    status = _status(session_factory, ImportKind.HOSTS)
    assert status.last_outcome == "running"  # or killed: current_lease tells which
    assert (status.last_success_at, status.rows, status.validators) == (
        T0 + timedelta(seconds=3),
        1200,
        GOOD,
    )


def test_a_new_source_drops_the_validators_but_not_the_last_success(
    session_factory: sessionmaker[Session],
) -> None:
    watermark = Validators(watermark="2026-12-07T05:59:59.123456")
    _succeed(
        session_factory,
        ImportKind.LICENSES,
        T0,
        source="postgresql://replica-a/cdot",
        validators=watermark,
    )
    with session_scope(session_factory) as session:
        record_attempt(session, ImportKind.LICENSES, "postgresql://replica-a/cdot", at=T0 + TTL)
        assert validators_for(session, ImportKind.LICENSES) == watermark  # the same source
    with session_scope(session_factory) as session:
        # Another database's rows are not ordered by the first one's watermark.
        record_attempt(session, ImportKind.LICENSES, "postgresql://replica-b/cdot", at=T0 + 2 * TTL)
        assert validators_for(session, ImportKind.LICENSES) == Validators()
    status = _status(session_factory, ImportKind.LICENSES)
    assert status.source == "postgresql://replica-b/cdot"
    assert status.last_success_at == T0 + timedelta(seconds=3)


def test_a_304_keeps_the_validators_it_is_given(session_factory: sessionmaker[Session]) -> None:
    _succeed(session_factory, ImportKind.LICENSES, T0)
    with session_factory() as session:
        sent = validators_for(session, ImportKind.LICENSES)
    _succeed(session_factory, ImportKind.LICENSES, T0 + timedelta(hours=1), rows=0, validators=sent)
    status = _status(session_factory, ImportKind.LICENSES)
    assert status.validators == GOOD
    assert status.last_success_at == T0 + timedelta(hours=1, seconds=3)


def test_an_error_is_clipped_and_storable(session_factory: sessionmaker[Session]) -> None:
    error = "licenses: <html>\x00" + "x" * (3 * ERROR_WIDTH)
    _fail(session_factory, ImportKind.LICENSES, T0, error)
    stored = _status(session_factory, ImportKind.LICENSES).last_error
    assert stored is not None and len(stored) == ERROR_WIDTH
    assert stored.startswith("licenses: <html>\ufffdxxx")


def test_times_are_stored_in_utc(session_factory: sessionmaker[Session]) -> None:
    tokyo = timezone(timedelta(hours=9))
    with session_scope(session_factory) as session:
        record_attempt(session, ImportKind.HOSTS, SOURCE, at=T0.astimezone(tokyo))
    assert _status(session_factory, ImportKind.HOSTS).last_attempt_at == T0
    # The model's column refuses a time without a zone (bot.store.models.UTCDateTime).
    with session_scope(session_factory) as session, pytest.raises(StatementError, match="naive"):
        record_attempt(session, ImportKind.HOSTS, SOURCE, at=T0.replace(tzinfo=None))


def test_an_outcome_without_an_attempt_or_of_no_kind_is_refused(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        with pytest.raises(ValueError, match="record_attempt first"):
            record_failure(session, ImportKind.HOSTS, at=T0, error="boom")
        with pytest.raises(ValueError, match="record_attempt first"):
            record_success(
                session, "hosts", at=T0, rows=1, duration=timedelta(0), validators=Validators()
            )
        with pytest.raises(ValueError):
            record_attempt(session, "customers", SOURCE, at=T0)
        session.rollback()
        assert sync_status(session) == [SyncStatus(kind=kind) for kind in SYNC_ORDER]


# ---- the lease, one holder after another --------------------------------------------------------


def test_the_lease_is_one_holders_until_it_expires(session_factory: sessionmaker[Session]) -> None:
    assert acquire_lease(session_factory, "worker-a", now=T0, ttl=TTL)
    assert not acquire_lease(session_factory, "worker-b", now=T0 + TTL / 2, ttl=TTL)
    # A retry by its holder (its acknowledgement lost) holds it on, from when it first took it.
    assert acquire_lease(session_factory, "worker-a", now=T0 + TTL / 2, ttl=TTL)
    with session_factory() as session:
        assert current_lease(session) == Lease("worker-a", T0, T0 + TTL / 2 + TTL)
    assert renew_lease(session_factory, "worker-a", now=T0 + TTL, ttl=TTL)
    assert not acquire_lease(
        session_factory, "worker-b", now=T0 + 2 * TTL - timedelta(seconds=1), ttl=TTL
    )
    with session_factory() as session:
        assert current_lease(session) == Lease("worker-a", T0, T0 + 2 * TTL)


def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_renew_it(
    session_factory: sessionmaker[Session],
) -> None:
    assert acquire_lease(session_factory, "killed", now=T0, ttl=TTL)
    # At its expiry exactly, the lease is free.
    assert acquire_lease(session_factory, "worker-b", now=T0 + TTL, ttl=TTL)
    with session_factory() as session:
        assert current_lease(session) == Lease("worker-b", T0 + TTL, T0 + 2 * TTL)
    # The old holder was only slow, not dead: it learns it lost the lease, and must stop.
    assert not renew_lease(session_factory, "killed", now=T0 + TTL, ttl=TTL)
    assert renew_lease(session_factory, "worker-b", now=T0 + TTL + timedelta(minutes=1), ttl=TTL)


def test_an_expired_lease_nobody_took_is_still_its_holders(
    session_factory: sessionmaker[Session],
) -> None:
    assert acquire_lease(session_factory, "worker-a", now=T0, ttl=TTL)
    assert renew_lease(session_factory, "worker-a", now=T0 + 3 * TTL, ttl=TTL)
    assert not acquire_lease(session_factory, "worker-b", now=T0 + 3 * TTL, ttl=TTL)


def test_a_lease_whose_holder_is_known_gone_is_taken_over_before_it_expires(
    session_factory: sessionmaker[Session],
) -> None:
    assert acquire_lease(session_factory, "killed", now=T0, ttl=TTL)
    # Naming another holder as gone takes nothing from this one.
    assert not acquire_lease(session_factory, "next", now=T0, ttl=TTL, replacing="someone")
    assert acquire_lease(session_factory, "next", now=T0 + TTL / 4, ttl=TTL, replacing="killed")
    with session_factory() as session:
        assert current_lease(session) == Lease("next", T0 + TTL / 4, T0 + TTL / 4 + TTL)
    assert not renew_lease(session_factory, "killed", now=T0 + TTL / 2, ttl=TTL)


def test_only_its_holder_releases_the_lease(session_factory: sessionmaker[Session]) -> None:
    assert acquire_lease(session_factory, "worker-a", now=T0, ttl=TTL)
    assert not release_lease(session_factory, "worker-b")
    with session_factory() as session:
        assert current_lease(session) == Lease("worker-a", T0, T0 + TTL)
    assert not acquire_lease(session_factory, "worker-b", now=T0, ttl=TTL)
    assert release_lease(session_factory, "worker-a")
    assert not renew_lease(session_factory, "worker-a", now=T0, ttl=TTL)  # released: not its own
    assert acquire_lease(session_factory, "worker-b", now=T0, ttl=TTL)


def test_a_bad_holder_or_ttl_is_refused(session_factory: sessionmaker[Session]) -> None:
    for holder in ("", "h" * 201):
        with pytest.raises(ValueError, match="holder"):
            acquire_lease(session_factory, holder, now=T0, ttl=TTL)
    with pytest.raises(ValueError, match="ttl"):
        acquire_lease(session_factory, "worker-a", now=T0, ttl=timedelta(0))
    with pytest.raises(ValueError, match="ttl"):
        renew_lease(session_factory, "worker-a", now=T0, ttl=-TTL)
    with session_factory() as session:
        assert current_lease(session) is None


# ---- the lease, holders at once -----------------------------------------------------------------

ROUNDS = 15
CONTENDERS = 4


def _race(
    store_url: str, contenders: int, attempt: Callable[[sessionmaker[Session], str], bool]
) -> list[str]:
    """`contenders` holders, each on an engine of its own (as separate processes have), call
    `attempt` at once; the holders it returned True for."""
    engines = [create_store_engine(store_url) for _ in range(contenders)]
    factories = [make_session_factory(engine) for engine in engines]
    for factory in factories:  # connected beforehand, so the race is not between connects
        with factory() as session:
            session.execute(text("SELECT 1"))
    start = threading.Barrier(contenders)
    won: list[str] = []
    errors: list[BaseException] = []

    def contend(index: int) -> None:
        holder = f"worker-{index}"
        try:
            start.wait(timeout=30)
            if attempt(factories[index], holder):
                won.append(holder)
        except BaseException as error:  # reported to the test's thread below
            errors.append(error)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for engine in engines:
        engine.dispose()
    assert not errors, errors
    return won


def test_of_holders_racing_for_a_free_lease_one_gets_it(
    store_url: str, session_factory: sessionmaker[Session]
) -> None:
    for round_ in range(ROUNDS):
        now = T0 + round_ * timedelta(hours=1)
        won = _race(
            store_url,
            CONTENDERS,
            lambda factory, holder, now=now: acquire_lease(factory, holder, now=now, ttl=TTL),
        )
        assert len(won) == 1, f"round {round_}: {won}"
        with session_factory() as session:
            lease = current_lease(session)
        assert lease is not None and lease.holder == won[0]
        assert release_lease(session_factory, won[0])


def test_of_holders_racing_to_take_over_an_expired_lease_one_gets_it(
    store_url: str, session_factory: sessionmaker[Session]
) -> None:
    """The read before the upsert sees the lease expired for every contender: the upsert's
    WHERE, checked against the newest row, must still let only one take it."""
    for round_ in range(ROUNDS):
        now = T0 + round_ * timedelta(hours=1)
        assert acquire_lease(session_factory, "killed", now=now - 2 * TTL, ttl=TTL)
        won = _race(
            store_url,
            CONTENDERS,
            lambda factory, holder, now=now: acquire_lease(factory, holder, now=now, ttl=TTL),
        )
        assert len(won) == 1, f"round {round_}: {won}"
        renewed = _race(
            store_url,
            CONTENDERS,
            lambda factory, holder, now=now: renew_lease(factory, holder, now=now, ttl=TTL),
        )
        assert renewed == won
        assert release_lease(session_factory, won[0])


def test_a_second_sync_is_refused_at_once_while_the_first_ones_import_writes(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    """An import holds its write transaction for as long as its file takes (on SQLite, the
    whole file's write lock): a second sync is told the lease is held, without waiting for it."""
    assert acquire_lease(session_factory, "worker-a", now=T0, ttl=TTL)
    with engine.begin() as importing:
        importing.execute(text("DELETE FROM license"))  # the first sync's import, in flight
        started = time.monotonic()
        assert not acquire_lease(session_factory, "worker-b", now=T0 + TTL / 2, ttl=TTL)
        assert time.monotonic() - started < SQLITE_BUSY_TIMEOUT_MS / 1000 / 2
