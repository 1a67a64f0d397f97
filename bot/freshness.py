"""How old each kind of imported data is, and when it is stale: the one rule that cards, App
Home and `python -m bot check` all judge by.

A kind's data time is its latest import's source time (a synced file's Last-Modified, a
query's start), else that import's finish (bot/store/queries.py `data_times`). Data older than
STALE_AFTER_HOURS is stale; a kind never loaded has no data, which is not the same as stale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.config import Settings

DEFAULT_STALE_AFTER = timedelta(hours=Settings.stale_after_hours)


@dataclass(frozen=True)
class KindFreshness:
    """One import kind's data, as of when, how old at the moment judged."""

    kind: str  # an import kind: licenses, subscriptions, hosts, reconciliations
    as_of: datetime | None  # None: never loaded
    age: timedelta | None
    stale: bool
    # The kind has a sync source: its staleness fails `check` and its sync's alerts, so the
    # operator has been told; a kind imported by hand has nobody told but whoever imports it.
    synced: bool


@dataclass(frozen=True)
class Freshness:
    """The kinds a card uses, each judged at one moment, in the card's order."""

    kinds: tuple[KindFreshness, ...]
    stale_after: timedelta = DEFAULT_STALE_AFTER

    @property
    def stale(self) -> tuple[KindFreshness, ...]:
        return tuple(kind for kind in self.kinds if kind.stale)


@dataclass(frozen=True)
class FreshnessRule:
    """When data is stale (STALE_AFTER_HOURS), and which kinds are synced (SYNC_<KIND> set)."""

    stale_after: timedelta = DEFAULT_STALE_AFTER
    synced_kinds: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_settings(cls, settings: Settings) -> FreshnessRule:
        return cls(
            stale_after=timedelta(hours=settings.stale_after_hours),
            synced_kinds=settings.synced_kinds,
        )

    def judge(
        self,
        data_times: Mapping[str, datetime | None],
        kinds: Sequence[str],
        *,
        now: datetime,
    ) -> Freshness:
        """`kinds`' freshness at `now`; a kind missing from `data_times` was never loaded."""
        return Freshness(
            kinds=tuple(self._judge_kind(kind, data_times.get(kind), now) for kind in kinds),
            stale_after=self.stale_after,
        )

    def _judge_kind(self, kind: str, as_of: datetime | None, now: datetime) -> KindFreshness:
        synced = kind in self.synced_kinds
        if as_of is None:
            return KindFreshness(kind, None, None, stale=False, synced=synced)
        # A data time ahead of this clock (another machine's, a little fast) is no age at all.
        age = max(_as_utc(now) - _as_utc(as_of), timedelta(0))
        return KindFreshness(kind, as_of, age, stale=age > self.stale_after, synced=synced)


def _as_utc(value: datetime) -> datetime:
    # The store's times are UTC; a naive one (an older row, a test's) is read as UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
