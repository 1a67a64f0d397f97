"""Request claims: each Slack request counts once, whoever receives it. Every request that
passes here writes a claim to the store: an Events API delivery its `event_id` (a retried
delivery is handled once), any other signed request its signature (a replay is refused).

Slack redelivers an event (same `event_id`, with `X-Slack-Retry-Num` / `X-Slack-Retry-Reason`)
when our answer was slow or failed. Gunicorn workers and instances share nothing but the store,
so the claim lives there: the first delivery INSERTs its `event_id` into `processed_event` (in
the audit schema: on SQLite the audit file, which no import write-locks); a primary-key conflict
means another delivery already took it, and that one is acked and dropped before any other
middleware (the allowlist's users.info and audit row) or listener runs.

Delivery is at most once: a claimed event whose handler then fails is not retried by us.

When the store cannot be reached the claim cannot be made, and neither can the work (every
listener reads the store), so the event is not handled and the answer is HTTP 503: Slack
redelivers it (immediately, after 1 minute, after 5 minutes), and a redelivery that arrives once
the store is back is claimed and handled exactly once. Handling it unclaimed instead could post
twice (a duplicate post is worse than a late or lost unfurl).

Replays. Every other signed request (slash commands, interactions, type-ahead
`block_suggestion`, which carries no trigger_id) is claimed by its `X-Slack-Signature`, under
the key "sig:" + a digest of it, in the same table (its 64-character column, no migration).
Bolt has already verified the signature and refused a timestamp more than 5 minutes off, so a
second request with a claimed signature inside that window is a replay of one Slack sent: it is
refused with 401, as Bolt refuses any other request it cannot trust, and no listener runs. Events
are not claimed by signature: their event_id claim already drops a replayed delivery, and Slack
re-signs each retry with a new timestamp (a retry 5 minutes on must pass the same 5-minute check),
so retries stay the event_id claim's business. Shell mode has no signatures and Socket Mode is
not signed (its socket is the app's own authenticated connection): neither is claimed.

A lookup command (a slash command's plain lookup) is claimed differently: its claim is the first
write of the lookup's own audited transaction (bot/request_claim.py, bot/answers/audited.py), made
after the lookup's reads, one commit a lookup instead of two. Its replay passes the allowlist
(cached identity) and reads what the lookup reads, then stops at the claim, before the rate limit
and any write: no answer, no audit row. Bolt's middleware cannot
act after a listener, so `ClaimSettlingApp` settles the claim once the dispatch is done: 401 for a
replay, and a claim made then, before the answer leaves, when no transaction made it (a refusal, a
failed lookup).

A store that cannot take the signature claim fails closed, as the event claim does: no listener
runs. A slash command gets the store's "unavailable" notice (Slack shows a command's response
body, so the user still learns why); any other request gets 503. An import does not stop the
claims: on SQLite it write-locks the store's main file for as long as its file takes, and the
claims live in the audit file beside it (migration 0010), so every worker's claim is written
and seen by the others (a memory of signatures per process let a replay through a second
worker).

Two identical type-ahead requests (same user, view and typed text) within one second carry the
same signature: the second gets no options, and the next keystroke gets them again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from slack_bolt import App
from slack_bolt.middleware import Middleware
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from sqlalchemy import CursorResult, Engine, delete
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.outcomes import Outcome
from bot.request_claim import ClaimScope, ClaimState, claim_scope, defer_claim
from bot.request_outcome import note_request_outcome
from bot.store.failures import store_failure_cause
from bot.store.models import ProcessedEvent
from bot.store.request_claims import insert_claim
from bot.views.notices import STORE_UNAVAILABLE, build_notice

logger = logging.getLogger(__name__)

# Slack's last retry comes about 5 minutes after the first delivery; a day is ample.
RETENTION = timedelta(days=1)
# How often one process purges old claims (each process does; the DELETE is idempotent).
PURGE_EVERY_SECONDS = 3600.0
STORE_UNAVAILABLE_STATUS = 503
# What Bolt answers a request it cannot verify; a replayed one gets the same, and so does one
# the app refuses before Bolt (bot.app: a malformed timestamp). The one copy of that body.
REPLAY_STATUS = 401
INVALID_REQUEST = {"error": "invalid request"}
SIGNATURE_KEY_PREFIX = "sig:"
# ProcessedEvent.event_id is String(64): the prefix and 60 hex digits (240 bits) of SHA-256.
_SIGNATURE_DIGEST_CHARS = 60

Clock = Callable[[], datetime]
Monotonic = Callable[[], float]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def claim_event(session_factory: sessionmaker[Session], event_id: str, now: datetime) -> bool:
    """True if this call claimed `event_id` (handle it); False if it was claimed before.
    Raises SQLAlchemyError when the store cannot be reached."""
    # A Core transaction on the factory's engine: the claim is one statement, and a session's
    # state and unit of work cost more than it does.
    bind = session_factory.kw.get("bind")
    if not isinstance(bind, Engine):
        # A factory bound otherwise (not the app's: make_session_factory binds an engine) still
        # claims, through a session, rather than fail every request outside the store's errors.
        with session_factory.begin() as session:
            return insert_claim(session.connection(), event_id, now)
    with bind.begin() as connection:
        return insert_claim(connection, event_id, now)


def signature_claim_key(signature: str) -> str:
    """The processed_event key of a request signature: "sig:" + 60 hex digits of its SHA-256."""
    digest = hashlib.sha256(signature.encode("utf-8", "surrogateescape")).hexdigest()
    return SIGNATURE_KEY_PREFIX + digest[:_SIGNATURE_DIGEST_CHARS]


def purge_processed_events(
    session_factory: sessionmaker[Session], now: datetime, retention: timedelta = RETENTION
) -> int:
    """Delete claims older than `retention`; returns how many."""
    with session_factory() as session:
        # A DELETE's result is a CursorResult, which has the row count; Session.execute types
        # every statement's result as the Result base.
        result = cast(
            CursorResult[*tuple[Any, ...]],
            session.execute(
                delete(ProcessedEvent).where(ProcessedEvent.received_at < now - retention)
            ),
        )
        session.commit()
        return int(result.rowcount)


# Whether a request's listener claims it in its own audited transaction (bot/request_claim.py),
# told by the wiring (bot/app.py), which knows the listeners.
ClaimedByItsListener = Callable[[dict[str, Any]], bool]


def _never(_body: dict[str, Any]) -> bool:
    return False


class RequestClaimMiddleware(Middleware):
    """Claims each request in the store (a delivery's event_id, another request's signature):
    acks and drops a delivery already claimed, refuses a replayed request with 401.

    A request `claimed_by_its_listener` says is a lookup's (a slash command answered through the
    audited transaction, with no side effect before it) is claimed there instead, in the
    lookup's own transaction (bot/request_claim.py): the allowlist and the lookup then run for a
    replay too, but a replay is still never answered (its transaction stops at the claim, writes
    nothing and returns nothing), and whatever the listener did not claim is claimed here before
    the answer leaves."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        clock: Clock = _utcnow,
        monotonic: Monotonic = time.monotonic,
        purge_every_seconds: float = PURGE_EVERY_SECONDS,
        claimed_by_its_listener: ClaimedByItsListener = _never,
    ) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._monotonic = monotonic
        self._purge_every = purge_every_seconds
        self._claimed_by_its_listener = claimed_by_its_listener
        self._lock = threading.Lock()
        self._next_purge_at: float | None = None

    @property
    def name(self) -> str:
        return "RequestClaimMiddleware"

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
            signature = _header(req, "x-slack-signature")
            if not signature or req.mode == "socket_mode":
                return next()
            key = signature_claim_key(signature)
            if self._claimed_by_its_listener(body) and defer_claim(key):
                return next()  # claimed in the listener's transaction: see `settle`
            return self._refuse_a_replay(req, key, next)
        retry_num = _header(req, "x-slack-retry-num")
        now = self._clock()
        try:
            claimed = claim_event(self._session_factory, event_id, now)
        except SQLAlchemyError as error:
            logger.warning(
                "event %s not handled: store %s; Slack will redeliver it",
                event_id,
                store_failure_cause(error),
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

    def _refuse_a_replay(
        self, req: BoltRequest, key: str, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        now = self._clock()
        try:
            claimed = claim_event(self._session_factory, key, now)
        except SQLAlchemyError as error:
            logger.warning(
                "request not handled: the store cannot check it is not a replay: store %s",
                store_failure_cause(error),
            )
            return _store_unavailable_response(req)
        if not claimed:
            return _replay_refused()
        self._maybe_purge(now)
        return next()

    def settle(self, req: BoltRequest, scope: ClaimScope, response: BoltResponse) -> BoltResponse:
        """After a dispatch: `response` if its deferred claim was made (or none was deferred);
        401 for a replay; a claim made now when no transaction of the listener's made it (a help
        text, a refusal, a store that failed mid-lookup), and the answer withheld if it is a
        replay's."""
        claim = scope.claim
        if claim is None:
            return response
        if claim.state is ClaimState.REPLAYED:
            return _replay_refused()
        if claim.state is ClaimState.WAITING:
            return self._refuse_a_replay(req, claim.key, lambda: response)
        self._maybe_purge(self._clock())
        return response

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


class ClaimSettlingApp(App):
    """Bolt's App, settling after each dispatch the replay claim its listener was left to make
    (bot/request_claim.py): Bolt's global middleware cannot act once a listener has run."""

    request_claims: RequestClaimMiddleware | None = None

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        if self.request_claims is None:
            return super().dispatch(req)
        with claim_scope() as scope:
            response = super().dispatch(req)
        return self.request_claims.settle(req, scope, response)


def _replay_refused() -> BoltResponse:
    # No user or query in the line: the request is not trusted, so neither are they.
    logger.warning("refused a replayed request (its signature was already used)")
    return BoltResponse(status=REPLAY_STATUS, body=INVALID_REQUEST)


def _store_unavailable_response(req: BoltRequest) -> BoltResponse:
    # A command's notice is a 200: its request line must still say what happened.
    note_request_outcome(Outcome.UNAVAILABLE)
    body = req.body or {}
    if isinstance(body.get("command"), str):
        notice = {"response_type": "ephemeral", **build_notice(STORE_UNAVAILABLE).to_dict()}
        return BoltResponse(
            status=200,
            body=json.dumps(notice),
            headers={"content-type": "application/json;charset=utf-8"},
        )
    return BoltResponse(status=STORE_UNAVAILABLE_STATUS, body="")


def _header(req: BoltRequest, name: str) -> str | None:
    values = req.headers.get(name) or []
    return values[0] if values else None
