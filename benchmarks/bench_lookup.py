"""Benchmarks 1, 3 and 4: lookup latency, import rate, memory; each beside a same-run baseline.

    python -m benchmarks.bench_lookup [--licenses 1000000] [--database-url URL] [--runs 200]

3. Import: our importer loading the Zuora subscriptions export and the licenses CSV into an
   empty store (each file regrouping the customers in its transaction), then the same licenses
   with every row changed into the full store (all updates: every seat count, and one company in
   a hundred respelt, so it regroups), against a raw-driver bulk load
   (sqlite3 executemany / psycopg COPY) of the rows the store ends with in every table the
   import writes (subscriptions, licenses, customers with their search index, the name
   vocabulary) into an empty store with the same indexes and triggers; then reconciliations and
   hosts. Each import runs in a fresh process, so its peak RSS (VmHWM) is its own.
1. Lookups: signed slash commands dispatched in-process through the real Bolt app (warm
   identity cache, audit write and rate-limit check included, no answers kept: each dispatch
   searches and loads as a query asked for the first time), against the same dispatch of a
   Bolt app whose command only acks a fixed text (the framework floor).
4. Memory: the peak RSS of each import process, and of this process, which only serves.
Absolute times drift on shared machines; the ratios are the figures to compare.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import Engine, create_engine, make_url, text

from benchmarks import datagen
from bot.app import create_app
from bot.config import Settings
from bot.search import company_search_key
from bot.services import build_services
from bot.store.db import create_store_engine, is_sqlite, make_session_factory
from bot.store.importing import import_file
from bot.store.models import Base
from bot.store.schema import upgrade
from tests.helpers.slack_requests import bolt_request, slash_command_body, with_fresh_trigger_id
from tests.helpers.slack_standin import SlackStandIn

SECRET = "bench-secret"
# Lookups rotate over this many allowed users so the production per-user rate limit (which
# stays on: its check is part of a request's cost) never refuses one. Each run has users of its
# own: the limit counts the store's audit rows, and a run on a store an earlier one filled
# (--lookups-only, profile_lookup) would otherwise find its users' hour already spent.
BENCH_USERS = 64
RAW_CHUNK_ROWS = 50_000


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource  # not Linux: ru_maxrss is KB there too on Linux, bytes on macOS

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_fresh_process(function: Callable[..., Any], *args: Any) -> Any:
    """Run `function(*args)` in a new interpreter: its memory and peak RSS are its own."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


# --- data and imports (each run in a fresh process) -----------------------------------------


def generate(workdir: str, licenses: int, customers: int, recons: int, hosts: int) -> None:
    today = datetime.now(UTC).date()
    base = Path(workdir)
    datagen.write_licenses(base / "licenses.csv", licenses, customers, today)
    datagen.write_licenses(
        base / "licenses-update.csv", licenses, customers, today, user_count_offset=1
    )
    datagen.write_subscriptions(base / "subscriptions.csv", customers)
    datagen.write_reconciliations(base / "reconciliations.csv", recons, customers, today)
    datagen.write_hosts(base / "hosts.csv", hosts, licenses, today)


def timed_import(database_url: str, kind: str, path: str) -> tuple[float, float, str]:
    """(seconds, peak RSS MB, summary) of our importer loading one file."""
    engine = create_store_engine(database_url)
    started = time.perf_counter()
    summary = import_file(make_session_factory(engine), kind, Path(path))
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds, peak_rss_mb(), summary.describe()


# The tables an import of licenses and subscriptions writes, parents first: the raw baseline
# loads the rows the store ends with in each (the name search index and the name vocabulary's
# are kept by the customer_name and search_word tables' own indexes and triggers, as for our
# import).
WRITTEN_TABLES = (
    "subscription",
    "license",
    "customer",
    "customer_name",
    "name_bigram",
    "search_word",
)


def _stored_rows(engine: Engine, table: str) -> Iterator[tuple[list[str], list[tuple[Any, ...]]]]:
    """`table`'s rows as the driver returns them, a chunk at a time (a server-side cursor on
    PostgreSQL: the 1M-license store is not held in memory)."""
    columns = [column.name for column in Base.metadata.tables[table].columns]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor() if is_sqlite(engine) else raw.cursor(name=f"read_{table}")
        cursor.execute(f"SELECT {', '.join(columns)} FROM {table}")
        while chunk := cursor.fetchmany(RAW_CHUNK_ROWS):
            yield columns, chunk
    finally:
        raw.close()


