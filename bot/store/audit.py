"""The audit trail: who looked up what, where, when, with what outcome (SECURITY.md: the audit trail).

A lookup's entry is written in the lookup's own transaction, after its rate-limit check and
under a lock on that user (`lock_lookups_of`), so concurrent requests cannot all pass the check
before any of them is counted; a lookup only reads the store, so nothing else rolls back with
the row. Refusals are written in a short transaction of their own. The table lives in the
`audit` schema (an attached file on SQLite), so an import holding the store's write lock does
not block it.

The audit table carries query text; logs never do. Log lines here name ids and outcomes only.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TextIO

from sqlalchemy import BigInteger, bindparam, delete, false, func, insert, literal, select
from sqlalchemy.orm import Session, sessionmaker

from bot.outcomes import AUDIT_OUTCOMES, LOOKUP_OUTCOMES, Outcome
from bot.store.db import session_scope
from bot.store.models import AuditEvent, column_width
from bot.store.prepared import PreparedStatement

logger = logging.getLogger(__name__)


# PostgreSQL rejects values longer than AuditEvent's columns, and an action id may be 255.
_WIDTHS = {
    name: column_width(getattr(AuditEvent, name))
    for name in (
        "team_id",
        "enterprise_id",
        "user_id",
        "channel_id",
        "surface",
        "outcome",
        "reason",
    )
}


@dataclass(frozen=True)
class AuditEntry:
    surface: str  # "/license", "/recon", an action id, a callback id, an event type
    outcome: Outcome
    user_id: str | None = None
    team_id: str | None = None
    enterprise_id: str | None = None
    channel_id: str | None = None
    query: str | None = None
    result_count: int = 0
    reason: str | None = None  # why refused ("not_listed", ...) or which rule allowed

    def __post_init__(self) -> None:
        # A misspelt outcome would be stored and never counted, and a request line's own word
        # ("handled", "failed") says nothing an audit reader can use: refuse both here.
        outcome = Outcome(self.outcome)
        if outcome not in AUDIT_OUTCOMES:
            raise ValueError(f"{outcome!r} is a request line's outcome, not an audit row's")
        object.__setattr__(self, "outcome", outcome)


@dataclass(frozen=True)
class RecentLookup:
    at: datetime
    surface: str
    query: str | None
    outcome: Outcome
    result_count: int
    channel_id: str | None


def _clip(value: str | None, width: int) -> str | None:
    return None if value is None else _storable(value)[:width]


def _storable(text: str) -> str:
    # PostgreSQL text cannot hold NUL (psycopg raises DataError), and a failed audit write
    # withholds the answer: keep the row, with U+FFFD where the NUL was.
    return text.replace("\x00", "\ufffd")


# Built once: every lookup writes one audit row, and a Core INSERT of a prebuilt statement skips
# both the ORM unit of work (flush, identity map) and building and cache-keying a new statement.
# Run on the driver's cursor (bot/store/prepared.py).
_AUDIT_COLUMNS = (
    "at",
    "surface",
    "outcome",
    "user_id",
    "team_id",
    "enterprise_id",
    "channel_id",
    "query",
    "result_count",
    "reason",
)
# `inline()`: PostgreSQL's compiler would otherwise add RETURNING id, which nothing reads.
_INSERT_AUDIT_EVENT = PreparedStatement(
    insert(AuditEvent.__table__).inline(), column_keys=_AUDIT_COLUMNS
)


def record_audit(
    session_factory: sessionmaker[Session], entry: AuditEntry, *, now: datetime | None = None
) -> None:
    """Write one audit row and commit it. Raises if the store cannot take it."""
    with session_scope(session_factory) as session:
        add_audit(session, entry, now=now)


def add_audit(session: Session, entry: AuditEntry, *, now: datetime | None = None) -> None:
    """Write one audit row in the session's transaction; the caller commits, and notes the
    entry's outcome for the request line (bot/answers/audited.py, bot/slack/allowlist.py)."""
    at = now or datetime.now(UTC)
    _INSERT_AUDIT_EVENT.execute(
        session.connection(),
        {
            "at": at,
            "surface": _storable(entry.surface)[: _WIDTHS["surface"]],
            "outcome": _storable(entry.outcome)[: _WIDTHS["outcome"]],
            "user_id": _clip(entry.user_id, _WIDTHS["user_id"]),
            "team_id": _clip(entry.team_id, _WIDTHS["team_id"]),
            "enterprise_id": _clip(entry.enterprise_id, _WIDTHS["enterprise_id"]),
            "channel_id": _clip(entry.channel_id, _WIDTHS["channel_id"]),
            "query": None if entry.query is None else _storable(entry.query),
            "result_count": entry.result_count,
            "reason": _clip(entry.reason, _WIDTHS["reason"]),
        },
    )
    logger.debug(
        "audit: user=%s team=%s surface=%s outcome=%s reason=%s results=%d",
        entry.user_id,
        entry.team_id,
        entry.surface,
        entry.outcome,
        entry.reason,
        entry.result_count,
    )


