"""One kind's rows read from a database into an import file: issue 21's "database URL" source.

`export_query` runs the kind's query (a default reading the source system's own table, or the
operator's own `query`) and streams its rows into a CSV file in the caller's directory, whose
header is the query's column names. The default queries name their columns as the source
systems' exports do (docs/import-formats.md), so the caller imports the file exactly as a
downloaded export; this module stores nothing.

Incremental reads: given a watermark (`since`), the default licenses query reads only the rows
whose `updated_at` is at or after it, and a query of one's own does the same by using a `:since`
bind parameter (its only one). The export's `watermark` is the greatest `updated_at` it read,
for the caller to keep and pass to the next one.

Read only, and bounded in time and memory, per dialect:
- PostgreSQL (`postgresql://` is read with psycopg 3, as the store is): a READ ONLY transaction
  with `SET LOCAL statement_timeout`, and a server-side cursor read `fetch_rows` at a time, so
  the timeout bounds each FETCH and memory holds one batch;
- SQLite: the file opened `mode=ro` (a missing file is an error, never created), and a progress
  handler that interrupts a step running longer than the timeout, restarted for each batch as
  PostgreSQL's timeout is for each FETCH.
Other dialects (a warehouse) are refused until their read-only and timeout settings are written.

Every failure is one `SourceError` naming the kind and the database URL with its password and
query string masked (`describe_database`); the password never appears in it.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from bot.store.importing import ImportKind
from bot.sync.https_source import SourceError

# The databases read (by their SQLAlchemy backend names): the ones whose read-only and
# statement-timeout settings are written below.
READ_BACKENDS = frozenset({"postgres", "postgresql", "sqlite"})
DEFAULT_FETCH_ROWS = 10_000
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10
# Shown to the source's DBA in pg_stat_activity: who is reading their replica.
APPLICATION_NAME = "customersdot-for-slack sync"
# SQLite calls the progress handler every this many virtual machine steps: often enough to stop
# within a few milliseconds of the deadline, rarely enough to cost nothing measurable.
_SQLITE_PROGRESS_STEPS = 10_000
_MASK = "***"
_SECRET_PARAMETERS = ("pass", "secret", "token", "key")
# PostgreSQL's SQLSTATEs for the two failures said in words of their own.
_QUERY_CANCELED = "57014"
_READ_ONLY_TRANSACTION = "25006"
# `:name` that text() would take for a bind parameter (not `::type`, not `a:b`).
_BIND_LIKE = re.compile(r"(?<![:\w\\]):(?=\w)")
# The one bind parameter a query may use: the watermark an incremental read starts from.
SINCE_PARAMETER = "since"
_SINCE = re.compile(r"(?<![:\w\\]):since\b")
# The column whose greatest value read is the next watermark.
WATERMARK_COLUMN = "updated_at"
# `:since` on a full pass of a query that reads incrementally: before any row's time, written
# so that PostgreSQL reads it as a timestamp (or a date) and SQLite's ISO 8601 text sorts after
# it. A row whose updated_at is NULL is not >= it: such a query reads those only if it says so.
EARLIEST = "0001-01-01 00:00:00"

# CustomersDot's `licenses` table, the columns the importer reads, under the table's own names
# (those of its `COPY … CSV` export); the license file itself, kilobytes a row, is left behind.
# `updated_at` (which the importer ignores) is read for the watermark of the next, incremental
# read.
_LICENSES_SELECT = """
SELECT id, name, company, email, users_count, expires_at, created_at, updated_at, plan_name,
       starts_at, zuora_subscription_id, notes, previous_users_count, trueup_quantity, plan_code,
       trial, zuora_subscription_name, license_file_md5
