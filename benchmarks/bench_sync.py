"""Sync: `python -m bot sync` of one kind from each source kind, against the plain import of the
same file into a fresh store, measured in the same run.

    python -m benchmarks.bench_sync [--licenses 20000] [--engine sqlite|postgresql]
                                    [--postgres-url URL] [--workdir DIR]

A sync from a file or a URL goes through `bot.sync.run.sync_kind`, as `python -m bot sync
licenses` does: the attempt recorded, the source read into a file (or taken as is), the file
imported as a full source, the success recorded. `sync_kind` reads no database or Zuora source
yet, so those are read as it will read them (`export_query`, `export_subscriptions` into a
scratch directory) and imported as a full source, the query's time as the data's age: the same
work but for the two sync_state writes. Each measurement runs in a fresh process on a fresh store, so its
time and peak RSS are its own; the servers and source databases stay in this process (or on the
PostgreSQL server), as they would be on another machine.

- licenses, the import layout (`benchmarks/datagen.py`): the plain import of the file, then a
  sync of the same file from a file source, from a loopback HTTP URL (ETag, Last-Modified), and
  from the same URL gzip-compressed (`Content-Encoding: gzip`); then a second sync of the plain
  URL on the store the first filled: a 304, nothing imported.
- licenses, CustomersDot's `licenses` table: the same rows in the table's columns, as a file
  imported plainly, then synced from a PostgreSQL database holding the table (loaded with COPY;
  needs --postgres-url or BENCH_POSTGRES_URL) and from a SQLite file holding it.
- subscriptions: the plain import of the Zuora export, then a sync from a stand-in of Zuora's
  Data Query API (token, submit, one poll, the gzip result file served as S3 serves it).

"source step" is the same source read alone into a scratch directory (the download, the query
export, the Data Query job): what the sync adds to the import. Absolute times drift on shared
machines; compare the ratios.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import multiprocessing
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from benchmarks import datagen
from benchmarks.bench_lookup import create_postgresql_database, drop_postgresql_database
from bot.config import Settings
from bot.store.db import create_store_engine, make_session_factory
from bot.store.importing import ImportKind, import_file
from bot.store.schema import upgrade
from bot.sync import run as sync_run
from bot.sync.database_source import export_query
from bot.sync.https_source import fetch_export
from bot.sync.zuora_source import export_subscriptions

# A sync of a full source (a file, a URL, a query without a watermark) imports it as the
# complete export; the plain import it is compared with does the same.
FULL = True
# The Zuora stand-in's job id and the token it hands out.
ZUORA_JOB = "2c92c0f8-bench-job"
ZUORA_TOKEN = "bench-token"
COPY_CHUNK_BYTES = 1 << 20

# CustomersDot's `licenses` table, column for column (tests/data/customersdot_licenses.csv's
# header): the database sources hold it, and its plain import is their baseline.
CUSTOMERSDOT_COLUMNS = (
    "id name company email users_count license_file expires_at created_at updated_at plan_name "
    "starts_at zuora_subscription_id notes previous_users_count trueup_quantity trueup_from "
    "trueup_to plan_code trial zuora_subscription_name license_file_md5 creator_id"
).split()
CUSTOMERSDOT_TABLE = """
CREATE TABLE licenses (
    id bigint PRIMARY KEY, name varchar, company varchar, email varchar, users_count integer,
    license_file text, expires_at date, created_at timestamp, updated_at timestamp,
    plan_name varchar, starts_at date, zuora_subscription_id varchar, notes text,
    previous_users_count integer, trueup_quantity integer, trueup_from date, trueup_to date,
    plan_code varchar, trial boolean, zuora_subscription_name varchar,
    license_file_md5 varchar, creator_id integer
)
"""
_INTEGER_COLUMNS = {"id", "users_count", "previous_users_count", "trueup_quantity", "creator_id"}


# --- data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Files:
    licenses: Path  # the import layout
    licenses_gz: Path
    customersdot: Path  # the same rows in CustomersDot's `licenses` columns
    subscriptions: Path
    subscriptions_gz: Path


def generate(workdir: Path, licenses: int) -> Files:
    today = datetime.now(UTC).date()
    customers = max(1, licenses // 4)
    files = Files(
        licenses=workdir / "licenses.csv",
        licenses_gz=workdir / "licenses.csv.gz",
        customersdot=workdir / "customersdot_licenses.csv",
        subscriptions=workdir / "subscriptions.csv",
        subscriptions_gz=workdir / "subscriptions.csv.gz",
    )
    # A --workdir that an earlier run of the same size filled is reused as it is.
    done = workdir / f"generated-{licenses}"
    if done.exists():
        return files
    datagen.write_licenses(files.licenses, licenses, customers, today)
    datagen.write_subscriptions(files.subscriptions, customers)
    write_customersdot_layout(files.licenses, files.customersdot)
    for plain, compressed in (
        (files.licenses, files.licenses_gz),
        (files.subscriptions, files.subscriptions_gz),
    ):
        with plain.open("rb") as source, gzip.open(compressed, "wb", compresslevel=6) as target:
            shutil.copyfileobj(source, target, COPY_CHUNK_BYTES)
    done.touch()
    return files


def write_customersdot_layout(licenses: Path, target: Path) -> None:
    """The generated licenses as rows of CustomersDot's `licenses` table (`COPY … CSV HEADER`
    of it): the ids, names, seats, dates and subscription the import layout carries; the
    table has no Salesforce or Zuora account id, and the license file itself is left empty (a
    real table holds kilobytes of it a row, which the default query does not read)."""
    with licenses.open(newline="") as source, target.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CUSTOMERSDOT_COLUMNS)
        for row in csv.DictReader(source):
            issued = row["issued_at"].removesuffix("Z").replace("T", " ")
            writer.writerow(
                [
                    row["id"],
                    row["contact_name"],
                    row["company"],
                    row["contact_email"],
                    row["user_count"],
                    "",  # license_file
                    row["expires_at"],
                    issued,
                    issued,  # updated_at
                    row["plan_name"],
                    row["starts_at"],
                    row["zuora_subscription_id"],
                    row["notes"],
                    row["previous_user_count"],
                    row["trueup_quantity"],
                    "",  # trueup_from
                    "",  # trueup_to
                    row["plan"],
                    row["trial"],
                    row["zuora_subscription_name"],
                    row["license_md5"],
                    "",  # creator_id
                ]
            )


# --- stores ---------------------------------------------------------------------------------


@dataclass
class Stores:
    """Fresh, empty stores on the chosen engine, one per measurement, removed after it."""

    engine: str
    workdir: Path
    postgres_url: str | None
    made: int = 0

    @contextmanager
    def fresh(self) -> Iterator[str]:
        self.made += 1
        if self.engine == "sqlite":
            path = self.workdir / f"store-{self.made}.sqlite3"
            try:
                yield f"sqlite:///{path}"
            finally:
                for leftover in self.workdir.glob(f"store-{self.made}.*"):
                    leftover.unlink()
            return
        assert self.postgres_url is not None
        url = create_postgresql_database(self.postgres_url, f"bench_sync_store_{os.getpid()}")
        try:
            yield url
        finally:
            drop_postgresql_database(url)


# --- the database sources: CustomersDot's `licenses` table, filled with the same rows ---------


def fill_postgresql_source(server_url: str, customersdot: Path) -> str:
    """A database of its own on the server holding the `licenses` table, loaded with COPY from
    the CustomersDot-layout file; its URL."""
    url = create_postgresql_database(server_url, f"bench_sync_source_{os.getpid()}")
    engine = create_engine(url)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(CUSTOMERSDOT_TABLE)
        columns = ", ".join(CUSTOMERSDOT_COLUMNS)
        with (
            customersdot.open("rb") as rows,
            cursor.copy(
                f"COPY licenses ({columns}) FROM STDIN WITH (FORMAT csv, HEADER true)"
            ) as copy,
        ):
            while chunk := rows.read(COPY_CHUNK_BYTES):
                copy.write(chunk)
        cursor.execute("ANALYZE licenses")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return url


def fill_sqlite_source(path: Path, customersdot: Path) -> str:
    """A SQLite file holding the `licenses` table with the same rows; its URL."""
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path)
    try:
        connection.execute(CUSTOMERSDOT_TABLE)
        placeholders = ", ".join("?" for _ in CUSTOMERSDOT_COLUMNS)
        with customersdot.open(newline="") as rows, connection:
            reader = csv.reader(rows)
            header = next(reader)
            connection.executemany(
                f"INSERT INTO licenses ({', '.join(header)}) VALUES ({placeholders})",
                (_sqlite_row(header, row) for row in reader),
            )
    finally:
        connection.close()
    return f"sqlite:///{path}"


def _sqlite_row(header: list[str], row: list[str]) -> list[Any]:
    """A CSV row as the table stores it: NULL for empty cells, integers and booleans as such."""
    values: list[Any] = []
    for column, cell in zip(header, row, strict=True):
        if cell == "":
            values.append(None)
        elif column in _INTEGER_COLUMNS:
            values.append(int(cell))
        elif column == "trial":
            values.append(cell == "true")
        else:
            values.append(cell)
    return values


# --- what each fresh process measures -------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    seconds: float
    # This process's CPU (user and system): less swayed by other work on a shared machine than
    # the wall time; a server's (PostgreSQL's, the HTTP server's) is not in it.
    cpu_seconds: float
    rows: int
    peak_rss_mb: float
    # The second sync's wall and CPU time and its line, when one was asked for (a 304).
    again: tuple[float, float] | None = None
    again_line: str = ""


class Stopwatch:
    """Wall and CPU time since it was made."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _open_store(store_url: str) -> Any:
    engine = create_store_engine(store_url)
    upgrade(engine)
    return engine