def raw_load(database_url: str, raw_url: str) -> tuple[float, float, dict[str, tuple[int, float]]]:
    """The engine's own cost of what our import ends with: every row of WRITTEN_TABLES, read
    from our store and loaded into an empty store of the same schema (indexes, triggers) in
    one transaction. Only the driver's writes and the commit are timed, not the reading: a
    stricter floor. (seconds, peak RSS MB, {table: (rows, seconds)})."""
    source = create_store_engine(database_url)
    target = create_store_engine(raw_url)
    upgrade(target)
    seconds = 0.0
    counts: dict[str, tuple[int, float]] = {}
    raw = target.raw_connection()
    try:
        cursor = raw.cursor()
        if is_sqlite(target):
            cursor.execute("BEGIN")  # the driver connection is in autocommit mode
        for table in WRITTEN_TABLES:
            table_rows, table_seconds = 0, 0.0
            for columns, rows in _stored_rows(source, table):
                started = time.perf_counter()
                if is_sqlite(target):
                    placeholders = ", ".join("?" for _ in columns)
                    cursor.executemany(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",
                        rows,
                    )
                else:
                    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                table_seconds += time.perf_counter() - started
                table_rows += len(rows)
            counts[table] = (table_rows, table_seconds)
            seconds += table_seconds
        started = time.perf_counter()
        raw.commit()
        seconds += time.perf_counter() - started
    finally:
        raw.close()
    source.dispose()
    target.dispose()
    return seconds, peak_rss_mb(), counts


def create_postgresql_database(server_url: str, name: str) -> str:
    """A new, empty database `name` on the server of `server_url` (dropped first if a previous
    run left it); its URL."""
    url = make_url(server_url)
    if "+" not in url.drivername:
        url = url.set(drivername="postgresql+psycopg")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def fresh_postgresql_database(database_url: str, suffix: str) -> str:
    """A new, empty database beside `database_url`'s on the same server (dropped first if a
    previous run left it): the raw baseline's store."""
    return create_postgresql_database(database_url, f"{make_url(database_url).database}_{suffix}")