FROM licenses
"""
LICENSES_QUERY = f"{_LICENSES_SELECT}ORDER BY id\n"
# The incremental form: the rows changed since the last read. `>=`, not `>`: a row updated in
# the same instant as the watermark's row (or committed later with an equal timestamp) is not
# missed; reading the boundary rows again is harmless, the import's upsert rewrites nothing
# that is unchanged. A row whose transaction commits after a read with an older updated_at than
# the watermark is missed by this form: the sync's daily full pass reads it.
LICENSES_SINCE_QUERY = f"{_LICENSES_SELECT}WHERE updated_at >= :since\nORDER BY id\n"

# version.gitlab.com's `usage_data`, the newest ping of each instance (its uuid, else its
# hostname, as the store keys hosts): the table holds every ping ever sent. The importer keeps
# the newest of an instance's pings anyway, so a key this query and the importer fold slightly
# differently (a trailing dot) costs a duplicate row, never a wrong one. A window function
# rather than DISTINCT ON: it reads the same on SQLite and in a warehouse.
HOSTS_QUERY = """
SELECT hostname, version, active_user_count, historical_max_users, recorded_at, license_md5,
       uuid, license_billable_users
FROM (
    SELECT usage_data.*,
           ROW_NUMBER() OVER (
               PARTITION BY COALESCE(
                   'uuid:' || LOWER(NULLIF(TRIM(uuid), '')), 'host:' || LOWER(TRIM(hostname))
               )
               ORDER BY recorded_at IS NULL, recorded_at DESC, id DESC
           ) AS newest
    FROM usage_data
) AS pings
WHERE newest = 1
"""

DEFAULT_QUERIES: dict[ImportKind, str] = {
    ImportKind.LICENSES: LICENSES_QUERY,
    ImportKind.HOSTS: HOSTS_QUERY,
}
# The default queries that have an incremental form (a ping table is append-only and read for
# its newest row per instance: the hosts query has none).
INCREMENTAL_QUERIES: dict[ImportKind, str] = {ImportKind.LICENSES: LICENSES_SINCE_QUERY}


@dataclass(frozen=True)
class QueryExport:
    """The query's rows in `path` (the caller imports it, then deletes it)."""

    path: Path
    rows: int
    # When the query started: the data's age, as Last-Modified is an HTTPS export's.
    queried_at: datetime
    # The greatest `updated_at` read, as text (the next incremental read's `:since`); None when
    # the query has no such column or read no row with one.
    watermark: str | None = None


def reads_incrementally(kind: ImportKind | str, query: str | None = None) -> bool:
    """Whether `kind`'s query (`query`, else the default) can read only the rows changed since
    a watermark: a query of one's own that uses `:since`, or a default with an incremental
    form."""
    if query is not None and query.strip():
        return _SINCE.search(query) is not None
    return ImportKind(_kind_name(kind)) in INCREMENTAL_QUERIES


def describe_database(database_url: str) -> str:
    """The URL as errors and status lines may show it: the password masked, and the query
    string too (a driver may take a password or a key there)."""
    try:
        url = make_url(database_url)
    except (ArgumentError, ValueError):
        return "an unreadable database URL"
    shown = url.set(query={}).render_as_string(hide_password=True)
    return f"{shown}?…" if url.query else shown


