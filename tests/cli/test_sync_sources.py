"""`python -m bot sync` from a database and from Zuora, as an operator runs it: a second database
on the suite's PostgreSQL and a SQLite file holding CustomersDot's `licenses` and
version.gitlab.com's `usage_data` (tests/helpers/source_databases.py), and the Zuora Data Query
stand-in (tests/helpers/zuora_standin.py); full sources' deletions behind the mass-delete guard,
incremental reads by updated_at, and a sync that fails unexpectedly; on both store engines."""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bot.store.db import create_store_engine, make_session_factory
from bot.store.models import Host, ImportRun, License, Subscription
from bot.store.sync_state import SyncStatus, sync_status
from bot.sync import run as sync_run
from bot.sync import zuora_source
from tests.helpers.source_databases import (
    add_licenses,
    execute,
    more_licenses,
    postgres_source,
    sqlite_source,
)
from tests.helpers.sync_commands import sync
from tests.helpers.zuora_standin import CLIENT_ID, CLIENT_SECRET, TOKEN, StandIn, running_zuora

pytestmark = pytest.mark.usefixtures("sync_command_environment")

PASSWORD = "src-pw-s3cret"
SOURCE_LICENSES = {7001, 8999, 9001, 9002}


@pytest.fixture
def pg_source() -> Iterator[str]:
    with postgres_source(PASSWORD) as url:
        yield url


@pytest.fixture
def zuora(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    # Polled as Zuora is, with waits of milliseconds.
    monkeypatch.setattr(zuora_source, "FIRST_POLL_SECONDS", 0.01)
    with running_zuora() as stand_in:
        yield stand_in


def zuora_env(stand_in: StandIn) -> dict[str, str]:
    return {
        "SYNC_SUBSCRIPTIONS": "Zuora",
        "ZUORA_REST_URL": stand_in.url(),
        "ZUORA_CLIENT_ID": CLIENT_ID,
        "ZUORA_CLIENT_SECRET": CLIENT_SECRET,
    }


def stored_ids(store_url: str, model: type[License] | type[Host] = License) -> set[object]:
    engine = create_store_engine(store_url)
    try:
        with make_session_factory(engine)() as session:
            key = License.id if model is License else Host.instance_key
            return set(session.scalars(select(key)))
    finally:
        engine.dispose()


def subscriptions(store_url: str) -> int:
    engine = create_store_engine(store_url)
    try:
        with make_session_factory(engine)() as session:
            return session.scalar(select(func.count()).select_from(Subscription)) or 0
    finally:
        engine.dispose()


def status_of(store_url: str, kind: str) -> SyncStatus:
    engine = create_store_engine(store_url)
    try:
        with make_session_factory(engine)() as session:
            return next(s for s in sync_status(session) if s.kind.value == kind)
    finally:
        engine.dispose()


def age_full_imports(store_url: str, kind: str, by: timedelta) -> None:
    """As if the kind's imports had finished `by` earlier: its full pass falls due."""
    engine = create_store_engine(store_url)
    try:
        with make_session_factory(engine)() as session, session.begin():
            for run in session.scalars(select(ImportRun).where(ImportRun.kind == kind)):
                run.finished_at = run.finished_at - by
    finally:
        engine.dispose()


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# ---- database and Zuora sources through the command -----------------------------------------


def test_licenses_and_hosts_from_a_postgresql_source(
    pg_source, store_url, tmp_path, monkeypatch, capsys
):
    env = {"SYNC_LICENSES": pg_source, "SYNC_HOSTS": pg_source}
    result = sync(monkeypatch, capsys, tmp_path, store_url, **env)
    assert result.returncode == 0, result.stderr
    licenses, hosts = result.stdout.strip().splitlines()
    assert licenses.startswith("licenses: 4 rows from postgresql://postgres:***@")
    assert hosts.startswith("hosts: 3 rows from postgresql://")  # the newest ping of each
    assert stored_ids(store_url) == SOURCE_LICENSES
    assert stored_ids(store_url, Host) == {
        "host:git.globex.example",
        "uuid:aaaa-1111",
        "uuid:bbbb-2222",
    }
    status = sync(monkeypatch, capsys, tmp_path, store_url, "status", **env)
    assert status.returncode == 0
    assert "licenses: postgresql://postgres:***@127.0.0.1" in status.stdout
    assert "4 rows" in status.stdout
    for output in (result.stdout + result.stderr, status.stdout):
        assert PASSWORD not in output


def test_licenses_from_a_sqlite_file(store_url, tmp_path, monkeypatch, capsys):
    source = sqlite_source(tmp_path / "customersdot.sqlite3")
    result = sync(monkeypatch, capsys, tmp_path, store_url, "licenses", SYNC_LICENSES=source)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"licenses: 4 rows from {source}")
    assert stored_ids(store_url) == SOURCE_LICENSES
    engine = create_store_engine(store_url)
    with make_session_factory(engine)() as session:
        # The data is as old as the query.
        source_time = session.scalar(select(ImportRun.source_time))
        assert source_time is not None and datetime.now(UTC) - source_time < timedelta(minutes=5)
    engine.dispose()


