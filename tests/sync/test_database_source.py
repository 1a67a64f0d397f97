"""`export_query` against real sources: a second database on the suite's PostgreSQL holding
CustomersDot's `licenses` table and version.gitlab.com's `usage_data`, and a SQLite file holding
the same two tables. Each export is imported with the importer into a SQLite store, as the sync
will import it."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.store.db import create_store_engine, make_session_factory, sqlite_audit_path
from bot.store.importing import ImportKind, import_file
from bot.store.models import Host, License
from bot.sync.database_source import (
    APPLICATION_NAME,
    describe_database,
    export_query,
    reads_incrementally,
)
from bot.sync.https_source import SourceError
from tests.helpers.postgres import fresh_postgres_database
from tests.helpers.source_databases import fill_source

PASSWORD = "pw-s3cret/with@odd"
TIMEOUT = 5.0


@pytest.fixture(scope="module")
def source_url() -> Iterator[str]:
    """The source database on the suite's PostgreSQL, its URL carrying a password (the test
    server trusts loopback, so any password connects)."""
    with fresh_postgres_database("sync_source", migrated=False) as url:
        if url is None:
            pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL (scripts/start-postgres.sh)")
        engine = create_engine(url)
        fill_source(engine)
        engine.dispose()
        # Driverless, as an operator writes it: read with psycopg 3 all the same.
        source = make_url(url).set(drivername="postgresql", password=PASSWORD)
        yield source.render_as_string(hide_password=False)


def _psycopg(url: str) -> str:
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


@pytest.fixture
def sqlite_source(tmp_path: Path) -> str:
    path = tmp_path / "customersdot.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    fill_source(engine)
    engine.dispose()
    return f"sqlite:///{path}"


@pytest.fixture
def store(tmp_path: Path, sqlite_template: Path) -> Iterator[sessionmaker[Session]]:
    path = tmp_path / "store.sqlite3"
    shutil.copy(sqlite_template, path)
    shutil.copy(sqlite_audit_path(str(sqlite_template)), sqlite_audit_path(str(path)))
    engine = create_store_engine(f"sqlite:///{path}")
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    directory = tmp_path / "exports"
    directory.mkdir()
    return directory


def _licenses(store: sessionmaker[Session]) -> list[tuple[object, ...]]:
    with store() as session:
        rows = session.execute(
            select(
                License.id, License.company, License.user_count, License.trial, License.plan
            ).order_by(License.id)
        )
        return [tuple(row) for row in rows]


EXPECTED_LICENSES = [
    (7001, "Globex Corporation", 500, False, "premium"),
    (8999, "Initech", 50, True, "ultimate"),
    (9001, "Initech, LLC", 120, False, "premium"),
    (9002, "", 5, False, "starter"),
]


def _export(url: str, kind: ImportKind | str, directory: Path, **options: object) -> Path:
    options.setdefault("statement_timeout_seconds", TIMEOUT)
    exported = export_query(url, kind, destination_dir=directory, **options)  # type: ignore[arg-type]
    return exported.path


def test_licenses_from_postgresql_import_as_customersdots_export(
    source_url: str, store: sessionmaker[Session], exports: Path
) -> None:
    before = datetime.now(UTC)
    exported = export_query(
        source_url, "licenses", destination_dir=exports, statement_timeout_seconds=TIMEOUT
    )
    assert exported.rows == 4
    assert before <= exported.queried_at <= datetime.now(UTC)
    header = exported.path.read_text(encoding="utf-8").splitlines()[0]
    assert "license_file," not in header + ","  # the license file itself stays behind
    summary = import_file(store, ImportKind.LICENSES, exported.path)
    # Every column CustomersDot's export has that the importer reads, named as it names them.
    assert summary.warnings == ()
    assert summary.rows == 4
    assert _licenses(store) == EXPECTED_LICENSES
    with store() as session:
        bill = session.get(License, 9001)
        assert bill is not None
        assert bill.notes == 'Renewal agreed with "Bill", see deal desk\nsecond line'
        assert bill.license_md5 == "5d41402abc4b2a76b9719d911017c592"
        assert bill.issued_at is not None and bill.issued_at.microsecond == 123456


def test_licenses_from_a_sqlite_file_opened_read_only(
    sqlite_source: str, store: sessionmaker[Session], exports: Path
) -> None:
    path = Path(make_url(sqlite_source).database or "")
    modified = path.stat().st_mtime_ns
    exported = export_query(
        sqlite_source, ImportKind.LICENSES, destination_dir=exports, statement_timeout_seconds=1
    )
    assert exported.rows == 4
    summary = import_file(store, ImportKind.LICENSES, exported.path)
    assert summary.warnings == ()
    assert _licenses(store) == EXPECTED_LICENSES
    with pytest.raises(SourceError, match="read only"):
        export_query(
            sqlite_source,
            "licenses",
            destination_dir=exports,
            statement_timeout_seconds=1,
            query="DELETE FROM licenses RETURNING id, company, plan_code",
        )
    assert path.stat().st_mtime_ns == modified
    assert list(exports.iterdir()) == [exported.path]  # the failed export left nothing


def test_a_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.sqlite3"
    with pytest.raises(SourceError, match=r"licenses from sqlite:///.*could not connect"):
        export_query(
            f"sqlite:///{missing}",
            "licenses",
            destination_dir=tmp_path,
            statement_timeout_seconds=1,
        )
    assert not missing.exists()


def test_hosts_keep_only_the_newest_ping_of_each_instance(
    source_url: str, store: sessionmaker[Session], exports: Path
) -> None:
    exported = export_query(
        source_url, "hosts", destination_dir=exports, statement_timeout_seconds=TIMEOUT
    )
    assert exported.rows == 3
    summary = import_file(store, ImportKind.HOSTS, exported.path)
    assert summary.warnings == ()
    with store() as session:
        hosts = session.execute(
            select(Host.instance_key, Host.gitlab_version, Host.active_user_count).order_by(
                Host.instance_key
            )
        )
        assert [tuple(h) for h in hosts] == [
            ("host:git.globex.example", "15.1.0", 42),
            ("uuid:aaaa-1111", "17.3.0", 115),
            ("uuid:bbbb-2222", "16.0.0", 3),
        ]


def test_hosts_from_a_sqlite_file_keep_the_newest_pings_too(
    sqlite_source: str, store: sessionmaker[Session], exports: Path
) -> None:
    exported = export_query(
        sqlite_source, "hosts", destination_dir=exports, statement_timeout_seconds=TIMEOUT
    )
    assert exported.rows == 3
    summary = import_file(store, ImportKind.HOSTS, exported.path)
    assert (summary.rows, summary.inserted, summary.warnings) == (3, 3, ())


def test_a_given_query_replaces_the_default(
    source_url: str, store: sessionmaker[Session], exports: Path
) -> None:
    # A colon before a word and a percent sign inside literals are text, not parameters.
    query = """
        SELECT id, company || ' :x' AS company, plan_code AS plan, users_count
        FROM licenses WHERE trial AND email LIKE '%@initech.example';
    """
    path = _export(source_url, "licenses", exports, query=query)
    assert path.read_text(encoding="utf-8").splitlines() == [
        "id,company,plan,users_count",
        "8999,Initech :x,ultimate,50",
    ]
    import_file(store, ImportKind.LICENSES, path)
    assert _licenses(store) == [(8999, "Initech :x", 50, False, "ultimate")]


def test_subscriptions_and_reconciliations_need_a_query(
    source_url: str, store: sessionmaker[Session], exports: Path
) -> None:
    for kind in ("subscriptions", ImportKind.RECONCILIATIONS):
        with pytest.raises(SourceError) as refused:
            _export(source_url, kind, exports)
        words = str(refused.value)
        assert "no default query" in words and f"SYNC_{str(kind).upper()}_QUERY" in words
        assert PASSWORD not in words
    query = (
        "SELECT 1 AS id, 'Initech' AS customer, 'processed' AS status,"
        " DATE '2026-12-01' AS reconcile_on, 4312.50 AS invoiced_amount, 'usd' AS currency"
    )
    path = _export(source_url, "reconciliations", exports, query=query)
    summary = import_file(store, ImportKind.RECONCILIATIONS, path)
    assert (summary.rows, summary.inserted) == (1, 1)


def test_a_query_past_the_statement_timeout_says_so(source_url: str, exports: Path) -> None:
    started = time.monotonic()
    with pytest.raises(SourceError) as timed_out:
        _export(
            source_url,
            "licenses",
            exports,
            query="SELECT pg_sleep(5), 1 AS id",
            statement_timeout_seconds=1,
        )
    assert time.monotonic() - started < 4
    assert str(timed_out.value).startswith("licenses from postgresql://postgres:***@")
    assert "ran longer than the statement timeout of 1 s" in str(timed_out.value)
    assert list(exports.iterdir()) == []


def test_a_sqlite_query_past_the_timeout_is_interrupted(sqlite_source: str, exports: Path) -> None:
    endless = (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
    )
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"ran longer than the statement timeout of 0\.5 s"):
        _export(sqlite_source, "hosts", exports, query=endless, statement_timeout_seconds=0.5)
    assert time.monotonic() - started < 4


@pytest.mark.parametrize(
    "query",
    [
        "SELECT nextval('licenses_id_seq') AS id",
        "UPDATE licenses SET company = 'Hijacked' RETURNING id, company, plan_code",
        "WITH gone AS (DELETE FROM licenses RETURNING *) SELECT * FROM gone",
    ],
)
def test_a_write_through_a_query_is_refused(source_url: str, exports: Path, query: str) -> None:
    with pytest.raises(SourceError) as refused:
        _export(source_url, "licenses", exports, query=query)
    assert PASSWORD not in str(refused.value)
    engine = create_engine(_psycopg(source_url))
    with engine.connect() as connection:
        companies = connection.execute(text("SELECT company FROM licenses ORDER BY id")).scalars()
        assert list(companies) == ["Globex Corporation", "Initech", "Initech, LLC", None]
    engine.dispose()


def test_the_nextval_write_is_said_to_be_refused_as_read_only(
    source_url: str, exports: Path
) -> None:
    with pytest.raises(SourceError, match="tried to write, and the source is read only"):
        _export(source_url, "licenses", exports, query="SELECT nextval('licenses_id_seq') AS id")


def test_the_password_never_appears_in_an_error(source_url: str, exports: Path) -> None:
    url = make_url(source_url)
    refused_port = url.set(port=1).render_as_string(hide_password=False)
    no_database = url.set(database="no_such_database").render_as_string(hide_password=False)
    failures = [
        (source_url, "SELECT * FROM no_such_table"),
        (source_url, f"SELECT '{PASSWORD}' AS id FROM no_such_table"),
        (refused_port, None),
        (no_database, None),
        (source_url.replace("postgresql", "mysql", 1), None),
    ]
    for database_url, query in failures:
        with pytest.raises(SourceError) as failed:
            _export(database_url, "licenses", exports, query=query, connect_timeout_seconds=2)
        words = str(failed.value)
        assert PASSWORD not in words and "s3cret" not in words, words
        assert words.startswith("licenses from ") and ":***@" in words, words
    # The password in the query string, where a driver also takes it.
    in_query = url.set(port=1, password=None, query={"password": PASSWORD})
    with pytest.raises(SourceError) as failed:
        _export(in_query.render_as_string(hide_password=False), "licenses", exports)
    assert PASSWORD not in str(failed.value) and "s3cret" not in str(failed.value)
    assert "could not connect" in str(failed.value) and "?…" in str(failed.value)
    assert list(exports.iterdir()) == []


def test_describe_database_masks_the_password_and_the_query_string() -> None:
    assert (
        describe_database("postgresql://reader:hunter2@replica.internal:5432/customers")
        == "postgresql://reader:***@replica.internal:5432/customers"
    )
    assert (
        describe_database("postgresql://reader@replica/db?sslmode=require&password=hunter2")
        == "postgresql://reader@replica/db?…"
    )
    assert describe_database("sqlite:////var/data/customersdot.sqlite3") == (
        "sqlite:////var/data/customersdot.sqlite3"
    )
    assert describe_database("not a url") == "an unreadable database URL"


def test_rows_are_fetched_from_a_server_side_cursor_a_batch_at_a_time(
    source_url: str, exports: Path
) -> None:
    """Memory holds one batch: the server is asked for `fetch_rows` rows at a time (seen from
    another connection while the export runs), and progress is reported per batch."""
    watcher = create_engine(_psycopg(source_url))
    seen: list[tuple[int, str]] = []

    def watch(rows: int) -> None:
        with watcher.connect() as connection:
            running = connection.execute(
                # This worker's own source database: another worker's exports run elsewhere.
                text(
                    "SELECT query FROM pg_stat_activity"
                    " WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": APPLICATION_NAME},
            ).scalar_one()
        seen.append((rows, running))

    _export(source_url, "licenses", exports, fetch_rows=3, on_progress=watch)
    watcher.dispose()
    assert [rows for rows, _ in seen] == [3, 4]
    fetched = [re.match(r"FETCH FORWARD (\d+) FROM", query) for _, query in seen]
    assert all(match and int(match[1]) <= 3 for match in fetched), seen


def test_an_unknown_kind_is_refused(exports: Path) -> None:
    with pytest.raises(SourceError, match="unknown import kind 'customers'"):
        _export("sqlite:///x.sqlite3", "customers", exports)
    assert os.listdir(exports) == []


def _set_updated_at(url: str, changes: dict[int, str]) -> None:
    engine = create_engine(_psycopg(url) if url.startswith("postgresql") else url)
    with engine.begin() as connection:
        for license_id, at in changes.items():
            connection.execute(
                text("UPDATE licenses SET updated_at = :at WHERE id = :id"),
                {"at": at, "id": license_id},
            )
    engine.dispose()


@pytest.mark.parametrize("engine_name", ["postgresql", "sqlite"])
def test_the_default_licenses_query_reads_incrementally_from_a_watermark(
    engine_name: str, sqlite_source: str, exports: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("source_url") if engine_name == "postgresql" else sqlite_source
    assert reads_incrementally("licenses") and not reads_incrementally("hosts")
    _set_updated_at(url, {9001: "2026-11-01 10:00:00", 8999: "2026-11-02 10:00:00.5"})
    try:
        full = export_query(url, "licenses", destination_dir=exports, statement_timeout_seconds=5)
        assert full.rows == 4  # a row without updated_at too
        assert full.watermark is not None and full.watermark.startswith("2026-11-02")
        assert full.watermark.endswith("10:00:00.500000" if engine_name == "postgresql" else ".5")
        # >=: the boundary row is read again; the older one is not.
        again = export_query(
            url,
            "licenses",
            destination_dir=exports,
            statement_timeout_seconds=5,
            since=full.watermark,
        )
        assert again.rows == 1 and again.watermark == full.watermark
        assert again.path.read_text(encoding="utf-8").splitlines()[1].startswith("8999,")
    finally:
        _set_updated_at(url, {9001: None, 8999: None})  # type: ignore[dict-item]


def test_a_query_of_ones_own_reads_incrementally_with_since(
    sqlite_source: str, exports: Path
) -> None:
    query = "SELECT id, company, plan_code, updated_at FROM licenses WHERE updated_at >= :since"
    assert reads_incrementally("reconciliations", query)
    assert not reads_incrementally("licenses", "SELECT id FROM licenses")
    _set_updated_at(sqlite_source, {9001: "2026-11-01 10:00:00", 7001: "2026-10-01 00:00:00"})
    # A full pass binds the earliest time: every row with an updated_at.
    full = export_query(
        sqlite_source, "licenses", destination_dir=exports, statement_timeout_seconds=5, query=query
    )
    assert (full.rows, full.watermark) == (2, "2026-11-01 10:00:00")
    since = export_query(
        sqlite_source,
        "licenses",
        destination_dir=exports,
        statement_timeout_seconds=5,
        query=query,
        since="2026-10-15",
    )
    assert since.rows == 1
    with pytest.raises(SourceError, match="must return the updated_at column"):
        export_query(
            sqlite_source,
            "licenses",
            destination_dir=exports,
            statement_timeout_seconds=5,
            query="SELECT id FROM licenses WHERE updated_at >= :since",
        )
