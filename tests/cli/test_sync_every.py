"""`python -m bot sync --every` as a clock process runs it: rounds that go on through a failed
kind, a held lease and a store that does not answer, each one log line; SIGTERM and SIGINT stop
it with exit 0, during the wait or during a round (whose lease is then released); and the
intervals it refuses. The waits are the test's own, but one real process is stopped for real."""

from __future__ import annotations

import csv
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import sync_every as every
from bot.config import Settings
from bot.store.db import create_store_engine, make_session_factory
from bot.store.importing import ImportKind
from bot.store.sync_state import acquire_lease, current_lease, release_lease, sync_status
from bot.sync.run import FileSource, KindResult, run_sync
from tests.helpers.paths import ROOT
from tests.helpers.store_down import DOWN_STORE_URL
from tests.helpers.sync_commands import sync

pytestmark = pytest.mark.usefixtures("sync_command_environment")

DATA = ROOT / "tests" / "data"
LICENSES = DATA / "customersdot_licenses.csv"
SUBSCRIPTIONS = DATA / "zuora_subscriptions.csv"


class Waits:
    """Stands in for the wait between rounds: records it, runs `between` (the world changing
    while the loop sleeps), and asks to stop after `rounds` rounds."""

    def __init__(self, rounds: int, between: list | None = None) -> None:
        self.rounds = rounds
        self.between = between or []
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> bool:
        self.asked.append(seconds)
        if len(self.asked) >= self.rounds:
            return True
        if len(self.between) >= len(self.asked):
            self.between[len(self.asked) - 1]()
        return False


def sync_every(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    database_url: str,
    waits: Waits,
    *args: str,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    monkeypatch.setattr(every.StopSignals, "wait", lambda _signals, seconds: waits(seconds))
    return sync(monkeypatch, capsys, tmp_path, database_url, *args, **env)


def round_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.getMessage().startswith("sync round ")
    ]


def test_rounds_go_on_through_a_failed_kind_and_a_held_lease(
    store_url, tmp_path, monkeypatch, capsys, caplog
):
    caplog.set_level(logging.INFO)
    export = tmp_path / "licenses.csv"
    export.write_bytes(LICENSES.read_bytes())
    engine = create_store_engine(store_url)
    factory = make_session_factory(engine)

    def take_the_lease() -> None:
        assert acquire_lease(
            factory, "other-host:1:abcd", now=datetime.now(UTC), ttl=timedelta(minutes=5)
        )

    def give_it_back() -> None:
        assert release_lease(factory, "other-host:1:abcd")

    waits = Waits(4, between=[export.unlink, take_the_lease, give_it_back])
    result = sync_every(
        monkeypatch,
        capsys,
        tmp_path,
        store_url,
        waits,
        "--every",
        "1h",
        SYNC_LICENSES=str(export),
        SYNC_SUBSCRIPTIONS=str(SUBSCRIPTIONS),
    )
    assert result.returncode == 0, result.stderr
    rounds = round_lines(caplog)
    assert len(rounds) == 4, rounds
    assert rounds[0].startswith("sync round 1: 2 kinds synced; next round in ")
    assert rounds[1].startswith("sync round 2: 1 kind synced, 1 failed (licenses)")
    assert "another sync holds the sync lease: nothing synced" in rounds[2]
    # The licenses keep failing (the file is gone); the subscriptions sync again.
    assert rounds[3].startswith("sync round 4: 1 kind synced, 1 failed (licenses)")
    assert "licenses: failed, its last good data is kept" in result.stderr
    # Each wait is what is left of the hour after its round.
    assert all(3500 < seconds <= 3600 for seconds in waits.asked)
    assert "sync every 1h: stopped after 4 rounds" in caplog.text
    with factory() as session:
        assert current_lease(session) is None
    engine.dispose()