def test_subscriptions_from_zuora(zuora, store_url, tmp_path, monkeypatch, capsys, caplog):
    env = zuora_env(zuora)
    result = sync(monkeypatch, capsys, tmp_path, store_url, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"subscriptions: 2 rows from zuora (127.0.0.1:{zuora.port})")
    assert subscriptions(store_url) == 2
    # Token, submit, polls (in progress twice, then completed), the result file.
    assert zuora.paths("POST") == ["/oauth/token", "/query/jobs"]
    assert len(zuora.paths("GET")) == 4
    status = sync(monkeypatch, capsys, tmp_path, store_url, "status", **env)
    assert status.returncode == 0
    assert status.stdout.startswith(f"subscriptions: zuora (127.0.0.1:{zuora.port}) · ")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for output in (result.stdout + result.stderr, status.stdout + status.stderr, logged):
        assert CLIENT_SECRET not in output and TOKEN not in output


def test_a_failed_zuora_job_keeps_the_last_good_subscriptions(
    zuora, store_url, tmp_path, monkeypatch, capsys
):
    env = zuora_env(zuora)
    assert sync(monkeypatch, capsys, tmp_path, store_url, **env).returncode == 0
    zuora.statuses = ["in_progress", "failed"]
    zuora.error_message = "Column 'crmid' cannot be resolved"

    failed = sync(monkeypatch, capsys, tmp_path, store_url, **env)

    assert failed.returncode == 1
    line = one_line(failed)
    assert line.startswith("subscriptions: failed, its last good data is kept: zuora ")
    assert "failed: Column 'crmid' cannot be resolved" in line
    assert subscriptions(store_url) == 2
    assert status_of(store_url, "subscriptions").last_outcome == "failed"


