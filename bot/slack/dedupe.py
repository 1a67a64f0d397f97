"""Events API de-duplication: a retried delivery is handled once, whoever receives it.

Slack redelivers an event (same `event_id`, with `X-Slack-Retry-Num` / `X-Slack-Retry-Reason`)
when our answer was slow or failed. Gunicorn workers and instances share nothing but the store,
so the claim lives there: the first delivery INSERTs its `event_id` into `processed_event`; a
primary-key conflict means another delivery already took it, and that one is acked and dropped
before any other middleware (the allowlist's users.info and audit row) or listener runs.

Delivery is at most once: a claimed event whose handler then fails is not retried by us.

When the store cannot be reached the claim cannot be made, and neither can the work (every
listener reads the store), so the event is not handled and the answer is HTTP 503: Slack
redelivers it (immediately, after 1 minute, after 5 minutes), and a redelivery that arrives once
the store is back is claimed and handled exactly once. Handling it unclaimed instead could post
twice (a duplicate post is worse than a late or lost unfurl).

Slash commands and interactions are not retried by Slack and carry no event_id: they pass.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from slack_bolt.middleware import Middleware
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.store.models import ProcessedEvent

logger = logging.getLogger(__name__)

# Slack's last retry comes about 5 minutes after the first delivery; a day is ample.
RETENTION = timedelta(days=1)
# How often one process purges old claims (each process does; the DELETE is idempotent).
PURGE_EVERY_SECONDS = 3600.0
STORE_UNAVAILABLE_STATUS = 503

Clock = Callable[[], datetime]
Monotonic = Callable[[], float]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def claim_event(session_factory: sessionmaker[Session], event_id: str, now: datetime) -> bool:
    """True if this call claimed `event_id` (handle it); False if it was claimed before.

    Raises SQLAlchemyError when the store cannot be reached.
    """
    with session_factory() as session:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(ProcessedEvent)
            .values(event_id=event_id, received_at=now)
            .on_conflict_do_nothing(index_elements=[ProcessedEvent.event_id])
            .returning(ProcessedEvent.event_id)
        )
        # ON CONFLICT DO NOTHING RETURNING: our row back, or nothing because it existed.
        claimed = session.execute(statement).first() is not None
        session.commit()
        return claimed


def purge_processed_events(
    session_factory: sessionmaker[Session], now: datetime, retention: timedelta = RETENTION
) -> int:
    """Delete claims older than `retention`; returns how many."""
    with session_factory() as session:
        result = session.execute(
            delete(ProcessedEvent).where(ProcessedEvent.received_at < now - retention)
        )
        session.commit()
        return int(result.rowcount)  # type: ignore[attr-defined]


class EventDedupeMiddleware(Middleware):
    """Claims each Events API delivery in the store; acks and drops the ones already claimed."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        clock: Clock = _utcnow,
        monotonic: Monotonic = time.monotonic,
        purge_every_seconds: float = PURGE_EVERY_SECONDS,
    ) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._monotonic = monotonic
        self._purge_every = purge_every_seconds
        self._lock = threading.Lock()
        self._next_purge_at: float | None = None

    @property
    def name(self) -> str:
        return "EventDedupeMiddleware"

    def process(
        self,
        *,
        req: BoltRequest,
        resp: BoltResponse,
        next: Callable[[], BoltResponse],
    ) -> BoltResponse | None:
        body = req.body or {}
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if not isinstance(event_id, str) or not event_id:
            return next()
        retry_num = _header(req, "x-slack-retry-num")
        now = self._clock()
        try:
            claimed = claim_event(self._session_factory, event_id, now)
        except SQLAlchemyError as error:
            logger.warning(
                "event %s not handled: the store is unavailable (%s); Slack will redeliver it",
                event_id,
                type(error).__name__,
            )
            return BoltResponse(status=STORE_UNAVAILABLE_STATUS, body="")
        if not claimed:
            logger.info(
                "event %s already handled: delivery dropped (retry %s, reason %s)",
                event_id,
                retry_num or "none",
                _header(req, "x-slack-retry-reason") or "none",
            )
            return BoltResponse(status=200, body="")
        self._maybe_purge(now)
        return next()

    def _maybe_purge(self, now: datetime) -> None:
        tick = self._monotonic()
        with self._lock:
            if self._next_purge_at is not None and tick < self._next_purge_at:
                return
            self._next_purge_at = tick + self._purge_every
        try:
            removed = purge_processed_events(self._session_factory, now)
        except SQLAlchemyError as error:
            # Old claims only cost space; the next purge takes them.
            logger.warning("could not purge old event claims: %s", type(error).__name__)
            return
        if removed:
            logger.info("purged %d event claims older than %s", removed, RETENTION)


def _header(req: BoltRequest, name: str) -> str | None:
    values = req.headers.get(name) or []
    return values[0] if values else None
