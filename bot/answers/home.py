"""What an allowed user's App Home shows from the store: their recent lookups, the follows they
set up, and how old each kind of data is."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.answers.following import FollowAnswers
from bot.freshness import FreshnessRule
from bot.store.audit import recent_lookups
from bot.store.failures import store_failure_cause
from bot.store.queries import IMPORT_KINDS, data_times
from bot.views.home import HomeFacts

logger = logging.getLogger(__name__)

# How many of a user's latest audit rows App Home reads to find a few distinct lookups.
HOME_AUDIT_ROWS = 50


class HomeAnswers:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        follows: FollowAnswers,
        *,
        clock: Callable[[], datetime] | None = None,
        freshness: FreshnessRule | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._follows = follows
        self._clock = clock or (lambda: datetime.now(UTC))
        self._freshness = freshness or FreshnessRule()

    def home_facts(self, user_id: str) -> HomeFacts:
        """Only reads (the Home shows no customer data beyond the user's own queries, so it is
        not audited); a store that cannot answer gives a Home that says so, not an error."""
        try:
            with self._session_factory() as session:
                return HomeFacts(
                    recent=tuple(recent_lookups(session, user_id, limit=HOME_AUDIT_ROWS)),
                    freshness=self._freshness.judge(
                        data_times(session), IMPORT_KINDS, now=self._clock()
                    ),
                    follows=self._follows.follows_of(session, user_id),
                )
        except SQLAlchemyError as error:
            logger.error("home: store %s", store_failure_cause(error))
            return HomeFacts(recent=(), freshness=None, store_available=False)
