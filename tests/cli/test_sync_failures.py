"""`python -m bot sync` against sources that misbehave, two syncs at once and a sync killed
halfway: each kind that fails says which source and why in one line, and the store keeps its
last good data; on both engines."""

from __future__ import annotations

import gzip
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, select, text

from bot.cli.sync import EXIT_LEASE_HELD
from bot.store.db import create_store_engine, make_session_factory
from bot.store.models import License
from bot.store.sync_state import current_lease, sync_status
from tests.helpers.export_server import Export, ExportServer
from tests.helpers.paths import ROOT
from tests.helpers.processes import start_bot
from tests.helpers.sync_commands import sync

pytestmark = pytest.mark.usefixtures("sync_command_environment")

DATA = ROOT / "tests" / "data"
LICENSES = (DATA / "customersdot_licenses.csv").read_bytes()
SUBSCRIPTIONS = (DATA / "zuora_subscriptions.csv").read_bytes()
# The same export a day later: Initech bought 30 more seats.
LICENSES_LATER = LICENSES.replace(
    b"bill.lumbergh@initech.example,120,", b"bill.lumbergh@initech.example,150,"
)
PASSWORD = "exp0rt-pa55word"


@pytest.fixture
def server() -> Iterator[ExportServer]:
    with ExportServer(
        {
            "/exports/licenses.csv": Export(LICENSES, '"lic-1"'),
            "/exports/subscriptions.csv": Export(SUBSCRIPTIONS, '"sub-1"'),
        }
    ) as running:
        yield running