def test_a_store_that_does_not_answer_is_a_round_of_its_own(tmp_path, monkeypatch, capsys, caplog):
    caplog.set_level(logging.INFO)
    waits = Waits(2)
    result = sync_every(
        monkeypatch,
        capsys,
        tmp_path,
        DOWN_STORE_URL,
        waits,
        "--every",
        "30m",
        SYNC_LICENSES=str(LICENSES),
        DATABASE_CONNECT_TIMEOUT_SECONDS="1",
    )
    assert result.returncode == 0, result.stderr
    rounds = round_lines(caplog)
    assert len(rounds) == 2
    assert all("failed: the store is unreachable" in line for line in rounds), rounds
    # One line a round: no traceback for what an operator can fix.
    assert "Traceback" not in caplog.text and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--every", "0"), "--every takes a number and a unit"),
        (("--every=-1h",), "--every takes a number and a unit"),
        (("--every", "0h"), "at least 1m"),
        (("--every", "30s"), "at least 1m"),
        (("--every", "soon"), "--every takes a number and a unit"),
        (("status", "--every", "1h"), "--every is for a sync, not for `sync status`"),
    ],
)
def test_an_interval_it_cannot_keep_is_a_configuration_error(
    args, said, tmp_path, monkeypatch, capsys
):
    waits = Waits(1)
    never_opened = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    result = sync_every(
        monkeypatch, capsys, tmp_path, never_opened, waits, *args, SYNC_LICENSES=str(LICENSES)
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0], result.stderr
    assert waits.asked == [] and not (tmp_path / "store.sqlite3").exists()


def test_a_signal_during_a_round_ends_it_and_releases_the_lease(
    session_factory, caplog, monkeypatch
):
    before = signal.getsignal(signal.SIGTERM)

    def killed_after_the_first_kind(result: KindResult) -> None:
        assert result.succeeded, result.line
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the signal ends the round here, long before this is over

    def once():
        return run_sync(
            session_factory,
            {
                ImportKind.SUBSCRIPTIONS: FileSource(SUBSCRIPTIONS),
                ImportKind.LICENSES: FileSource(LICENSES),
            },
            Settings(),
            on_result=killed_after_the_first_kind,
        )

    started = time.monotonic()
    assert every.sync_every(timedelta(hours=1), once) == 0
    assert time.monotonic() - started < 5
    assert "stopped by SIGTERM during a round" in caplog.text
    with session_factory() as session:
        assert current_lease(session) is None  # the next sync need not wait for it to expire
        licenses = next(s for s in sync_status(session) if s.kind is ImportKind.LICENSES)
        assert licenses.last_attempt_at is None
    # The process's own handler is back.
    assert signal.getsignal(signal.SIGTERM) == before


# One engine: what is tested is the process and its signal, not the store.
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_sigterm_stops_a_real_clock_process_while_it_waits(store_url, tmp_path):
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SYNC_"))},
        "DATABASE_URL": store_url,
        "PYTHONPATH": str(ROOT),
        "SYNC_LICENSES": str(LICENSES),
    }
    log = tmp_path / "clock.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "sync", "--every", "1m"],
            cwd=tmp_path,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 60
            while "sync round 1: " not in log.read_text():
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    text = log.read_text()
    assert "sync round 1: 1 kind synced; next round in " in text
    assert "stopped by SIGTERM after 1 rounds" in text and "Traceback" not in text


def test_a_mass_delete_approval_holds_for_the_first_round_only(
    store_url, tmp_path, monkeypatch, capsys, caplog
):
    caplog.set_level(logging.INFO)
    # Read as CSV: a license file's cells span lines.
    with LICENSES.open(encoding="utf-8-sig", newline="") as source:
        header, *rows = list(csv.reader(source))
    export = tmp_path / "licenses.csv"

    def keep(share: float) -> None:
        with export.open("w", encoding="utf-8", newline="") as out:
            csv.writer(out).writerows([header, *rows[: int(len(rows) * share)]])

    keep(1)
    assert sync(monkeypatch, capsys, tmp_path, store_url, SYNC_LICENSES=str(export)).returncode == 0
    # Each round's file lacks more than a tenth of what the store holds.
    keep(2 / 3)
    waits = Waits(2, between=[lambda: keep(1 / 3)])
    result = sync_every(
        monkeypatch,
        capsys,
        tmp_path,
        store_url,
        waits,
        "--every",
        "1h",
        "--allow-mass-delete",
        "licenses",
        SYNC_LICENSES=str(export),
    )
    assert result.returncode == 0, result.stderr
    rounds = round_lines(caplog)
    assert rounds[0].startswith("sync round 1: 1 kind synced"), rounds
    assert rounds[1].startswith("sync round 2: 0 kinds synced, 1 failed (licenses)"), rounds
    assert "licenses: held back" in result.stderr