def measure_import(store_url: str, kind: str, path: str) -> Measured:
    """The plain import of `path` into the empty store at `store_url`."""
    engine = _open_store(store_url)
    try:
        watch = Stopwatch()
        summary = import_file(make_session_factory(engine), kind, Path(path), full=FULL)
        seconds, cpu = watch.read()
    finally:
        engine.dispose()
    return Measured(seconds, cpu, summary.rows, peak_rss_mb())


def measure_sync(store_url: str, kind: str, source: Any, twice: bool = False) -> Measured:
    """`sync_kind` of `source` into the empty store at `store_url` (and, `twice`, once more on
    the store it filled)."""
    engine = _open_store(store_url)
    factory = make_session_factory(engine)
    settings = Settings()
    import_kind = ImportKind(kind)
    try:
        watch = Stopwatch()
        result = sync_run.sync_kind(factory, import_kind, source, settings)
        seconds, cpu = watch.read()
        if not result.succeeded:
            raise RuntimeError(result.line)
        rows = _rows_of(result.line)
        again: tuple[float, float] | None = None
        again_line = ""
        if twice:
            watch = Stopwatch()
            second = sync_run.sync_kind(factory, import_kind, source, settings)
            again = watch.read()
            if not second.succeeded:
                raise RuntimeError(second.line)
            again_line = second.line
    finally:
        engine.dispose()
    return Measured(seconds, cpu, rows, peak_rss_mb(), again, again_line)