def test_a_query_past_the_statement_timeout_keeps_the_last_good_data(
    pg_source, store_url, tmp_path, monkeypatch, capsys
):
    assert sync(monkeypatch, capsys, tmp_path, store_url, SYNC_LICENSES=pg_source).returncode == 0

    slow = sync(
        monkeypatch,
        capsys,
        tmp_path,
        store_url,
        SYNC_LICENSES=pg_source,
        SYNC_LICENSES_QUERY="SELECT pg_sleep(5), id FROM licenses",
        SYNC_QUERY_TIMEOUT_SECONDS="1",
    )

    assert slow.returncode == 1
    line = one_line(slow)
    assert line.startswith("licenses: failed, its last good data is kept: licenses from ")
    assert "ran longer than the statement timeout of 1 s" in line and PASSWORD not in line
    assert stored_ids(store_url) == SOURCE_LICENSES


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"SYNC_LICENSES": "snowflake://reader:db-pw@account/db"}, "no snowflake dialect"),
        ({"SYNC_LICENSES": "mysql://reader:db-pw@replica/db"}, "only PostgreSQL and SQLite"),
        ({"SYNC_LICENSES": "postgresql://reader:db-pw@replica:port/db"}, "not a database URL"),
        ({"SYNC_LICENSES": "zuora"}, "zuora is a source of subscriptions only"),
        (
            {"SYNC_SUBSCRIPTIONS": "ZUORA", "ZUORA_CLIENT_SECRET": "db-pw"},
            "ZUORA_REST_URL, ZUORA_CLIENT_ID not set",
        ),
        (
            {
                "SYNC_SUBSCRIPTIONS": "zuora",
                "ZUORA_REST_URL": "http://rest.zuora.example",
                "ZUORA_CLIENT_ID": "id",
                "ZUORA_CLIENT_SECRET": "db-pw",
            },
            "ZUORA_REST_URL: http://rest.zuora.example: plain http:// is refused",
        ),
        (
            {"SYNC_RECONCILIATIONS": "postgresql://reader:db-pw@replica/db"},
            "needs SYNC_RECONCILIATIONS_QUERY",
        ),
        (
            {"SYNC_LICENSES": "https://exports.example/l.csv", "SYNC_LICENSES_QUERY": "SELECT 1"},
            "SYNC_LICENSES_QUERY is set, but SYNC_LICENSES is not a database URL",
        ),
        ({"SYNC_HOSTS_QUERY": "SELECT 1"}, "SYNC_HOSTS_QUERY is set, but SYNC_HOSTS is not"),
    ],
)
def test_a_source_setting_that_cannot_work_is_refused_in_one_line(
    env, words, store_url, tmp_path, monkeypatch, capsys
):
    result = sync(monkeypatch, capsys, tmp_path, store_url, **env)
    assert result.returncode == 2
    line = one_line(result)
    assert words in line, line
    assert "db-pw" not in line


# ---- full sources delete what the source no longer has --------------------------------------


def test_a_full_source_deletes_the_row_it_no_longer_has(store_url, tmp_path, monkeypatch, capsys):
    export = tmp_path / "licenses.csv"
    rows = more_licenses(20)

    def write(kept: list[dict[str, object]]) -> None:
        with export.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(kept[0]))
            writer.writeheader()
            writer.writerows({k: _csv_cell(v) for k, v in row.items()} for row in kept)

    write(rows)
    env = {"SYNC_LICENSES": str(export)}
    assert sync(monkeypatch, capsys, tmp_path, store_url, **env).returncode == 0
    assert stored_ids(store_url) == set(range(20_000, 20_020))
    write(rows[1:])  # one of twenty: under the 10% guard

    result = sync(monkeypatch, capsys, tmp_path, store_url, **env)

    assert result.returncode == 0, result.stderr
    assert stored_ids(store_url) == set(range(20_001, 20_020))


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_a_full_source_dropping_more_than_a_tenth_is_held_back_until_approved(
    pg_source, store_url, tmp_path, monkeypatch, capsys
):
    env = {"SYNC_LICENSES": pg_source}
    assert sync(monkeypatch, capsys, tmp_path, store_url, **env).returncode == 0
    execute(pg_source, "DELETE FROM licenses WHERE id IN (8999, 9002)")

    held = sync(monkeypatch, capsys, tmp_path, store_url, **env)

    assert held.returncode == 1
    line = one_line(held)
    assert line.startswith("licenses: held back, its last good data is kept: postgresql://")
    assert "no longer has 2 of the 4 licenses in the store (50%)" in line
    assert line.endswith("approve one run with: python -m bot sync --allow-mass-delete licenses")
    assert "--full" not in line and PASSWORD not in line
    assert stored_ids(store_url) == SOURCE_LICENSES
    assert status_of(store_url, "licenses").last_outcome == "failed"

    # Approving another kind, or a kind this run does not sync, is a mistake said at once.
    wrong = sync(monkeypatch, capsys, tmp_path, store_url, "--allow-mass-delete", "hosts", **env)
    assert wrong.returncode == 2 and "--allow-mass-delete hosts: not synced" in wrong.stderr

    approved = sync(
        monkeypatch, capsys, tmp_path, store_url, "--allow-mass-delete", "licenses", **env
    )
    assert approved.returncode == 0, approved.stderr
    assert stored_ids(store_url) == {7001, 9001}
    # One run only: the approval is not kept.
    execute(pg_source, "DELETE FROM licenses WHERE id = 9001")
    assert sync(monkeypatch, capsys, tmp_path, store_url, **env).returncode == 1


