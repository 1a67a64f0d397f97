"""The store's record of syncs (`python -m bot sync`, issue 21) and the lease that lets one sync
run at a time across processes and instances.

Bookkeeping, one `sync_state` row per import kind: `record_attempt` as a kind's sync starts,
then `record_success` or `record_failure` as it ends. A failure keeps the last success, its
rows, duration and validators: the data they describe is still what the store holds, and the
next conditional fetch still asks against it. These take a session and leave the commit to the
caller, so a success can be written in the import's own transaction; a failure is written in
one of its own, after the import's rolled back.

The lease, one `sync_lease` row: `acquire_lease`, `renew_lease`, `release_lease`, each its own
short transaction. The caller passes `now` from its own clock and every instance compares with
its own: a `ttl` far longer than the instances' clock skew, renewed well before it runs out,
keeps a live holder's lease from being taken over (a sync that cannot renew must stop). What
is stored here never holds credentials: the caller describes its source masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.store.db import dialect_insert, session_scope
from bot.store.importing.kinds import ImportKind
from bot.store.models import ImportRun, SyncLease, SyncState, column_width

# The order a sync runs the kinds in, and `sync status` lists them: the customer rule reads
# the subscriptions, so they come before the licenses.
SYNC_ORDER = (
    ImportKind.SUBSCRIPTIONS,
    ImportKind.LICENSES,
    ImportKind.HOSTS,
    ImportKind.RECONCILIATIONS,
)

SyncOutcome = Literal["running", "succeeded", "failed"]
_RUNNING: SyncOutcome = "running"
_SUCCEEDED: SyncOutcome = "succeeded"
_FAILED: SyncOutcome = "failed"

ERROR_WIDTH = column_width(SyncState.last_error)
HOLDER_WIDTH = column_width(SyncLease.holder)
# The lease's one row (the table's CHECK allows no other).
_LEASE_ID = 1


@dataclass(frozen=True)
class Validators:
    """What makes the next fetch of a source conditional: the ETag and Last-Modified of the last
    good HTTP load, as the server sent them, and a database source's watermark (the greatest
    `updated_at` read, as text). None: the source gave none."""

    etag: str | None = None
    last_modified: str | None = None
    watermark: str | None = None


@dataclass(frozen=True)
class SyncStatus:
    """One kind's row, for `python -m bot sync status`. A kind never synced has only its kind."""

    kind: ImportKind
    source: str | None = None
    last_attempt_at: datetime | None = None
    # `running` also for an attempt whose process was killed: `current_lease` tells them apart.
    last_outcome: SyncOutcome | None = None
    last_success_at: datetime | None = None
    rows: int | None = None  # of the last success
    duration: timedelta | None = None  # of the last success
    last_failure_at: datetime | None = None
    failing_since: datetime | None = None
    last_error: str | None = None
    validators: Validators = Validators()


@dataclass(frozen=True)
class Lease:
    holder: str
    acquired_at: datetime
    expires_at: datetime


def _kind(kind: ImportKind | str) -> str:
    # An unknown kind is a caller's bug: refused, not stored as a row nothing reads.
    return ImportKind(kind).value


def _storable(text: str) -> str:
    # PostgreSQL text cannot hold NUL; an error message quoting a binary body may.
    return text.replace("\x00", "\ufffd")


def record_attempt(session: Session, kind: ImportKind | str, source: str, *, at: datetime) -> None:
    """A sync of `kind` from `source` (described with its credentials masked) starts at `at`.

    A source other than the last one drops the stored validators: an ETag or a watermark means
    something only to the source that gave it, and sent to another could skip its rows. The
    last success stays: it still describes the data the store holds."""
    kind_value, source = _kind(kind), _storable(source)
    statement = dialect_insert(session, SyncState).values(
        kind=kind_value, source=source, last_attempt_at=at, last_outcome=_RUNNING
    )
    same_source = SyncState.source == statement.excluded.source
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[SyncState.kind],
            set_={
                "source": statement.excluded.source,
                "last_attempt_at": statement.excluded.last_attempt_at,
                "last_outcome": statement.excluded.last_outcome,
                **{
                    name: case((same_source, getattr(SyncState, name)), else_=None)
                    for name in ("etag", "last_modified", "watermark")
                },
            },
        )
    )


