"""Answers kept for the store's data generation: a query asked again (by its asker paging back,
by the next rep in the deal, by a pick list's click) is answered without its search and card.

What an answer depends on is all in its key, so a kept answer is the one that would be built:
- the store's data, by its generation token (bot/store/data_generation.py), read first in the
  request's transaction: every import and upgrade changes it, so no kept answer outlives one;
- who will see it, by its `Redaction` (the caller puts it in the key);
- the clock, by the request's date and each shown kind's age in whole minutes and staleness
  (`clock_key`): the finest a card says an age or a date in. The caller builds the answer at the
  same `now` the key was made at.

Only the answer is kept, never the transaction's work: each request still makes its claim,
passes its rate limit and writes its audit row before the answer is sent
(bot/answers/audited.py). At most `max_answers` are kept, the least recently used going first;
answers of an older generation are dropped when a newer one is first seen.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.answers.audited import Answer
from bot.freshness import FreshnessRule
from bot.store.data_generation import data_generation
from bot.store.queries import data_times

# A card's Python objects take some tens of KB: a few MB per worker at most.
DEFAULT_MAX_ANSWERS = 256


@dataclass(frozen=True)
class StoreState:
    """The store's generation as this request's transaction reads it, and each import kind's
    data time in that generation (they change only with it)."""

    generation: str
    data_times: Mapping[str, datetime | None]


class AnswerCache:
    def __init__(self, *, max_answers: int = DEFAULT_MAX_ANSWERS) -> None:
        self._max_answers = max_answers
        self._answers: OrderedDict[Hashable, Answer] = OrderedDict()
        self._state: StoreState | None = None
        self._lock = threading.Lock()

    def store_state(self, session: Session) -> StoreState | None:
        """The session's generation; None (keep nothing) for a store without one yet, and
        without reading it when this cache keeps nothing (ANSWER_CACHE_SIZE=0)."""
        if self._max_answers <= 0:
            return None
        generation = data_generation(session)
        if generation is None:
            return None
        state = self._state
        if state is not None and state.generation == generation:
            return state
        # Read in the same transaction as the generation: the data times of that generation.
        state = StoreState(generation, data_times(session))
        with self._lock:
            self._answers.clear()
            self._state = state
        return state

    def answer(
        self, state: StoreState | None, key: Hashable, build: Callable[[], Answer]
    ) -> Answer:
        """The kept answer for (`state`'s generation, `key`), else `build()`'s, kept."""
        if state is None:  # keeping nothing, `store_state` gives none
            return build()
        full_key = (state.generation, key)
        with self._lock:
            kept = self._answers.get(full_key)
            if kept is not None:
                self._answers.move_to_end(full_key)
                return kept
        answer = build()
        with self._lock:
            # A request that read the generation before an import, finishing after a newer
            # one was seen, keeps nothing: its generation is no longer asked for.
            current = self._state
            if current is not None and current.generation == state.generation:
                self._answers[full_key] = answer
                while len(self._answers) > self._max_answers:
                    self._answers.popitem(last=False)
        return answer


def clock_key(
    rule: FreshnessRule,
    data_times: Mapping[str, datetime | None],
    kinds: Sequence[str],
    now: datetime,
) -> Hashable:
    """What of `now` a card of `kinds` can show: the date (relative dates, "ends in 3 days"),
    and each kind's age in whole minutes and whether it is stale (the footer's "as of 5 minutes
    ago", the stale banner). Two moments with the same key build the same card."""
    freshness = rule.judge(data_times, kinds, now=now)
    return (
        now.date(),
        tuple(
            (None if kind.age is None else kind.age // timedelta(minutes=1), kind.stale)
            for kind in freshness.kinds
        ),
    )