def test_hosts_are_never_deleted_by_a_sync(pg_source, store_url, tmp_path, monkeypatch, capsys):
    # An instance that stopped pinging keeps its last ping: hosts are not a full source.
    env = {"SYNC_HOSTS": pg_source}
    assert sync(monkeypatch, capsys, tmp_path, store_url, **env).returncode == 0
    execute(pg_source, "DELETE FROM usage_data WHERE hostname = 'git.globex.example'")

    result = sync(monkeypatch, capsys, tmp_path, store_url, **env)

    assert result.returncode == 0, result.stderr
    assert "host:git.globex.example" in stored_ids(store_url, Host)


# ---- incremental database reads ---------------------------------------------------------------


@pytest.fixture
def dated_source(pg_source: str) -> str:
    """The PostgreSQL source with an updated_at on every license, and 20 more licenses."""
    add_licenses(pg_source, more_licenses(20))
    execute(
        pg_source,
        "UPDATE licenses SET updated_at = TIMESTAMP '2026-11-01 10:00:00' + id * INTERVAL '1 second' WHERE updated_at IS NULL OR id < 20000",
    )
    return pg_source


def test_a_second_run_reads_only_the_changed_rows(
    dated_source, store_url, tmp_path, monkeypatch, capsys
):
    env = {"SYNC_LICENSES": dated_source}
    first = sync(monkeypatch, capsys, tmp_path, store_url, **env)
    assert first.returncode == 0, first.stderr
    assert "licenses: 24 rows from " in first.stdout and "(a full pass)" in first.stdout
    # The greatest updated_at read: license 9002's.
    watermark = status_of(store_url, "licenses").validators.watermark
    assert watermark == "2026-11-01T12:30:02"
    execute(
        dated_source,
        "UPDATE licenses SET users_count = 77, updated_at = TIMESTAMP '2026-12-01 00:00:00'"
        " WHERE id = 7001",
    )

    second = sync(monkeypatch, capsys, tmp_path, store_url, **env)

    assert second.returncode == 0, second.stderr
    # The changed row, and the boundary row read again (>=).
    assert "licenses: 2 rows from postgresql://postgres:***@" in second.stdout
    assert f"(changed since {watermark})" in second.stdout
    status = status_of(store_url, "licenses")
    assert status.rows == 2 and status.validators.watermark == "2026-12-01T00:00:00"
    engine = create_store_engine(store_url)
    with make_session_factory(engine)() as session:
        license_ = session.get(License, 7001)
        assert license_ is not None and license_.user_count == 77
        assert (
            session.scalar(select(ImportRun.full).order_by(ImportRun.id.desc()).limit(1)) is False
        )
    engine.dispose()