def licenses_held(store_url: str) -> list[tuple[int, int | None]]:
    """Each stored license's id and seats: what a card would show."""
    engine = create_store_engine(store_url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.execute(select(License.id, License.user_count).order_by(License.id))
            return [tuple(row) for row in rows]  # type: ignore[misc]
    finally:
        engine.dispose()


def seats_of_initech(store_url: str) -> int | None:
    return dict(licenses_held(store_url))[9001]


def with_password(url: str) -> str:
    """The server's URL with credentials in it, as an operator may configure a source."""
    return url.replace("http://", f"http://reader:{PASSWORD}@")


def _gzip_cut_short() -> bytes:
    whole = gzip.compress(LICENSES_LATER)
    return whole[: len(whole) // 2]


BAD_SOURCES: dict[str, tuple[Callable[[ExportServer], Export], str]] = {
    "an HTML login page served with 200": (
        lambda _: Export(
            b"<!DOCTYPE html><html><body>Sign in</body></html>", '"h"', content_type="text/html"
        ),
        "html",
    ),
    "a file whose header is no known layout": (
        lambda _: Export(b"foo,bar,baz\n1,2,3\n", '"x"'),
        "licenses.csv",
    ),
    "a body shorter than its Content-Length": (
        lambda _: Export(LICENSES_LATER, '"t"', missing_bytes=500),
        "cut short",
    ),
    "a gzip stream that ends early": (
        lambda _: Export(_gzip_cut_short(), '"g"', gzipped=True),
        "gzip",
    ),
    "an empty file": (lambda _: Export(b"", '"e"'), "empty"),
    "a server answering 500 every time": (lambda _: Export(status=500), "500"),
    "a redirect off loopback to plain http": (
        lambda _: Export(redirect_to="http://exports.example.test/licenses.csv"),
        "redirect",
    ),
}


@pytest.mark.parametrize("case", BAD_SOURCES, ids=list(BAD_SOURCES))
def test_a_bad_source_fails_its_kind_in_one_line_and_keeps_the_last_good_data(
    case, server, store_url, tmp_path, monkeypatch, capsys
):
    env = {"SYNC_LICENSES": with_password(server.url("/exports/licenses.csv"))}
    assert sync(monkeypatch, capsys, tmp_path, store_url, **env).returncode == 0
    good = licenses_held(store_url)
    make_export, reason = BAD_SOURCES[case]
    server.exports["/exports/licenses.csv"] = make_export(server)

    result = sync(monkeypatch, capsys, tmp_path, store_url, **env)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("licenses: failed, its last good data is kept: http://")
    assert "/exports/licenses.csv" in lines[0] and reason in lines[0].lower()
    assert PASSWORD not in result.stdout + result.stderr
    assert licenses_held(store_url) == good
    status = sync(monkeypatch, capsys, tmp_path, store_url, "status", **env)
    assert status.returncode == 1
    assert "(failed)" in status.stdout and PASSWORD not in status.stdout


GOOD_SOURCES: dict[str, Callable[[ExportServer], Export]] = {
    "a server answering 500 then 200": lambda _: Export(LICENSES_LATER, '"r"', failures_first=2),
    "a redirect to another loopback path": lambda server: Export(
        redirect_to=server.url("/moved/licenses.csv")
    ),
    "gzip by Content-Encoding": lambda _: Export(
        gzip.compress(LICENSES_LATER), '"z"', gzipped=True
    ),
    "gzip served without Content-Encoding": lambda _: Export(
        gzip.compress(LICENSES_LATER), '"m"', content_type="application/octet-stream"
    ),
}


@pytest.mark.parametrize("case", GOOD_SOURCES, ids=list(GOOD_SOURCES))
def test_a_source_that_recovers_redirects_or_compresses_is_imported(
    case, server, store_url, tmp_path, monkeypatch, capsys
):
    env = {"SYNC_LICENSES": server.url("/exports/licenses.csv")}
    assert sync(monkeypatch, capsys, tmp_path, store_url, **env).returncode == 0
    assert seats_of_initech(store_url) == 120
    server.exports["/moved/licenses.csv"] = Export(LICENSES_LATER, '"moved"')
    server.exports["/exports/licenses.csv"] = GOOD_SOURCES[case](server)

    result = sync(monkeypatch, capsys, tmp_path, store_url, **env)

    assert result.returncode == 0, result.stderr
    assert seats_of_initech(store_url) == 150


def _wait_for(condition: Callable[[], bool], what: str, *, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_two_syncs_at_once_run_one_and_the_other_says_so(server, store_url, tmp_path):
    held = threading.Event()
    server.exports["/exports/licenses.csv"] = Export(LICENSES, '"slow"', held_until=held)
    env = {"SYNC_LICENSES": server.url("/exports/licenses.csv")}
    first = start_bot("sync", database_url=store_url, cwd=tmp_path, **env)
    try:
        _wait_for(lambda: bool(server.requests_to("/exports/licenses.csv")), "the first fetch")
        second = start_bot("sync", database_url=store_url, cwd=tmp_path, **env)
        second_out, second_err = second.communicate(timeout=60)
        held.set()
        _, first_err = first.communicate(timeout=60)
    finally:
        held.set()
        first.kill()
    assert second.returncode == EXIT_LEASE_HELD, second_err
    assert "another sync is running" in second_err and second_out == ""
    assert first.returncode == 0, first_err
    # The second never fetched: one request in all.
    assert len(server.requests_to("/exports/licenses.csv")) == 1
    assert seats_of_initech(store_url) == 120


def test_a_sync_killed_halfway_leaves_the_last_good_data(
    server, store_url, tmp_path, monkeypatch, capsys
):
    env = {
        "SYNC_SUBSCRIPTIONS": server.url("/exports/subscriptions.csv"),
        "SYNC_LICENSES": server.url("/exports/licenses.csv"),
    }
    assert sync(monkeypatch, capsys, tmp_path, store_url, **env).returncode == 0
    good = licenses_held(store_url)
    never = threading.Event()
    server.exports["/exports/licenses.csv"] = Export(LICENSES_LATER, '"v2"', held_until=never)

    killed = start_bot("sync", database_url=store_url, cwd=tmp_path, **env)
    try:
        _wait_for(lambda: len(server.requests_to("/exports/licenses.csv")) == 2, "the fetch")
    finally:
        os.kill(killed.pid, signal.SIGKILL)
        killed.communicate(timeout=30)
        never.set()

    assert licenses_held(store_url) == good
    status = sync(monkeypatch, capsys, tmp_path, store_url, "status", **env)
    assert status.returncode == 1
    licenses_line = status.stdout.splitlines()[1]
    assert licenses_line.startswith("licenses: ") and "(interrupted)" in licenses_line
    # Its lease is left, unexpired; the next sync on this machine sees its holder is gone.
    server.exports["/exports/licenses.csv"] = Export(LICENSES_LATER, '"v3"')
    after = sync(monkeypatch, capsys, tmp_path, store_url, **env)
    assert after.returncode == 0, after.stderr
    assert seats_of_initech(store_url) == 150
    engine = create_store_engine(store_url)
    try:
        with make_session_factory(engine)() as session:
            assert current_lease(session) is None
            assert {s.last_outcome for s in sync_status(session) if s.source} == {"succeeded"}
    finally:
        engine.dispose()


def test_a_sync_killed_inside_its_import_transaction_leaves_the_last_good_data(
    server, store_url, tmp_path, monkeypatch, capsys
):
    if not store_url.startswith("postgresql"):
        pytest.skip(
            "held at its commit by a table lock, a PostgreSQL feature; SQLite's rollback of a "
            "killed writer is its journal's"
        )
    env = {"SYNC_LICENSES": server.url("/exports/licenses.csv")}
    assert sync(monkeypatch, capsys, tmp_path, store_url, **env).returncode == 0
    good = licenses_held(store_url)
    server.exports["/exports/licenses.csv"] = Export(LICENSES_LATER, '"v2"')
    engine = create_store_engine(store_url)
    try:
        with engine.connect() as blocker:
            # Reads go on; the import's last write, its import_run row, waits: the licenses are
            # written but not committed when the sync is killed.
            blocker.execute(text("LOCK TABLE import_run IN EXCLUSIVE MODE"))
            killed = start_bot("sync", database_url=store_url, cwd=tmp_path, **env)
            try:
                _wait_for(
                    lambda: _waiting_on_the_import_run_insert(engine),
                    "the import to reach its last write",
                )
            finally:
                os.kill(killed.pid, signal.SIGKILL)
                killed.communicate(timeout=30)
            blocker.rollback()
    finally:
        engine.dispose()
    assert licenses_held(store_url) == good


def _waiting_on_the_import_run_insert(engine: Engine) -> bool:
    with engine.connect() as connection:
        waiting = connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query ILIKE 'INSERT INTO import_run%'"
            )
        )
    return bool(waiting)