def export_query(
    database_url: str,
    kind: ImportKind | str,
    *,
    destination_dir: Path,
    statement_timeout_seconds: float,
    query: str | None = None,
    since: str | None = None,
    fetch_rows: int = DEFAULT_FETCH_ROWS,
    connect_timeout_seconds: int = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    on_progress: Callable[[int], None] | None = None,
) -> QueryExport:
    """Run `kind`'s query (`query` replaces the default) on the database at `database_url` and
    write its rows, with a header of its column names, to a new CSV file in `destination_dir`.

    `since`: a watermark (a previous export's), to read only the rows changed since it, when
    the query reads incrementally (`reads_incrementally`); None reads every row (a query using
    `:since` gets EARLIEST). A query that uses `:since` must return `updated_at`, whose greatest
    value is the export's `watermark`.

    `statement_timeout_seconds` bounds each round trip (the query's start, each batch of
    `fetch_rows`); `on_progress(rows_written)` is called after each batch. A query that returns
    no rows gives a file with its header alone: whether that is an error is the caller's to say.
    On failure (SourceError) no file is left behind.
    """
    if statement_timeout_seconds <= 0 or fetch_rows < 1:
        raise ValueError("statement_timeout_seconds and fetch_rows must be positive")
    source = f"{_kind_name(kind)} from {describe_database(database_url)}"
    sql = _query_for(kind, query, source, incremental=since is not None)
    uses_since = _SINCE.search(sql) is not None
    secrets = _secrets_of(database_url)
    engine = _engine_for(database_url, source, connect_timeout_seconds)
    try:
        return _Export(
            source=source,
            secrets=secrets,
            sql=sql,
            timeout_seconds=statement_timeout_seconds,
            fetch_rows=fetch_rows,
            on_progress=on_progress,
            since=(since or EARLIEST) if uses_since else None,
        ).run(engine, destination_dir)
    finally:
        engine.engine.dispose()


def _kind_name(kind: ImportKind | str) -> str:
    try:
        return ImportKind(str(kind).strip().lower()).value
    except ValueError:
        expected = ", ".join(k.value for k in ImportKind)
        raise SourceError(
            f"unknown import kind {str(kind)!r}; expected one of {expected}"
        ) from None


def _query_for(kind: ImportKind | str, query: str | None, source: str, *, incremental: bool) -> str:
    import_kind = ImportKind(_kind_name(kind))
    defaults = INCREMENTAL_QUERIES if incremental else {}
    chosen = (
        query
        if query is not None and query.strip()
        else defaults.get(import_kind, DEFAULT_QUERIES.get(import_kind))
    )
    if chosen is None:
        raise SourceError(
            f"{source}: no default query reads {import_kind.value} from a database (the source "
            f"systems have no such table); set SYNC_{import_kind.value.upper()}_QUERY"
        )
    # One statement: a trailing semicolon would end the cursor's DECLARE early.
    return chosen.strip().rstrip(";").strip()


def _secrets_of(database_url: str) -> list[str]:
    """What must never be shown: the URL itself, its password as written (percent-encoded) and
    decoded, and query parameters named like a secret."""
    secrets = [database_url]
    try:
        url = make_url(database_url)
    except (ArgumentError, ValueError):
        return secrets
    if url.password:
        secrets.append(str(url.password))
    # A driver may take its password or key in the query string (`?password=…`).
    for name, value in url.query.items():
        if any(word in name.lower() for word in _SECRET_PARAMETERS):
            secrets.extend([value] if isinstance(value, str) else value)
    _, _, netloc = database_url.partition("://")
    userinfo = netloc.split("/", 1)[0].rpartition("@")[0]
    if ":" in userinfo:
        secrets.append(userinfo.partition(":")[2])
    return sorted(filter(None, secrets), key=len, reverse=True)


@dataclass(frozen=True)
class _Engine:
    engine: Engine
    # SQLite's deadline, restarted before each round trip; None on PostgreSQL (the server's
    # statement_timeout does the same).
    deadline: _Deadline | None


class _Deadline:
    """A wall-clock deadline SQLite's progress handler checks: past it, the step is interrupted."""

    def __init__(self) -> None:
        self._until = float("inf")

    def restart(self, seconds: float) -> None:
        self._until = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() > self._until


def _engine_for(database_url: str, source: str, connect_timeout_seconds: int) -> _Engine:
    try:
        url = make_url(database_url)
    except (ArgumentError, ValueError):
        raise SourceError(f"{source}: the database URL cannot be read") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, source)
    if backend in READ_BACKENDS:
        return _postgresql_engine(url, source, connect_timeout_seconds)
    raise SourceError(
        f"{source}: only PostgreSQL and SQLite databases are read so far (read-only and a "
        f"statement timeout are set per dialect, and {backend}'s are not written yet)"
    )


