"""The audit trail: who looked up what, where, when, with what outcome (DESIGN.md: Privacy).

Each entry is written in its own short transaction, so an audit row never waits for, or rolls
back with, the work that caused it. The table lives in the `audit` schema (an attached file on
SQLite), so an import holding the store's write lock does not block it.

The audit table carries query text; logs never do. Log lines here name ids and outcomes only.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TextIO

from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from bot.store.db import session_scope
from bot.store.models import AuditEvent

logger = logging.getLogger(__name__)

# Outcomes a person would recognise as "a lookup I made" (App Home's recent lookups).
LOOKUP_OUTCOMES = ("ok", "ambiguous", "not_found")

# Column widths of AuditEvent: PostgreSQL rejects longer values, and an action id may be 255.
_ID_WIDTH = 32
_SURFACE_WIDTH = 64
_OUTCOME_WIDTH = 16
_REASON_WIDTH = 64


@dataclass(frozen=True)
class AuditEntry:
    surface: str  # "/license", "/recon", an action id, a callback id, an event type
    outcome: str  # "ok", "ambiguous", "not_found", "usage", "denied", "error"
    user_id: str | None = None
    team_id: str | None = None
    enterprise_id: str | None = None
    channel_id: str | None = None
    query: str | None = None
    result_count: int = 0
    reason: str | None = None  # why refused ("not_listed", ...) or which rule allowed


@dataclass(frozen=True)
class RecentLookup:
    at: datetime
    surface: str
    query: str | None
    outcome: str
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
_INSERT_AUDIT_EVENT = insert(AuditEvent.__table__)


def record_audit(
    session_factory: sessionmaker[Session], entry: AuditEntry, *, now: datetime | None = None
) -> None:
    """Write one audit row and commit it. Raises if the store cannot take it."""
    at = now or datetime.now(UTC)
    with session_scope(session_factory) as session:
        session.connection().execute(
            _INSERT_AUDIT_EVENT,
            {
                "at": at,
                "surface": _storable(entry.surface)[:_SURFACE_WIDTH],
                "outcome": _storable(entry.outcome)[:_OUTCOME_WIDTH],
                "user_id": _clip(entry.user_id, _ID_WIDTH),
                "team_id": _clip(entry.team_id, _ID_WIDTH),
                "enterprise_id": _clip(entry.enterprise_id, _ID_WIDTH),
                "channel_id": _clip(entry.channel_id, _ID_WIDTH),
                "query": None if entry.query is None else _storable(entry.query),
                "result_count": entry.result_count,
                "reason": _clip(entry.reason, _REASON_WIDTH),
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
            outcome=row.outcome,
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
    limit_th = connection.scalar(_NTH_NEWEST_LOOKUP_AT, {**params, "skip": limit - 1})
    if limit_th is None:
        return None
    count = connection.scalar(_LOOKUPS_IN_WINDOW, params) or 0
    return RateLimitHit(lookups=count, limit=limit, retry_at=limit_th + RATE_LIMIT_WINDOW)


# Built once with bound parameters: the check runs before every lookup, and a prebuilt
# statement is neither rebuilt nor cache-keyed again (its compiled form is cached per engine).
_IN_WINDOW = (
    AuditEvent.user_id == bindparam("user_id"),
    AuditEvent.at > bindparam("since"),
    AuditEvent.outcome.in_(LOOKUP_OUTCOMES),
)
_NTH_NEWEST_LOOKUP_AT = (
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