def test_a_row_deleted_at_the_source_goes_at_the_next_full_pass(
    dated_source, store_url, tmp_path, monkeypatch, capsys
):
    env = {"SYNC_LICENSES": dated_source}
    assert sync(monkeypatch, capsys, tmp_path, store_url, **env).returncode == 0
    execute(dated_source, "DELETE FROM licenses WHERE id = 9002")

    incremental = sync(monkeypatch, capsys, tmp_path, store_url, **env)
    assert incremental.returncode == 0 and "(changed since " in incremental.stdout
    assert 9002 in stored_ids(store_url)  # no incremental read sees a deletion

    age_full_imports(store_url, "licenses", by=timedelta(hours=25))
    full = sync(monkeypatch, capsys, tmp_path, store_url, **env)
    assert full.returncode == 0, full.stderr
    assert "licenses: 23 rows from " in full.stdout and "(a full pass)" in full.stdout
    assert 9002 not in stored_ids(store_url)


def test_a_failed_run_keeps_the_watermark_and_a_new_source_drops_it(
    dated_source, store_url, tmp_path, monkeypatch, capsys
):
    env = {"SYNC_LICENSES": dated_source}
    assert sync(monkeypatch, capsys, tmp_path, store_url, **env).returncode == 0
    watermark = status_of(store_url, "licenses").validators.watermark
    assert watermark is not None
    execute(dated_source, "ALTER TABLE licenses RENAME TO licenses_gone")

    failed = sync(monkeypatch, capsys, tmp_path, store_url, **env)

    assert failed.returncode == 1 and "the query failed" in one_line(failed)
    assert status_of(store_url, "licenses").validators.watermark == watermark
    execute(dated_source, "ALTER TABLE licenses_gone RENAME TO licenses")
    again = sync(monkeypatch, capsys, tmp_path, store_url, **env)
    assert again.returncode == 0 and f"(changed since {watermark})" in again.stdout

    # The same database named otherwise is another source: its first read is a full pass.
    renamed = dated_source.replace("postgresql://", "postgresql+psycopg://", 1)
    moved = sync(monkeypatch, capsys, tmp_path, store_url, SYNC_LICENSES=renamed)
    assert moved.returncode == 0 and "(a full pass)" in moved.stdout


def test_a_query_of_ones_own_reads_incrementally_with_since(
    dated_source, store_url, tmp_path, monkeypatch, capsys
):
    query = (
        "SELECT id, company, email, users_count, plan_code, updated_at FROM licenses"
        " WHERE updated_at >= :since"
    )
    env = {"SYNC_LICENSES": dated_source, "SYNC_LICENSES_QUERY": query}
    first = sync(monkeypatch, capsys, tmp_path, store_url, **env)
    assert first.returncode == 0, first.stderr
    assert "licenses: 24 rows from " in first.stdout and "(own query " in first.stdout
    second = sync(monkeypatch, capsys, tmp_path, store_url, **env)
    assert "licenses: 1 rows from " in second.stdout and "(changed since " in second.stdout


# ---- a sync that fails unexpectedly -----------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("INSERT INTO license", {}, Exception("server closed the connection")),
        ValueError("a bug's own words"),
    ],
)
def test_an_unexpected_failure_is_one_line_and_recorded(
    error, pg_source, store_url, tmp_path, monkeypatch, capsys
):
    real_import = sync_run.import_file

    def failing_for_licenses(session_factory, kind, path, **options):  # type: ignore[no-untyped-def]
        if kind.value == "licenses":
            raise error
        return real_import(session_factory, kind, path, **options)

    monkeypatch.setattr(sync_run, "import_file", failing_for_licenses)
    result = sync(
        monkeypatch,
        capsys,
        tmp_path,
        store_url,
        SYNC_LICENSES=pg_source,
        SYNC_HOSTS=pg_source,
    )

    assert result.returncode == 1
    line = one_line(result)  # no traceback
    assert line.startswith("licenses: failed, its last good data is kept: postgresql://")
    if isinstance(error, OperationalError):
        assert "the store failed: the store is unreachable" in line
    else:
        assert "unexpected ValueError: a bug's own words" in line
    assert result.stdout.startswith("hosts: 3 rows")  # the next kind still synced
    status = status_of(store_url, "licenses")
    assert status.last_outcome == "failed" and status.last_error is not None