def _postgresql_engine(url: URL, source: str, connect_timeout_seconds: int) -> _Engine:
    # A driverless URL would load psycopg2, which is not installed (bot/config.py does the same
    # for the store's DATABASE_URL).
    if "+" not in url.drivername:
        url = url.set(drivername="postgresql+psycopg")
    try:
        engine = create_engine(
            url,
            poolclass=NullPool,
            hide_parameters=True,
            connect_args={
                "connect_timeout": int(connect_timeout_seconds),
                "application_name": APPLICATION_NAME,
            },
        )
    except (NoSuchModuleError, ImportError):
        raise SourceError(f"{source}: the driver {url.drivername} is not installed") from None
    return _Engine(engine, None)


def _sqlite_engine(url: URL, source: str) -> _Engine:
    database = url.database
    if not database or database == ":memory:":
        raise SourceError(f"{source}: an in-memory SQLite database holds nothing to read")
    # mode=ro: writes fail, and a mistyped path fails instead of creating an empty database.
    uri = f"{Path(database).resolve().as_uri()}?mode=ro"
    deadline = _Deadline()

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        connection.set_progress_handler(deadline.passed, _SQLITE_PROGRESS_STEPS)
        return connection

    engine = create_engine("sqlite://", creator=connect, poolclass=NullPool, hide_parameters=True)
    return _Engine(engine, deadline)


