"""`python -m bot sync` and `sync status` as an operator runs them: the real-layout exports served
by an HTTP server on loopback (with ETags, answering 304 to a matching If-None-Match), a local
file source, the lease, and a source that fails; on both engines."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.cli.sync import EXIT_LEASE_HELD
from bot.store.db import create_store_engine, make_session_factory
from bot.store.models import ImportRun, License, Subscription
from bot.store.sync_state import acquire_lease, current_lease, sync_status
from tests.helpers.e2e_dataset import write_dataset
from tests.helpers.export_server import Export, ExportServer
from tests.helpers.paths import ROOT
from tests.helpers.sync_commands import sync

pytestmark = pytest.mark.usefixtures("sync_command_environment")

DATA = ROOT / "tests" / "data"
LICENSES = (DATA / "customersdot_licenses.csv").read_bytes()
SUBSCRIPTIONS = (DATA / "zuora_subscriptions.csv").read_bytes()
AUTHORIZATION = "Bearer sync-s3cret-value"
SIGNATURE = "X-Amz-Signature=f00dfeedsecret"


@pytest.fixture
def server() -> Iterator[ExportServer]:
    with ExportServer(
        {
            "/exports/licenses.csv": Export(LICENSES, '"lic-1"'),
            "/exports/subscriptions.csv": Export(SUBSCRIPTIONS, '"sub-1"'),
        }
    ) as running:
        yield running


def source_times(store_url: str) -> dict[str, datetime | None]:
    """Each import kind's latest import's source time."""
    engine = create_store_engine(store_url)
    try:
        with make_session_factory(engine)() as session:
            runs = session.execute(
                select(ImportRun.kind, ImportRun.source_time).order_by(ImportRun.id)
            )
            return {kind: source_time for kind, source_time in runs}
    finally:
        engine.dispose()


def counts(store_url: str) -> tuple[int, int]:
    engine = create_store_engine(store_url)
    try:
        with make_session_factory(engine)() as session:
            licenses = session.scalar(select(func.count()).select_from(License)) or 0
            subscriptions = session.scalar(select(func.count()).select_from(Subscription)) or 0
    finally:
        engine.dispose()
    return licenses, subscriptions


def test_a_full_sync_imports_each_kind_and_a_second_one_costs_a_304(
    server, store_url, tmp_path, monkeypatch, capsys
):
    env = {
        "SYNC_LICENSES": server.url("/exports/licenses.csv"),
        "SYNC_LICENSES_AUTHORIZATION": AUTHORIZATION,
        "SYNC_SUBSCRIPTIONS": server.url("/exports/subscriptions.csv"),
    }
    first = sync(monkeypatch, capsys, tmp_path, store_url, **env)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.strip().splitlines()
    # Subscriptions first: the customer rule reads them.
    assert lines[0].startswith("subscriptions: ") and lines[1].startswith("licenses: ")
    licenses, subscriptions = counts(store_url)
    assert licenses > 0 and subscriptions > 0
    assert f"{licenses} rows" in lines[1]
    assert server.requests_to("/exports/licenses.csv")[0]["authorization"] == AUTHORIZATION
    assert "authorization" not in server.requests_to("/exports/subscriptions.csv")[0]

    status = sync(monkeypatch, capsys, tmp_path, store_url, "status", **env)
    assert status.returncode == 0, status.stdout
    shown = status.stdout.strip().splitlines()
    assert len(shown) == 4
    assert shown[0].startswith("subscriptions: http://127.0.0.1:") and "(succeeded)" in shown[0]
    assert f"{licenses:,} rows" in shown[1]
    assert shown[2] == "hosts: (never synced) · not configured"

    second = sync(monkeypatch, capsys, tmp_path, store_url, **env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("(304), nothing imported") == 2
    assert server.requests_to("/exports/licenses.csv")[1]["if-none-match"] == '"lic-1"'
    assert counts(store_url) == (licenses, subscriptions)
    again = sync(monkeypatch, capsys, tmp_path, store_url, "status", **env)
    assert again.returncode == 0 and f"{licenses:,} rows" not in again.stdout  # a 304 loads 0
    # The ETag is kept after a 304: the third run asks with it again.
    sync(monkeypatch, capsys, tmp_path, store_url, "licenses", **env)
    assert server.requests_to("/exports/licenses.csv")[2]["if-none-match"] == '"lic-1"'
    assert len(server.requests_to("/exports/subscriptions.csv")) == 2  # one kind only


def test_the_data_is_as_old_as_the_exports_last_modified(
    server, store_url, tmp_path, monkeypatch, capsys
):
    server.exports["/exports/licenses.csv"].last_modified = "Mon, 07 Dec 2026 06:00:00 GMT"
    env = {
        "SYNC_LICENSES": server.url("/exports/licenses.csv"),
        "SYNC_SUBSCRIPTIONS": server.url("/exports/subscriptions.csv"),
    }
    result = sync(monkeypatch, capsys, tmp_path, store_url, **env)
    assert result.returncode == 0, result.stderr
    # Without a Last-Modified the import's finish is all that is known.
    assert source_times(store_url) == {
        "subscriptions": None,
        "licenses": datetime(2026, 12, 7, 6, tzinfo=UTC),
    }


def test_a_failing_source_keeps_its_last_good_data_and_the_others_still_sync(
    server, store_url, tmp_path, monkeypatch, capsys, caplog
):
    env = {
        "SYNC_LICENSES": server.url("/exports/licenses.csv") + "?" + SIGNATURE,
        "SYNC_LICENSES_AUTHORIZATION": AUTHORIZATION,
        "SYNC_SUBSCRIPTIONS": server.url("/exports/subscriptions.csv"),
    }
    assert sync(monkeypatch, capsys, tmp_path, store_url, **env).returncode == 0
    licenses, subscriptions = counts(store_url)
    server.exports["/exports/licenses.csv"] = Export(status=500)
    server.exports["/exports/subscriptions.csv"] = Export(SUBSCRIPTIONS, '"sub-2"')

    failed = sync(monkeypatch, capsys, tmp_path, store_url, **env)
    assert failed.returncode == 1
    errors = failed.stderr.strip().splitlines()
    assert len(errors) == 1, failed.stderr
    assert errors[0].startswith("licenses: failed, its last good data is kept: ")
    assert "HTTP 500" in errors[0] and "/exports/licenses.csv?…" in errors[0]
    assert "subscriptions: " in failed.stdout  # synced anyway (a new ETag: imported again)
    assert len(server.requests_to("/exports/licenses.csv")) == 1 + 3
    assert counts(store_url) == (licenses, subscriptions)

    status = sync(monkeypatch, capsys, tmp_path, store_url, "status", **env)
    assert status.returncode == 1
    line = next(x for x in status.stdout.splitlines() if x.startswith("licenses:"))
    assert "(failed)" in line and "last success" in line and "error: " in line
    # httpx's request lines (whole URLs) are kept out of the logs: nothing names the signature.
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for output in (failed.stdout + failed.stderr, status.stdout + status.stderr, logged):
        assert AUTHORIZATION not in output and "sync-s3cret" not in output
        assert "f00dfeedsecret" not in output


def test_a_local_file_source_is_imported_as_it_is(store_url, tmp_path, monkeypatch, capsys):
    export = write_dataset(tmp_path, datetime.now(UTC).date())["licenses"]
    result = sync(monkeypatch, capsys, tmp_path, store_url, SYNC_LICENSES=str(export))
    assert result.returncode == 0, result.stderr
    assert f"from {export}" in result.stdout
    # The import's warnings are said, the kind synced all the same.
    assert "warning: licenses: " in result.stderr and "extra admin column" in result.stderr.lower()
    assert counts(store_url)[0] > 0
    # The file's own time is the data's.
    assert source_times(store_url)["licenses"] == datetime.fromtimestamp(
        export.stat().st_mtime, UTC
    )
    export.unlink()
    missing = sync(monkeypatch, capsys, tmp_path, store_url, SYNC_LICENSES=str(export))
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_a_second_sync_while_the_lease_is_held_exits_with_its_own_status(
    server, store_url, tmp_path, monkeypatch, capsys
):
    engine = create_store_engine(store_url)
    factory = make_session_factory(engine)
    now = datetime.now(UTC)
    assert acquire_lease(factory, "other-host:1:abcd", now=now, ttl=timedelta(minutes=5))
    result = sync(
        monkeypatch,
        capsys,
        tmp_path,
        store_url,
        SYNC_LICENSES=server.url("/exports/licenses.csv"),
    )
    assert result.returncode == EXIT_LEASE_HELD
    assert len(result.stderr.strip().splitlines()) == 1 and "another sync" in result.stderr
    assert server.seen == []
    with factory() as session:
        lease = current_lease(session)
        assert lease is not None and lease.holder == "other-host:1:abcd"
        assert all(status.source is None for status in sync_status(session))
    engine.dispose()


def test_the_lease_is_released_after_a_sync(server, store_url, tmp_path, monkeypatch, capsys):
    env = {"SYNC_LICENSES": server.url("/nothing-here.csv")}
    assert sync(monkeypatch, capsys, tmp_path, store_url, **env).returncode == 1
    engine = create_store_engine(store_url)
    with make_session_factory(engine)() as session:
        assert current_lease(session) is None
    engine.dispose()


def test_plain_http_beyond_loopback_is_a_configuration_error(
    store_url, tmp_path, monkeypatch, capsys
):
    result = sync(
        monkeypatch, capsys, tmp_path, store_url, SYNC_HOSTS="http://exports.example.test/h.csv"
    )
    assert result.returncode == 2 and "SYNC_HOSTS" in result.stderr and "https" in result.stderr


def test_nothing_configured_says_which_settings_to_set(store_url, tmp_path, monkeypatch, capsys):
    result = sync(monkeypatch, capsys, tmp_path, store_url)
    assert result.returncode == 2
    assert "SYNC_LICENSES" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    one = sync(monkeypatch, capsys, tmp_path, store_url, "hosts")
    assert one.returncode == 2 and "SYNC_HOSTS is not set" in one.stderr