def record_success(
    session: Session,
    kind: ImportKind | str,
    *,
    at: datetime,
    rows: int,
    duration: timedelta,
    validators: Validators,
) -> bool:
    """The attempt `record_attempt` began succeeded at `at`, loading `rows` in `duration`;
    `validators` replace the stored ones (after a `304`, pass the ones sent, or the new ones the
    response carried). True when this ends a run of failures (for the one "recovered" alert).
    Raises ValueError when no attempt of `kind` was recorded."""
    was_failing = _failing_since(session, kind) is not None
    session.execute(
        update(SyncState)
        .where(SyncState.kind == _kind(kind))
        .values(
            last_outcome=_SUCCEEDED,
            last_success_at=at,
            last_success_rows=rows,
            last_success_ms=round(duration.total_seconds() * 1000),
            failing_since=None,
            last_error=None,
            etag=validators.etag,
            last_modified=validators.last_modified,
            watermark=validators.watermark,
        )
    )
    return was_failing


def record_failure(session: Session, kind: ImportKind | str, *, at: datetime, error: str) -> bool:
    """The attempt `record_attempt` began failed at `at` with `error` (one line, credentials
    masked; clipped to ERROR_WIDTH). The last success and its validators stay. True when this
    starts a run of failures (for the one "failing" alert). Raises ValueError when no attempt
    of `kind` was recorded."""
    starts_failing = _failing_since(session, kind) is None
    values: dict[str, object] = {
        "last_outcome": _FAILED,
        "last_failure_at": at,
        "last_error": _storable(error)[:ERROR_WIDTH],
    }
    if starts_failing:
        values["failing_since"] = at
    session.execute(update(SyncState).where(SyncState.kind == _kind(kind)).values(values))
    return starts_failing


def _failing_since(session: Session, kind: ImportKind | str) -> datetime | None:
    """The row's `failing_since`, read under the row's lock on PostgreSQL (SQLite has one
    writer; the lease makes it one sync anyway), so the transition reported is the one made."""
    row = session.execute(
        select(SyncState.failing_since).where(SyncState.kind == _kind(kind)).with_for_update()
    ).first()
    if row is None:
        raise ValueError(f"no sync attempt of {_kind(kind)} recorded: call record_attempt first")
    return row[0]


def validators_for(session: Session, kind: ImportKind | str) -> Validators:
    """The validators of `kind`'s last good load (empty before any)."""
    row = session.execute(
        select(SyncState.etag, SyncState.last_modified, SyncState.watermark).where(
            SyncState.kind == _kind(kind)
        )
    ).first()
    if row is None:
        return Validators()
    return Validators(etag=row.etag, last_modified=row.last_modified, watermark=row.watermark)


def last_full_import_at(session: Session, kind: ImportKind | str) -> datetime | None:
    """When `kind`'s last full import (one that deleted what its source no longer had)
    finished, by a sync or by hand; None if there never was one. An incremental source reads
    everything again when this is too old."""
    return session.scalar(
        select(func.max(ImportRun.finished_at)).where(
            ImportRun.kind == _kind(kind), ImportRun.full.is_(True)
        )
    )


def sync_status(session: Session) -> list[SyncStatus]:
    """Every import kind's record, in SYNC_ORDER; a kind never synced has an empty one."""
    rows = {row.kind: row for row in session.scalars(select(SyncState))}
    statuses: list[SyncStatus] = []
    for kind in SYNC_ORDER:
        row = rows.get(kind.value)
        if row is None:
            statuses.append(SyncStatus(kind=kind))
            continue
        statuses.append(
            SyncStatus(
                kind=kind,
                source=row.source,
                last_attempt_at=row.last_attempt_at,
                last_outcome=_outcome(row.last_outcome),
                last_success_at=row.last_success_at,
                rows=row.last_success_rows,
                duration=(
                    None
                    if row.last_success_ms is None
                    else timedelta(milliseconds=row.last_success_ms)
                ),
                last_failure_at=row.last_failure_at,
                failing_since=row.failing_since,
                last_error=row.last_error,
                validators=Validators(
                    etag=row.etag, last_modified=row.last_modified, watermark=row.watermark
                ),
            )
        )
    return statuses


