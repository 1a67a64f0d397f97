"""The one small audited transaction every answer carrying customer data goes through.

The work, then the requester's rate limit and its audit row: one transaction, the check and the
row under the requester's lock when a limit is set (bot/store/audit.py: lock_lookups_of), so N
concurrent requests against a limit of N-1 get N-1 answers. The lock comes after the work: on
SQLite it is the audit file's write lock, which every worker's lookups share, so it is held for
the claim, the check and the audit row only, not for a search and a card (taken first, it made
every lookup of every worker wait for the one in flight, SQLite's busy handler sleeping 1-100 ms
between tries). Over the limit the work is rolled back (a follow's rows with it) and the answer
is the limit's notice; a user found over it is then refused without the work until their retry
time (`KnownLimits`), so hammering at the limit costs no search. Every answer that carries customer data is audited first: if the
audit row cannot be written, the user gets the "store unavailable" notice instead of the data.
The request line's outcome is noted here too (bot/request_outcome.py), never by the store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.actor import Actor
from bot.outcomes import Outcome
from bot.request_claim import DeferredClaim, waiting_claim
from bot.request_outcome import note_request_outcome
from bot.store.audit import (
    AuditEntry,
    RateLimitHit,
    add_audit,
    lock_lookups_of,
    rate_limit_hit,
    record_audit,
)
from bot.store.failures import store_failure_cause
from bot.store.request_claims import insert_claim
from bot.store.write_turns import write_turn_of
from bot.views.blocks import CardMessage, MessagePayload
from bot.views.notices import STORE_UNAVAILABLE, build_notice, rate_limited_notice

logger = logging.getLogger(__name__)

_Result = TypeVar("_Result")

# Who asked: the request's one actor (bot.actor), built by the allowlist middleware.
Requester = Actor


@dataclass(frozen=True)
class Answer:
    message: CardMessage
    outcome: Outcome
    result_count: int = 0
    _payload: MessagePayload | None = field(default=None, init=False, repr=False, compare=False)

    def payload(self) -> MessagePayload:
        """The message as Slack takes it. Serialised once per answer: a kept answer
        (bot/answers/answer_cache.py) is sent again and again, and its blocks' dicts are a
        quarter of such a request's CPU. The blocks are shared by every request it goes to:
        read them, never change them (the top level is each caller's own)."""
        payload = self._payload
        if payload is None:
            payload = self.message.to_dict()
            object.__setattr__(self, "_payload", payload)
        return payload.copy()


def rate_limited_answer(hit: RateLimitHit) -> Answer:
    return Answer(build_notice(rate_limited_notice(hit)), Outcome.RATE_LIMITED)


STORE_UNAVAILABLE_ANSWER = Answer(build_notice(STORE_UNAVAILABLE), Outcome.UNAVAILABLE)


class _Replayed:
    """The request is a replay: its transaction stopped at the claim."""


_REPLAYED = _Replayed()


class KnownLimits:
    """The users this process found over the rate limit, until their retry time: their next
    requests get the notice without a search (the store's count stays the authority: a user
    not known here is checked there)."""

    def __init__(self) -> None:
        self._until: dict[str, RateLimitHit] = {}
        self._lock = threading.Lock()

    def get(self, user_id: str | None, now: datetime) -> RateLimitHit | None:
        hit = self._until.get(user_id) if user_id else None
        return hit if hit is not None and now < hit.retry_at else None

    def remember(self, user_id: str | None, hit: RateLimitHit, now: datetime) -> None:
        if not user_id:
            return
        with self._lock:  # the expired are dropped, so the map holds only users limited now
            self._until = {
                user: known for user, known in self._until.items() if now < known.retry_at
            }
            self._until[user_id] = hit


class AuditedTransaction:
    """Runs a surface's work inside the rate limit and the audit, one transaction each time."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] | None = None,
        rate_limit_per_hour: int,
    ) -> None:
        self.session_factory = session_factory
        self.clock = clock or (lambda: datetime.now(UTC))
        # On SQLite, the writes below wait for the audit file in line (bot/store/write_turns.py).
        self._turn = write_turn_of(session_factory)
        # LOOKUP_RATE_LIMIT_PER_HOUR (Settings holds its default); 0 = no limit.
        self._rate_limit = rate_limit_per_hour
        self._known_limits = KnownLimits()

    def today(self) -> date:
        return self.clock().date()

    def answer(
        self,
        *,
        surface: str,
        query: str,
        requester: Requester,
        build: Callable[[Session], Answer],
    ) -> Answer:
        """A card (or a notice) built by `build`, audited; the rate limit's notice instead
        when the requester is over it, the store's when it cannot answer."""
        answer = self.run(
            surface,
            query,
            requester,
            work=lambda session, hit: build(session) if hit is None else rate_limited_answer(hit),
            outcome_of=lambda answer: (answer.outcome, answer.result_count),
            failed=STORE_UNAVAILABLE_ANSWER,
        )
        return answer or STORE_UNAVAILABLE_ANSWER

    def read(
        self,
        surface: str,
        query: str,
        requester: Requester,
        read: Callable[[Session], tuple[Outcome, int]],
    ) -> bool:
        """Run a lookup that returns no card, and audit it; False when it must not be shown."""
        result = self.run(
            surface,
            query,
            requester,
            work=lambda session, hit: read(session) if hit is None else (Outcome.RATE_LIMITED, 0),
            outcome_of=lambda result: result,
            failed=(Outcome.UNAVAILABLE, 0),
        )
        return result is not None and result[0] not in (Outcome.UNAVAILABLE, Outcome.RATE_LIMITED)

    def run(
        self,
        surface: str,
        query: str,
        requester: Requester,
        *,
        work: Callable[[Session, RateLimitHit | None], _Result],
        outcome_of: Callable[[_Result], tuple[Outcome, int]],
        failed: _Result,
    ) -> _Result | None:
        """Do the work, then check the user's rate limit and write its audit row: one
        transaction, the check and the row under the user's lock when a limit is set. None: a
        replay, or the audit row could not be written, so nothing may be shown."""

        def entry(outcome: Outcome, count: int) -> AuditEntry:
            return AuditEntry(
                surface=surface,
                outcome=outcome,
                user_id=requester.user_id,
                team_id=requester.team_id,
                enterprise_id=requester.enterprise_id,
                channel_id=requester.channel_id,
                query=query,
                result_count=count,
            )

        # The request's replay claim, when it is made here (bot/request_claim.py).
        claim = waiting_claim()
        # A user this process has seen over the limit is refused without the work (retry_at
        # only moves later: lookups leave the window oldest first, and later ones only add).
        known_hit = self._known_limits.get(requester.user_id, self.clock())
        try:
            with self.session_factory() as session:
                result = work(session, known_hit)
                # Everything this transaction writes (the claim, the audit row) and the rate
                # limit's check come after the work, under the user's lock: on SQLite that lock
                # is the audit file's write lock, which every worker's lookups share, held now
                # for these few statements rather than for the whole search and card (and asked
                # for in turn).
                with self._turn.held():
                    settled = self._settle(session, claim, requester, check=known_hit is None)
                    if isinstance(settled, _Replayed):
                        return None
                    if settled is not None:
                        # Over the limit: nothing of the work is kept (a follow's rows included)
                        # and the answer is the limit's notice, audited with the claim.
                        session.rollback()
                        self._known_limits.remember(requester.user_id, settled, self.clock())
                        result = work(session, settled)
                        resettled = self._settle(session, claim, requester, check=False)
                        if isinstance(resettled, _Replayed):
                            return None
                    decided = entry(*outcome_of(result))
                    # The request line says what was decided, whether or not the store takes
                    # the row.
                    note_request_outcome(decided.outcome)
                    try:
                        add_audit(session, decided, now=self.clock())
                        session.commit()
                        if claim is not None:
                            claim.made()
                    except SQLAlchemyError as error:
                        logger.error(
                            "audit write failed: store %s; withholding the answer",
                            store_failure_cause(error),
                        )
                        note_request_outcome(Outcome.UNAVAILABLE)
                        return None
                return result
        except SQLAlchemyError as error:
            logger.error("lookup failed: store %s", store_failure_cause(error))
        # The lookup's transaction failed (and released the lock): the failure is audited on
        # its own, and does not count against the limit. The user is told the store is
        # unavailable, and so is the request line.
        note_request_outcome(Outcome.UNAVAILABLE)
        try:
            record_audit(self.session_factory, entry(*outcome_of(failed)), now=self.clock())
        except SQLAlchemyError as error:
            logger.error(
                "audit write failed: store %s; withholding the answer", store_failure_cause(error)
            )
            return None
        return failed

    def record_not_posted(
        self, *, surface: str, customer_key: str, requester: Requester, reason: str | None
    ) -> None:
        """Audit a card withheld because of where it would go (the conversation check refused).

        No customer data was read or shown, so a failed write is logged, not fatal: the user
        is still told why nothing was posted. Not a lookup, so the rate limit does not count it.
        """
        entry = AuditEntry(
            surface=surface,
            outcome=Outcome.NOT_POSTED,
            user_id=requester.user_id,
            team_id=requester.team_id,
            enterprise_id=requester.enterprise_id,
            channel_id=requester.channel_id,
            query=customer_key,
            reason=reason,
        )
        note_request_outcome(entry.outcome)
        try:
            record_audit(self.session_factory, entry, now=self.clock())
        except SQLAlchemyError as error:
            logger.error(
                "audit write failed for a withheld card: store %s", store_failure_cause(error)
            )

    def _settle(
        self,
        session: Session,
        claim: DeferredClaim | None,
        requester: Requester,
        *,
        check: bool,
    ) -> RateLimitHit | _Replayed | None:
        """Make the request's claim, take the user's lock and (when `check`) read their last
        hour: _REPLAYED for a replay (the caller writes nothing more), the limit's hit when the
        user is over it, else None."""
        if claim is not None and not insert_claim(session.connection(), claim.key, self.clock()):
            claim.replayed()  # the middleware refuses it; the transaction is rolled back
            return _REPLAYED
        if not self._rate_limit or not requester.user_id:
            return None
        lock_lookups_of(session, requester.user_id, audit_written=claim is not None)
        if not check:
            return None
        # Checked on every surface: they all come through `run`, under the user's lock.
        return rate_limit_hit(session, requester.user_id, limit=self._rate_limit, now=self.clock())