def recent_lookups(session: Session, user_id: str, limit: int = 10) -> list[RecentLookup]:
    """This user's latest lookups, newest first; refusals and errors left out."""
    rows = session.execute(
        select(
            AuditEvent.at,
            AuditEvent.surface,
            AuditEvent.query,
            AuditEvent.outcome,
            AuditEvent.result_count,
            AuditEvent.channel_id,
        )
        .where(AuditEvent.user_id == user_id, AuditEvent.outcome.in_(LOOKUP_OUTCOMES))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(max(0, limit))
    ).all()
    return [
        RecentLookup(
            at=row.at,
            surface=row.surface,
            query=row.query,
            outcome=Outcome(row.outcome),
            result_count=row.result_count,
            channel_id=row.channel_id,
        )
        for row in rows
    ]


# ---- rate limit, export, retention (issue 5) -----------------------------------------------

# The window of the per-user lookup limit: rolling, counted from the audit table, so every
# worker and instance sharing the store enforces one limit.
RATE_LIMIT_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class RateLimitHit:
    lookups: int  # lookups counted in the window
    limit: int
    retry_at: datetime  # when the oldest counted lookup leaves the window


def lock_lookups_of(session: Session, user_id: str, *, audit_written: bool = False) -> None:
    """Hold `user_id`'s rate-limit check and audit write until the session's transaction ends,
    so two requests of one user cannot both pass the check before either is counted. Call it
    first in the transaction.

    PostgreSQL: a transaction-level advisory lock on a hash of the user id (other users are not
    held up; a collision of two users' hashes only makes them wait for each other). SQLite: the
    audit file's write lock, taken by a write that changes nothing. Not `BEGIN IMMEDIATE`: that
    takes the write lock of every attached file, the store's too, so a lookup would wait for an
    import's whole transaction. `audit_written`: the transaction has written to the audit
    schema already (the request's claim), so on SQLite it holds that lock."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_ADVISORY_XACT_LOCK, {"key": _lock_key(user_id)})
    elif connection.dialect.name == "sqlite" and not audit_written:
        connection.execute(_TAKE_AUDIT_WRITE_LOCK)


def _lock_key(user_id: str) -> int:
    # pg_advisory_xact_lock takes a signed 64-bit key; the prefix keeps these keys apart from
    # any other use of advisory locks on the same database.
    digest = hashlib.blake2b(f"lookup-rate-limit:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


_ADVISORY_XACT_LOCK = select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger)))
_TAKE_AUDIT_WRITE_LOCK = delete(AuditEvent).where(false())


def rate_limit_hit(
    session: Session, user_id: str, *, limit: int, now: datetime
) -> RateLimitHit | None:
    """None while `user_id` has made fewer than `limit` lookups in the last hour.

    Reads the user's `limit`-th newest lookup in the window through ix_audit_event_user_id_at;
    only when it exists (the limit reached) are the window's rows counted for the message.
    Refusals, errors and rate-limited attempts do not count, so hammering while limited does
    not extend the wait."""
    if limit <= 0:
        return None
    params = {"user_id": user_id, "since": now - RATE_LIMIT_WINDOW}
    # Core execution: plain values back, without the ORM's per-statement result machinery.
    connection = session.connection()
    limit_th = _NTH_NEWEST_LOOKUP_AT.scalar(connection, {**params, "skip": limit - 1})
    if limit_th is None:
        return None
    count = connection.scalar(_LOOKUPS_IN_WINDOW, params) or 0
    return RateLimitHit(lookups=count, limit=limit, retry_at=limit_th + RATE_LIMIT_WINDOW)


# Built once with bound parameters: the check runs before every lookup, and a prebuilt
# statement is neither rebuilt nor cache-keyed again (its compiled form is cached per engine).
_IN_WINDOW = (
    AuditEvent.user_id == bindparam("user_id"),
    AuditEvent.at > bindparam("since"),
    # One bound value per outcome: `in_` of a plain list is an "expanding" parameter, whose
    # SQL is rendered again at every execution (a third of this check's CPU).
    AuditEvent.outcome.in_([literal(str(outcome)) for outcome in LOOKUP_OUTCOMES]),
)
_NTH_NEWEST_LOOKUP_AT = PreparedStatement(
    select(AuditEvent.at)
    .where(*_IN_WINDOW)
    .order_by(AuditEvent.at.desc())
    .offset(bindparam("skip"))
    .limit(1)
)
_LOOKUPS_IN_WINDOW = select(func.count()).select_from(AuditEvent).where(*_IN_WINDOW)


EXPORT_COLUMNS = (
    "id",
    "at",
    "team_id",
    "enterprise_id",
    "user_id",
    "channel_id",
    "surface",
    "query",
    "outcome",
    "result_count",
    "reason",
)
# Rows fetched per round trip: the export streams, its memory does not grow with the range.
EXPORT_BATCH = 1000


def _iso_utc(at: datetime) -> str:
    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _audit_rows(session: Session, since: datetime, until: datetime) -> Iterator[list[object]]:
    statement = (
        select(*(getattr(AuditEvent, name) for name in EXPORT_COLUMNS))
        .where(AuditEvent.at >= since, AuditEvent.at < until)
        .order_by(AuditEvent.at, AuditEvent.id)
        .execution_options(yield_per=EXPORT_BATCH)
    )
    for row in session.execute(statement):
        values: list[object] = list(row)
        values[1] = _iso_utc(row.at)
        yield values


# A spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV Injection).
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """`value`, with a single quote before a text that a spreadsheet would run as a formula.

    Query text is whatever anyone typed, refused guests included: `=HYPERLINK(…)` or `+cmd|…`
    in an export opened in Excel or Sheets would otherwise be evaluated (OWASP's advice)."""
    if isinstance(value, str) and value.startswith(_FORMULA_TRIGGERS):
        return "'" + value
    return value


def export_audit_csv(session: Session, out: TextIO, *, since: datetime, until: datetime) -> int:
    """Write audit rows with since <= at < until to `out` as CSV (all columns, UTC times,
    text that a spreadsheet would take for a formula quoted: `spreadsheet_safe`);
    return how many rows were written."""
    # RFC 4180's CRLF: Python's writer quotes a field holding any line terminator character, so
    # a CR in a query is quoted too and cannot end the row in a spreadsheet.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    written = 0
    for values in _audit_rows(session, since, until):
        writer.writerow([spreadsheet_safe(value) for value in values])
        written += 1
    return written


def purge_audit(session: Session, *, now: datetime, retention_days: int) -> int:
    """Delete audit rows older than `retention_days`; return how many. The caller commits."""
    cutoff = now - timedelta(days=retention_days)
    result = session.execute(
        delete(AuditEvent)
        .where(AuditEvent.at < cutoff)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