def _outcome(value: str) -> SyncOutcome:
    for outcome in (_RUNNING, _SUCCEEDED, _FAILED):
        if value == outcome:
            return outcome
    raise ValueError(f"unknown sync outcome {value!r} in sync_state")


# ---- the lease --------------------------------------------------------------------------------


def _checked_holder(holder: str) -> str:
    # Refused rather than clipped: two long holder ids clipped alike would share one lease.
    if not holder or len(holder) > HOLDER_WIDTH:
        raise ValueError(f"a lease holder id is 1 to {HOLDER_WIDTH} characters")
    return holder


def _checked_ttl(ttl: timedelta) -> timedelta:
    if ttl <= timedelta(0):
        raise ValueError("a lease's ttl must be positive")
    return ttl


def acquire_lease(
    session_factory: sessionmaker[Session],
    holder: str,
    *,
    now: datetime,
    ttl: timedelta,
    replacing: str | None = None,
) -> bool:
    """True if `holder` now holds the sync lease until `now + ttl`: it was free, past its
    `expires_at` (its holder was killed, or stopped renewing), already `holder`'s (a retry
    after a lost acknowledgement; its `acquired_at` stays), or `replacing`'s (a holder the
    caller knows is gone). False while another holds it.

    One upsert decides, atomic on both engines: the primary key lets one insert win; an
    existing row is taken over only when the conflict's WHERE holds, which PostgreSQL checks on
    the row's newest version under its lock and SQLite under its one write lock; RETURNING
    gives a row back exactly when this call took the lease. A read first, in a transaction of
    its own, answers False without writing while the lease is held: on SQLite a second sync
    then does not wait for the write lock the first one's import holds."""
    holder = _checked_holder(holder)
    expires_at = now + _checked_ttl(ttl)
    with session_scope(session_factory) as session:
        held = current_lease(session)
    if held is not None and held.holder not in {holder, replacing} and held.expires_at > now:
        return False
    with session_scope(session_factory) as session:
        statement = dialect_insert(session, SyncLease).values(
            id=_LEASE_ID, holder=holder, acquired_at=now, expires_at=expires_at
        )
        take = statement.on_conflict_do_update(
            index_elements=[SyncLease.id],
            set_={
                "holder": statement.excluded.holder,
                "acquired_at": case(
                    (SyncLease.holder == statement.excluded.holder, SyncLease.acquired_at),
                    else_=statement.excluded.acquired_at,
                ),
                "expires_at": statement.excluded.expires_at,
            },
            where=or_(
                SyncLease.expires_at <= now,
                SyncLease.holder == holder,
                *([SyncLease.holder == replacing] if replacing is not None else []),
            ),
        ).returning(SyncLease.holder)
        return session.execute(take).first() is not None


def renew_lease(
    session_factory: sessionmaker[Session], holder: str, *, now: datetime, ttl: timedelta
) -> bool:
    """Extend `holder`'s lease to `now + ttl`. False if it is no longer `holder`'s: another
    took it over (after it expired) or it was released; the sync must then stop. A lease past
    its expiry that nobody took is still `holder`'s: nobody else started meanwhile."""
    holder = _checked_holder(holder)
    expires_at = now + _checked_ttl(ttl)
    with session_scope(session_factory) as session:
        renewed = session.execute(
            update(SyncLease)
            .where(SyncLease.id == _LEASE_ID, SyncLease.holder == holder)
            .values(expires_at=expires_at)
            .returning(SyncLease.holder)
        ).first()
        return renewed is not None


def release_lease(session_factory: sessionmaker[Session], holder: str) -> bool:
    """Give the lease back if `holder` holds it (True); another's lease stays (False)."""
    with session_scope(session_factory) as session:
        released = session.execute(
            delete(SyncLease)
            .where(SyncLease.id == _LEASE_ID, SyncLease.holder == holder)
            .returning(SyncLease.holder)
        ).first()
        return released is not None


def current_lease(session: Session) -> Lease | None:
    """Who holds the sync lease, or held it last if it is past its expiry (None: nobody).
    `sync status` tells a running sync from a killed one by it."""
    row = session.execute(
        select(SyncLease.holder, SyncLease.acquired_at, SyncLease.expires_at).where(
            SyncLease.id == _LEASE_ID
        )
    ).first()
    if row is None:
        return None
    return Lease(holder=row.holder, acquired_at=row.acquired_at, expires_at=row.expires_at)