@dataclass(frozen=True)
class _Export:
    """One export's settings; `run` performs it."""

    source: str
    secrets: list[str]
    sql: str
    timeout_seconds: float
    fetch_rows: int
    on_progress: Callable[[int], None] | None
    # The value bound to `:since` (None: the query has no `:since`).
    since: str | None = None

    def run(self, engine: _Engine, destination_dir: Path) -> QueryExport:
        fd, name = tempfile.mkstemp(prefix="sync-", suffix=".csv", dir=destination_dir)
        path = Path(name)
        try:
            with (
                os.fdopen(fd, "w", encoding="utf-8", newline="") as out,
                self._connection(engine.engine) as connection,
            ):
                queried_at = datetime.now(UTC)
                rows, watermark = self._copy(connection, engine.deadline, out)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return QueryExport(path, rows, queried_at, watermark)

    @contextmanager
    def _connection(self, engine: Engine) -> Iterator[Connection]:
        """A connection in a read-only transaction that is rolled back, never committed."""
        try:
            connection = engine.connect()
        except SQLAlchemyError as error:
            raise SourceError(f"{self.source}: could not connect ({self._words(error)})") from None
        try:
            transaction = connection.begin()
            try:
                if connection.dialect.name == "postgresql":
                    self._guard_postgresql(connection)
                yield connection
            finally:
                # Rolled back, never committed: nothing a query did is kept.
                transaction.rollback()
        finally:
            connection.close()

    def _guard_postgresql(self, connection: Connection) -> None:
        milliseconds = max(1, round(self.timeout_seconds * 1000))
        try:
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            connection.exec_driver_sql(f"SET LOCAL statement_timeout = {milliseconds}")
        except DBAPIError as error:
            raise self._failure(error) from None

    def _copy(
        self, connection: Connection, deadline: _Deadline | None, out: TextIO
    ) -> tuple[int, str | None]:
        writer = csv.writer(out, lineterminator="\n")
        rows = 0
        newest = _Greatest()
        try:
            if deadline is not None:
                deadline.restart(self.timeout_seconds)
            parameters = {} if self.since is None else {SINCE_PARAMETER: self.since}
            # A server-side cursor (PostgreSQL), read at most `fetch_rows` rows a round trip:
            # memory holds one batch whatever the table's size.
            result = (
                connection.execution_options(stream_results=True)
                .execute(
                    text(_literal_sql(self.sql, keep_since=self.since is not None)), parameters
                )
                .yield_per(self.fetch_rows)
            )
            columns = list(result.keys())
            watermark_at = columns.index(WATERMARK_COLUMN) if WATERMARK_COLUMN in columns else None
            if self.since is not None and watermark_at is None:
                raise SourceError(
                    f"{self.source}: a query that reads incrementally (it uses :since) must "
                    f"return the {WATERMARK_COLUMN} column, the next read's watermark"
                )
            writer.writerow(columns)
            batches = result.partitions()
            while True:
                if deadline is not None:
                    deadline.restart(self.timeout_seconds)
                batch = next(batches, None)
                if batch is None:
                    break
                writer.writerows(self._cells(columns, row) for row in batch)
                if watermark_at is not None:
                    newest.add(row[watermark_at] for row in batch)
                rows += len(batch)
                if self.on_progress is not None:
                    self.on_progress(rows)
        except DBAPIError as error:
            raise self._failure(error) from None
        except SQLAlchemyError as error:
            raise SourceError(f"{self.source}: the query failed ({self._words(error)})") from None
        watermark = None if newest.value is None else _cell(newest.value, WATERMARK_COLUMN, "")
        return rows, watermark

    def _cells(self, columns: Sequence[str], row: Sequence[Any]) -> list[str]:
        return [
            _cell(value, column, self.source) for column, value in zip(columns, row, strict=True)
        ]

    def _failure(self, error: DBAPIError) -> SourceError:
        original = error.orig
        state = getattr(original, "sqlstate", None)
        message = str(original).lower()
        if state == _QUERY_CANCELED or message.startswith("interrupted"):
            return SourceError(
                f"{self.source}: the query ran longer than the statement timeout of "
                f"{self.timeout_seconds:g} s"
            )
        if state == _READ_ONLY_TRANSACTION or "readonly database" in message:
            return SourceError(
                f"{self.source}: the query tried to write, and the source is read only "
                f"({self._words(error)})"
            )
        return SourceError(f"{self.source}: the query failed ({self._words(error)})")

    def _words(self, error: SQLAlchemyError) -> str:
        """The driver's first line with every secret this export knows replaced (never the SQL:
        SQLAlchemy appends the statement, which a custom query may make long)."""
        original = error.orig if isinstance(error, DBAPIError) else error
        lines = str(original).strip().splitlines()
        words = f"{type(original).__name__}: {lines[0] if lines else ''}".rstrip(": ")
        for secret in self.secrets:
            words = words.replace(secret, _MASK)
        return words


def _literal_sql(sql: str, *, keep_since: bool = False) -> str:
    """The query for text() with no bind parameters but `:since` (`keep_since`): any other
    `:name` inside it is literal text (a string literal may hold a colon before a word)."""

    def escaped(match: re.Match[str]) -> str:
        if keep_since and _SINCE.match(sql, match.start()):
            return ":"
        return "\\:"

    return _BIND_LIKE.sub(escaped, sql)


class _Greatest:
    """The greatest of the values seen, None ignored: compared as they came (datetimes from
    PostgreSQL, ISO 8601 text from SQLite), as text where they cannot be (a column of mixed
    types, as SQLite allows)."""

    def __init__(self) -> None:
        self.value: Any = None

    def add(self, values: Iterable[Any]) -> None:
        for value in values:
            if value is None:
                continue
            if self.value is None:
                self.value = value
                continue
            try:
                greater = value > self.value
            except TypeError:
                greater = str(value) > str(self.value)
            if greater:
                self.value = value


def _cell(value: Any, column: str, source: str) -> str:
    """A value as the importer reads a cell (docs/import-formats.md): empty for NULL, ISO 8601
    for dates and times (a naive timestamp is UTC, as Rails stores it), `true`/`false`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bytes | bytearray | memoryview):
        raise SourceError(f"{source}: column {column} holds binary data, which no import reads")
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