def _rows_of(line: str) -> int:
    """The row count of a sync's success line ("licenses: 1,000 rows from …")."""
    words = line.split()
    return int(words[1].replace(",", "")) if len(words) > 1 and words[2] == "rows" else 0


def measure_fetch(url: str) -> Measured:
    """The download alone (`fetch_export`), as the sync does it, into a scratch directory."""
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="bench-fetch-") as scratch:
        watch = Stopwatch()
        fetch_export(
            url,
            destination_dir=Path(scratch),
            max_bytes=settings.sync_max_bytes,
            timeout_seconds=settings.sync_timeout_seconds,
        )
        seconds, cpu = watch.read()
    return Measured(seconds, cpu, 0, peak_rss_mb())


def measure_query(database_url: str) -> Measured:
    """The query export alone (`export_query`, the default licenses query), as the sync runs it."""
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="bench-query-") as scratch:
        watch = Stopwatch()
        exported = export_query(
            database_url,
            ImportKind.LICENSES,
            destination_dir=Path(scratch),
            statement_timeout_seconds=settings.sync_timeout_seconds,
        )
        seconds, cpu = watch.read()
    return Measured(seconds, cpu, exported.rows, peak_rss_mb())


def measure_zuora(rest_url: str) -> Measured:
    """The Data Query job alone (`export_subscriptions`: token, submit, poll, download)."""
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="bench-zuora-") as scratch:
        watch = Stopwatch()
        export_subscriptions(
            rest_url,
            "bench-client",
            "bench-secret",
            destination_dir=Path(scratch),
            max_bytes=settings.sync_max_bytes,
            timeout_seconds=settings.sync_timeout_seconds,
        )
        seconds, cpu = watch.read()
    return Measured(seconds, cpu, 0, peak_rss_mb())


