"""The audit trail: who looked up what, where, when, with what outcome (DESIGN.md: Privacy).

Each entry is written in its own short transaction, so an audit row never waits for, or rolls
back with, the work that caused it. The table lives in the `audit` schema (an attached file on
SQLite), so an import holding the store's write lock does not block it.

The audit table carries query text; logs never do. Log lines here name ids and outcomes only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
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
    return None if value is None else value[:width]


def record_audit(
    session_factory: sessionmaker[Session], entry: AuditEntry, *, now: datetime | None = None
) -> None:
    """Write one audit row and commit it. Raises if the store cannot take it."""
    at = now or datetime.now(UTC)
    with session_scope(session_factory) as session:
        session.add(
            AuditEvent(
                at=at,
                surface=entry.surface[:_SURFACE_WIDTH],
                outcome=entry.outcome[:_OUTCOME_WIDTH],
                user_id=_clip(entry.user_id, _ID_WIDTH),
                team_id=_clip(entry.team_id, _ID_WIDTH),
                enterprise_id=_clip(entry.enterprise_id, _ID_WIDTH),
                channel_id=_clip(entry.channel_id, _ID_WIDTH),
                query=entry.query,
                result_count=entry.result_count,
                reason=_clip(entry.reason, _REASON_WIDTH),
            )
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