def drop_postgresql_database(database_url: str) -> None:
    url = make_url(database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


# --- lookups --------------------------------------------------------------------------------


def timed_dispatch(app: App, bodies: list[str], runs: int) -> list[float]:
    samples = []
    for run in range(runs):
        # Each request unique, as Slack's are: a repeated signature is refused as a replay.
        request = bolt_request(with_fresh_trigger_id(bodies[run % len(bodies)]), SECRET)
        started = time.perf_counter()
        response = app.dispatch(request)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status == 200, response.body
    return samples


def floor_app(api_url: str) -> App:
    app = App(
        client=WebClient(token="xoxb-bench", base_url=api_url),
        signing_secret=SECRET,
        token_verification_enabled=False,
        process_before_response=True,
    )

    @app.command("/license")
    def fixed(ack: Callable[..., None]) -> None:
        ack(text="fixed")

    return app


def bench_users() -> list[str]:
    run = f"{os.getpid():X}"
    return [f"UBENCH{run}N{number:03d}" for number in range(BENCH_USERS)]


def lookup_queries(workdir: Path, customers: int) -> dict[str, tuple[str, str]]:
    """label -> (command, text): one customer named every way a user would."""
    names = datagen.company_names(customers)
    middle = customers // 2
    name = names[middle]
    with (workdir / "licenses.csv").open(newline="") as handle:
        # One of the customer's own contact emails (the first license filed under its name).
        email = next(row[3] for row in csv.reader(handle) if row[1] == name)
    with (workdir / "hosts.csv").open(newline="") as handle:
        rows = csv.reader(handle)
        next(rows)  # the header
        hostname = next(rows)[0]
    # A one-word query with a letter typed twice ("Meesa"): the typo the all-words-but-one probe
    # cannot catch, so it exercises the ranked trigram fallback over every name sharing a word.
    word = next((w for w in name.split() if len(w) >= 4 and w.isalpha()), name.split()[0])
    # The names issue 17 made searchable: a licensee that is not the account's name, a
    # contact's name, a Japanese name's two characters; and the identifiers.
    licensee_customer = next(
        index for index in range(middle, customers) if datagen.licensee_name(index)
    )
    cjk_customer = next(
        index
        for index in range(middle, customers)
        if index % datagen.CJK_EVERY == datagen.CJK_OFFSET
    )
    salesforce_customer = next(index for index in range(middle, customers) if index % 3)
    contact_name, _ = datagen.contact(middle, 1)
    # A three-word name ("Stark Wayne Labs 125003"): its first two words begin fewer names than
    # a probe's LIMIT (a few hundred at 1M), its first three a handful.
    three_words = next(
        names[index].split()
        for index in range(middle, customers)
        if len(names[index].split()) > 3 and names[index].split()[1] in datagen.FIRST
    )
    return {
        "exact name": ("/license", name),
        "typo": ("/license", name.replace("a", "e", 1) if "a" in name else name + "x"),
        "typo, one word": ("/license", word[:2] + word[1:]),
        "prefix": ("/license", company_search_key(name)[:4]),
        # The first words of a name, as typed before the rest ("Mesa Media "): words that
        # begin the names of hundreds of customers.
        "first words": ("/license", " ".join(name.split()[:2]) + " "),
        "first words, fewer": ("/license", " ".join(three_words[:2])),
        "and a word begun": ("/license", " ".join(three_words[:2]) + " " + three_words[2][:2]),
        "email": ("/license", email),
        "domain": ("/license", f"@c{middle}.example"),
        "subscription": ("/license", f"A-S{middle:08d}"),
        "license id": ("/license", "12345"),
        "hostname": ("/license", hostname),
        "licensee name": ("/license", datagen.licensee_name(licensee_customer) or ""),
        "contact name": ("/license", contact_name),
        "CJK, 2 chars": ("/license", datagen.cjk_name(cjk_customer).removeprefix("株式会社")[:2]),
        "Salesforce id": ("/license", datagen.salesforce_id(salesforce_customer)),
        "account number": ("/license", f"A{middle:08d}"),
        "Zuora id": ("/license", f"{middle:032x}"),
        "recon name": ("/recon", name),
    }


def outcome_of(response_body: str) -> str:
    """What a user saw: a card, a pick list, a not-found, ... (from the reply's text)."""
    if "lookups in the last hour" in response_body:  # bot.views.notices.rate_limited_notice
        return "RATE LIMITED"
    if "Did you mean" in response_body or "No customer" in response_body:
        return "not found"
    if "Several customers match" in response_body:
        return "pick list"
    return "card"


def bench_app(slack: SlackStandIn, database_url: str) -> tuple[list[str], App]:
    """The bot on `database_url`, its allowed users known to the Slack stand-in: the users and
    the app, wired as `python -m bot serve` wires it, but keeping no answers."""
    users = bench_users()
    for user in users:
        slack.add_user(user, email=f"{user.lower()}@sales.example")
    settings = Settings(
        slack_bot_token="xoxb-bench",
        slack_signing_secret=SECRET,
        slack_api_url=slack.api_url,
        database_url=database_url,
        allowed_user_ids=frozenset(users),
        # Each dispatch a query asked for the first time in the store's generation: every kind
        # is timed again and again, and a kept answer would time the cache, not the search
        # (bench_http measures both).
        answer_cache_size=0,
    )
    return users, create_app(settings, services=build_services(settings))


def run_lookups(database_url: str, workdir: Path, customers: int, runs: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with SlackStandIn() as slack:
        users, app = bench_app(slack, database_url)
        floor = floor_app(slack.api_url)
        floor_bodies = [slash_command_body("/license", "x", user_id=user) for user in users]
        timed_dispatch(floor, floor_bodies, len(users))
        floor_samples = timed_dispatch(floor, floor_bodies, runs)
        figures["floor"] = (statistics.median(floor_samples), percentile(floor_samples, 0.99))
        # Warm every user's identity (one users.info each), then nothing calls Slack.
        for user in users:
            warm = bolt_request(slash_command_body("/license", "12345", user_id=user), SECRET)
            app.dispatch(warm)
        for label, (command, query) in lookup_queries(workdir, customers).items():
            bodies = [slash_command_body(command, query, user_id=user) for user in users]
            first = app.dispatch(bolt_request(bodies[0], SECRET))
            slack.clear()
            samples = timed_dispatch(app, bodies, runs)
            figures[label] = (
                statistics.median(samples),
                percentile(samples, 0.99),
                outcome_of(str(first.body)),
                slack.call_count() / runs,
            )
    return figures


# --- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--licenses", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, help="default: licenses / 4")
    parser.add_argument("--reconciliations", type=int, help="default: licenses / 10")
    parser.add_argument("--hosts", type=int, help="default: licenses / 20")
    parser.add_argument("--database-url", help="an empty database (default: a new SQLite file)")
    parser.add_argument("--runs", type=int, default=200, help="timed dispatches per query kind")
    parser.add_argument("--workdir", help="where the data goes (default: a new temporary dir)")
    parser.add_argument(
        "--lookups-only",
        action="store_true",
        help="time the lookups again on the store and --workdir an earlier run filled",
    )
    args = parser.parse_args(argv)
    licenses = args.licenses
    customers = args.customers or max(1, licenses // 4)
    recons = args.reconciliations or max(1, licenses // 10)
    hosts = args.hosts or max(1, licenses // 20)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    sqlite = database_url.startswith("sqlite")

    if args.lookups_only:
        if args.workdir is None:
            parser.error("--lookups-only needs the --workdir of the run that filled the store")
        report_lookups(database_url, workdir, customers, args.runs)
        return

    started = time.perf_counter()
    in_fresh_process(generate, str(workdir), licenses, customers, recons, hosts)
    with (workdir / "subscriptions.csv").open() as handle:
        subscription_rows = sum(1 for _ in handle) - 1
    backend = create_store_engine(database_url).url.get_backend_name()
    print(
        f"store: {backend}, {licenses:,} licenses, {customers:,} customers, "
        f"{recons:,} reconciliations, {hosts:,} hosts (data generated in "
        f"{time.perf_counter() - started:.0f} s)",
        flush=True,
    )

    engine = create_store_engine(database_url)
    upgrade(engine)
    engine.dispose()

    def our_import(label: str, kind: str, name: str, rows: int) -> float:
        seconds, rss, summary = in_fresh_process(
            timed_import, database_url, kind, str(workdir / name)
        )
        print(
            f"import {label + ':':<22}{rows / seconds:10,.0f} rows/s"
            f"  ({seconds:.1f} s, peak RSS {rss:.0f} MB) {summary}",
            flush=True,
        )
        return seconds

    # A first load, subscriptions before licenses (any order gives the same customers; this one
    # regroups over an empty license table first).
    first_load = our_import(
        "subscriptions, empty", "subscriptions", "subscriptions.csv", subscription_rows
    ) + our_import("licenses, empty", "licenses", "licenses.csv", licenses)
    raw_url = (
        f"sqlite:///{workdir / 'raw.sqlite3'}"
        if sqlite
        else fresh_postgresql_database(database_url, "raw")
    )
    raw_seconds, raw_rss, raw_counts = in_fresh_process(raw_load, database_url, raw_url)
    if not sqlite:
        drop_postgresql_database(raw_url)
    raw_rows = sum(rows for rows, _ in raw_counts.values())
    print(
        f"import raw driver:           {raw_rows / raw_seconds:10,.0f} rows/s  ({raw_seconds:.1f} s,"
        f" peak RSS {raw_rss:.0f} MB) "
        + ", ".join(f"{table} {rows:,} in {s:.1f} s" for table, (rows, s) in raw_counts.items()),
        flush=True,
    )
    print(f"first load (both files) = {raw_seconds / first_load:5.1%} of raw  ({first_load:.1f} s)")
    updates = our_import("licenses, updates", "licenses", "licenses-update.csv", licenses)
    print(f"all updates             = {raw_seconds / updates:5.1%} of raw  ({updates:.1f} s)")
    our_import("reconciliations", "reconciliations", "reconciliations.csv", recons)
    our_import("hosts", "hosts", "hosts.csv", hosts)

    report_lookups(database_url, workdir, customers, args.runs)


def report_lookups(database_url: str, workdir: Path, customers: int, runs: int) -> None:
    figures = run_lookups(database_url, workdir, customers, runs)
    floor_p50, floor_p99 = figures.pop("floor")
    print(f"floor (fixed-text Bolt app): p50 {floor_p50:6.2f} ms  p99 {floor_p99:6.2f} ms")
    for label, (p50, p99, outcome, slack_calls) in figures.items():
        print(
            f"{label:<13} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  ({p50 / floor_p50:4.0f}x floor p50)"
            f"  -> {outcome}; Slack calls/request {slack_calls:.0f}"
        )
    print(f"serving process peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