def in_fresh_process(function: Callable[..., Measured], *args: Any) -> Measured:
    """Run `function(*args)` in a new interpreter: its time, memory and peak RSS are its own."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


# --- a loopback object store and a Zuora stand-in -------------------------------------------


@dataclass
class Served:
    path: Path
    etag: str
    last_modified: str
    content_encoding: str | None = None
    content_type: str = "text/csv"


@dataclass
class ExportServer:
    """Files by path, streamed from disk as an object store serves them (ETag, Last-Modified, a
    matching If-None-Match answered 304), and Zuora's Data Query API: a token, a submitted job
    that is complete at its first poll, and its result at a pre-signed-looking URL."""

    files: dict[str, Served] = field(default_factory=dict)
    zuora_result: str | None = None  # the path of the job's dataFile

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                route = self.path.split("?")[0]
                if route == f"/query/jobs/{ZUORA_JOB}":
                    job = {"id": ZUORA_JOB, "queryStatus": "completed"}
                    job["dataFile"] = server.url(f"{server.zuora_result}?X-Amz-Signature=bench")
                    self._json({"data": job})
                    return
                served = server.files.get(route)
                if served is None:
                    self._answer(404, {}, b"not found")
                elif self.headers.get("If-None-Match") == served.etag:
                    self._answer(304, {"ETag": served.etag}, b"")
                else:
                    self._stream(served)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                route = self.path.split("?")[0]
                if route == "/oauth/token":
                    self._json({"access_token": ZUORA_TOKEN, "token_type": "bearer"})
                elif route == "/query/jobs":
                    self._json({"data": {"id": ZUORA_JOB, "queryStatus": "submitted"}})
                else:
                    self._answer(404, {}, b"not found")

            def _json(self, body: dict[str, Any]) -> None:
                self._answer(200, {"Content-Type": "application/json"}, json.dumps(body).encode())

            def _stream(self, served: Served) -> None:
                headers = {
                    "ETag": served.etag,
                    "Last-Modified": served.last_modified,
                    "Content-Type": served.content_type,
                    "Content-Length": str(served.path.stat().st_size),
                }
                if served.content_encoding:
                    headers["Content-Encoding"] = served.content_encoding
                self.send_response(200)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                with served.path.open("rb") as body:
                    shutil.copyfileobj(body, self.wfile, COPY_CHUNK_BYTES)

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True

    def serve(self, route: str, path: Path, **options: Any) -> str:
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        etag = f'"{path.stat().st_size:x}-{int(modified.timestamp()):x}"'
        self.files[route] = Served(path, etag, format_datetime(modified, usegmt=True), **options)
        return self.url(route)

    def url(self, route: str) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{route}"

    def __enter__(self) -> ExportServer:
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# --- the run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str
    measured: Measured
    baseline: Measured | None  # None: this row is a baseline
    source_step: float | None = None

    def cells(self) -> list[str]:
        measured, baseline = self.measured, self.baseline
        if baseline is None:
            ratio = cpu_ratio = "1.00x (baseline)"
        else:
            ratio = f"{measured.seconds / baseline.seconds:.2f}x"
            cpu_ratio = f"{measured.cpu_seconds / baseline.cpu_seconds:.2f}x"
        rows = measured.rows
        return [
            self.label,
            f"{measured.seconds:.2f} s",
            ratio,
            f"{measured.cpu_seconds:.2f} s",
            cpu_ratio,
            f"{rows:,}",
            f"{rows / measured.seconds:,.0f}" if rows else "-",
            f"{self.source_step:.1f} s" if self.source_step is not None else "-",
            f"{measured.peak_rss_mb:.0f} MB",
        ]


HEADER = [
    "source",
    "seconds",
    "vs plain import",
    "CPU",
    "CPU vs plain import",
    "rows",
    "rows/s",
    "source step",
    "peak RSS",
]


def print_table(rows: list[Row]) -> None:
    table = [HEADER, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


def run(workdir: Path, licenses_count: int, engine: str, postgres_url: str | None) -> list[Row]:
    """Every measurement, each row printed as it is measured; the rows."""
    started = time.perf_counter()
    files = generate(workdir, licenses_count)
    print(
        f"generated {licenses_count:,} licenses ({files.licenses.stat().st_size / 2**20:.1f} MB, "
        f"gzip {files.licenses_gz.stat().st_size / 2**20:.1f} MB) and "
        f"{files.subscriptions.stat().st_size / 2**20:.1f} MB of subscriptions in "
        f"{time.perf_counter() - started:.1f} s; store: {engine}",
        flush=True,
    )
    stores = Stores(engine, workdir, postgres_url)
    rows: list[Row] = []

    def measured(function: Callable[..., Measured], *rest: Any) -> Measured:
        with stores.fresh() as store_url:
            return in_fresh_process(function, store_url, *rest)

    def add(row: Row) -> None:
        rows.append(row)
        print(f"  {' | '.join(row.cells())}", flush=True)

    licenses = ImportKind.LICENSES.value
    with ExportServer() as server:
        plain_url = server.serve("/exports/licenses.csv", files.licenses)
        gzip_url = server.serve(
            "/exports/licenses-gzip.csv", files.licenses_gz, content_encoding="gzip"
        )
        baseline = measured(measure_import, licenses, str(files.licenses))
        add(Row("licenses: plain import of the file", baseline, None))
        add(
            Row(
                "licenses: sync, file source",
                measured(measure_sync, licenses, sync_run.FileSource(files.licenses)),
                baseline,
            )
        )
        fetch_plain = in_fresh_process(measure_fetch, plain_url).seconds
        first = measured(measure_sync, licenses, sync_run.UrlSource(plain_url), True)
        add(Row("licenses: sync, HTTP URL", first, baseline, fetch_plain))
        fetch_gzip = in_fresh_process(measure_fetch, gzip_url).seconds
        add(
            Row(
                "licenses: sync, HTTP URL, gzip",
                measured(measure_sync, licenses, sync_run.UrlSource(gzip_url)),
                baseline,
                fetch_gzip,
            )
        )
        assert first.again is not None
        print(f"  second sync: {first.again_line}")
        add(
            Row(
                "licenses: sync again, HTTP URL (304)",
                Measured(*first.again, 0, first.peak_rss_mb),
                baseline,
            )
        )
        customersdot = measured(measure_import, licenses, str(files.customersdot))
        add(Row("licenses, CustomersDot's table: plain import of the file", customersdot, None))
        if postgres_url:
            source_url = fill_postgresql_source(postgres_url, files.customersdot)
            try:
                query = in_fresh_process(measure_query, source_url).seconds
                add(
                    Row(
                        "licenses, CustomersDot's table: sync, PostgreSQL source",
                        measured(measure_sync, licenses, sync_run.DatabaseSource(source_url)),
                        customersdot,
                        query,
                    )
                )
            finally:
                drop_postgresql_database(source_url)
        else:
            print("  no --postgres-url: the PostgreSQL source is not measured")
        source_url = fill_sqlite_source(workdir / "source.sqlite3", files.customersdot)
        query = in_fresh_process(measure_query, source_url).seconds
        add(
            Row(
                "licenses, CustomersDot's table: sync, SQLite source",
                measured(measure_sync, licenses, sync_run.DatabaseSource(source_url)),
                customersdot,
                query,
            )
        )

        subscriptions = ImportKind.SUBSCRIPTIONS.value
        server.serve(
            f"/results/{ZUORA_JOB}.csv.gz",
            files.subscriptions_gz,
            content_type="binary/octet-stream",
        )
        server.zuora_result = f"/results/{ZUORA_JOB}.csv.gz"
        plain = measured(measure_import, subscriptions, str(files.subscriptions))
        add(Row("subscriptions: plain import of the file", plain, None))
        job = in_fresh_process(measure_zuora, server.url("")).seconds
        add(
            Row(
                "subscriptions: sync, Zuora Data Query",
                measured(
                    measure_sync,
                    subscriptions,
                    sync_run.ZuoraSource(server.url(""), "bench-client", "bench-secret"),
                ),
                plain,
                job,
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--licenses", type=int, default=20_000)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL"),
        help="a PostgreSQL server (any database on it; default BENCH_POSTGRES_URL): the "
        "benchmark creates and drops databases of its own there, the store's with "
        "--engine postgresql and the database source's",
    )
    parser.add_argument(
        "--workdir",
        help="where the files and SQLite stores go, the files kept for another run "
        "of the same size (default: a temporary directory, removed at the end)",
    )
    args = parser.parse_args(argv)
    if args.engine == "postgresql" and not args.postgres_url:
        parser.error("--engine postgresql needs --postgres-url or BENCH_POSTGRES_URL")
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        rows = run(Path(args.workdir), args.licenses, args.engine, args.postgres_url)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-sync-") as scratch:
            rows = run(Path(scratch), args.licenses, args.engine, args.postgres_url)
    print()
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
