"""`run_sync` between kinds: a sync whose lease was taken over stops before its next kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import Settings
from bot.store.importing import ImportKind
from bot.store.sync_state import acquire_lease, current_lease, release_lease, sync_status
from bot.sync.run import FileSource, KindResult, run_sync
from tests.helpers.paths import ROOT

DATA = ROOT / "tests" / "data"


def test_a_sync_that_lost_its_lease_stops_before_the_next_kind(session_factory, tmp_path: Path):
    holder, other = "this-host:1:aaaa", "other-host:2:bbbb"

    def taken_over(result: KindResult) -> None:
        # As if this sync outlived its lease and another took it over meanwhile.
        assert result.succeeded, result.line
        release_lease(session_factory, holder)
        now = datetime.now(UTC)
        assert acquire_lease(session_factory, other, now=now, ttl=timedelta(minutes=5))

    run = run_sync(
        session_factory,
        {
            ImportKind.SUBSCRIPTIONS: FileSource(DATA / "zuora_subscriptions.csv"),
            ImportKind.LICENSES: FileSource(DATA / "customersdot_licenses.csv"),
        },
        Settings(),
        on_result=taken_over,
        holder=holder,
    )
    assert run.leased and not run.succeeded
    assert run.stopped_before is ImportKind.LICENSES
    assert [result.kind for result in run.results] == [ImportKind.SUBSCRIPTIONS]
    with session_factory() as session:
        # The other sync's lease stays its own; the licenses were never attempted.
        lease = current_lease(session)
        assert lease is not None and lease.holder == other
        licenses = next(s for s in sync_status(session) if s.kind is ImportKind.LICENSES)
        assert licenses.last_attempt_at is None
