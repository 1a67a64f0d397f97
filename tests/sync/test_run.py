"""`run_sync` between kinds: a sync whose lease was taken over stops before its next kind, a
holder gone from this machine is told from a live one, and a store that goes away fails the
kinds left, each in one line."""

from __future__ import annotations

import os
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.store.db import create_store_engine
from bot.store.importing import ImportKind
from bot.store.models import License
from bot.store.sync_state import acquire_lease, current_lease, release_lease, sync_status
from bot.sync import run
from bot.sync.run import FileSource, KindResult, holder_is_gone, lease_holder, run_sync
from tests.helpers.paths import ROOT
from tests.helpers.store_down import DOWN_STORE_URL

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


def _holder(pid: int, *, host: str | None = None, space: str | None = None) -> str:
    host = socket.gethostname() if host is None else host
    space = run.process_space() if space is None else space
    return f"{host}:{space}:{pid}:0a1b2c3d"


@pytest.mark.skipif(not run.process_space(), reason="process spaces are read from Linux's /proc")
def test_a_holder_is_gone_only_when_this_machine_can_see_its_process_is():
    child = subprocess.Popen(["true"])
    child.wait()  # reaped: its pid is free
    dead_pid = child.pid
    assert holder_is_gone(_holder(dead_pid))
    # A restarted container's first process has the pid its previous life had.
    assert holder_is_gone(_holder(os.getpid()))
    assert not holder_is_gone(_holder(os.getppid()))  # alive
    assert not holder_is_gone(_holder(dead_pid, host="another-host"))
    boot, _, namespace = run.process_space().partition(".")
    # Another pid namespace (a container sharing the hostname): its pids are not ours to check.
    assert not holder_is_gone(_holder(dead_pid, space=f"{boot}.1"))
    # This namespace, since rebooted: every process of it is gone.
    assert holder_is_gone(_holder(os.getppid(), space=f"000000000000.{namespace}"))
    for unreadable in ("", "other-host:1:abcd", "x:y:z:w", _holder(0), _holder(-1)):
        assert not holder_is_gone(unreadable)
    assert lease_holder().rsplit(":", 3)[1:3] == [run.process_space(), str(os.getpid())]


def test_a_holder_from_a_machine_without_process_spaces_is_never_taken_for_gone(monkeypatch):
    monkeypatch.setattr(run, "process_space", lambda: "")
    assert not holder_is_gone(f"{socket.gethostname()}::{os.getpid()}:0a1b2c3d")


def test_a_store_that_goes_away_fails_each_kind_in_one_line(
    session_factory, engine, monkeypatch: pytest.MonkeyPatch
):
    """The store goes away in the middle of the licenses' import (their session factory is
    pointed at a store that refuses every connection): the import fails, its failure cannot be
    recorded, the hosts after it fail too, each in one line, and nothing raises."""
    down = create_store_engine(DOWN_STORE_URL)
    real_import = run.import_file

    def store_goes_away(factory, kind, path, **options):  # type: ignore[no-untyped-def]
        if kind is ImportKind.LICENSES:
            factory.configure(bind=down)
        return real_import(factory, kind, path, **options)

    monkeypatch.setattr(run, "import_file", store_goes_away)
    try:
        synced = run_sync(
            session_factory,
            {
                ImportKind.SUBSCRIPTIONS: FileSource(DATA / "zuora_subscriptions.csv"),
                ImportKind.LICENSES: FileSource(DATA / "customersdot_licenses.csv"),
                ImportKind.HOSTS: FileSource(DATA / "customersdot_licenses.csv"),
            },
            Settings(),
        )
    finally:
        session_factory.configure(bind=engine)
        down.dispose()
    subscriptions, licenses, hosts = synced.results
    assert subscriptions.succeeded and not synced.succeeded
    assert licenses.line.startswith("licenses: failed, its last good data is kept: ")
    assert "the store failed: the store is unreachable" in licenses.line
    assert licenses.line.endswith("(not recorded: the store is unavailable)")
    assert hosts.line.startswith("hosts: failed, its last good data is kept: the store failed")
    with session_factory() as session:
        # The licenses' attempt was recorded before the store went away; it stays "running"
        # only because nothing could be written after.
        statuses = {status.kind: status for status in sync_status(session)}
        assert statuses[ImportKind.SUBSCRIPTIONS].last_outcome == "succeeded"
        assert statuses[ImportKind.LICENSES].last_outcome == "running"
        assert statuses[ImportKind.HOSTS].last_attempt_at is None
        assert session.scalar(select(func.count()).select_from(License)) == 0
