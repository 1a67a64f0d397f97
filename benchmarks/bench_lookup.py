"""Lookup latency and import rate, each next to a baseline measured in the same run.

    python -m benchmarks.bench_lookup [--licenses 20000] [--database-url URL] [--runs 200]

1. Import: our importer loading N licenses into an empty store, against a raw-driver bulk load of
   the same rows into the same table (sqlite3 executemany / psycopg COPY).
2. Lookups: signed slash commands dispatched in-process through the real Bolt app (warm identity
   cache, audit write included), against a Bolt app whose command only acks a fixed text.
Absolute times drift on shared machines; the ratios are the figures to compare.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import text

from benchmarks.datagen import customer_name, write_licenses
from bot.app import build_services, create_app
from bot.config import Settings
from bot.store.db import create_store_engine, is_sqlite, make_session_factory
from bot.store.importer import import_file
from bot.store.schema import upgrade
from tests.slack_requests import bolt_request, slash_command_body
from tests.slack_standin import SlackStandIn

SECRET = "bench-secret"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def timed_dispatch(app: App, body: str, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        request = bolt_request(body, SECRET)
        started = time.perf_counter()
        response = app.dispatch(request)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status == 200, response.body
    return samples


def raw_load_seconds(database_url: str, csv_path: Path) -> float:
    """The engine's own cost: the same rows into the same (indexed) license table."""
    engine = create_store_engine(database_url)
    upgrade(engine)
    with csv_path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [
            [*[cell or None for cell in row], row[3].lower(), row[3].split("@")[1], f"sf:{row[15]}"]
            for row in reader
        ]
    columns = [*header, "contact_email_key", "contact_email_domain", "customer_key"]
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if is_sqlite(engine):
            cursor.execute("BEGIN")  # the driver connection is in autocommit mode
            placeholders = ", ".join("?" for _ in columns)
            cursor.executemany(
                f"INSERT INTO license ({', '.join(columns)}) VALUES ({placeholders})",
                [[*r[:6], r[6] == "true", *r[7:]] for r in rows],
            )
        else:
            with cursor.copy(f"COPY license ({', '.join(columns)}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row([*r[:6], r[6] == "true", *r[7:]])
        raw.commit()
    finally:
        raw.close()
    seconds = time.perf_counter() - started
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM license"))
    engine.dispose()
    return seconds


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--licenses", type=int, default=20_000)
    parser.add_argument("--database-url")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    customers = max(1, args.licenses // 4)
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    csv_path = workdir / "licenses.csv"
    write_licenses(csv_path, args.licenses, customers, datetime.now(UTC).date())

    raw_seconds = raw_load_seconds(database_url, csv_path)
    engine = create_store_engine(database_url)
    started = time.perf_counter()
    import_file(make_session_factory(engine), "licenses", csv_path)
    ours_seconds = time.perf_counter() - started
    print(
        f"store: {engine.url.get_backend_name()}, {args.licenses:,} licenses, {customers:,} customers"
    )
    print(
        f"import: {args.licenses / ours_seconds:,.0f} rows/s; raw driver {args.licenses / raw_seconds:,.0f}"
        f" rows/s; ours = {raw_seconds / ours_seconds:.0%} of raw"
    )

    with SlackStandIn() as slack:
        slack.add_user("UBENCH", email="bench@sales.example")
        settings = Settings(
            slack_bot_token="xoxb-bench",
            slack_signing_secret=SECRET,
            slack_api_url=slack.api_url,
            database_url=database_url,
            allowed_user_ids=frozenset({"UBENCH"}),
        )
        app = create_app(settings, services=build_services(replace(settings), engine=engine))
        name = customer_name(customers // 2, customers=customers)
        queries = {
            "exact name": name,
            "typo": name.replace("a", "e", 1),
            "prefix": name.split()[0][:4],
            "email": f"user1@c{customers // 2}.example",
            "domain": f"@c{customers // 2}.example",
            "subscription": f"A-S{customers // 2:08d}",
            "license id": "12345",
        }
        floor = timed_dispatch(
            floor_app(slack.api_url),
            slash_command_body("/license", "x", user_id="UBENCH"),
            args.runs,
        )
        floor_p50 = statistics.median(floor)
        print(
            f"floor (fixed-text Bolt app): p50 {floor_p50:.2f} ms, p99 {percentile(floor, 0.99):.2f} ms"
        )
        for label, query in queries.items():
            body = slash_command_body("/license", query, user_id="UBENCH")
            timed_dispatch(app, body, 3)  # warm the identity cache and the engine's caches
            samples = timed_dispatch(app, body, args.runs)
            p50 = statistics.median(samples)
            print(
                f"/license {label:<13} p50 {p50:6.2f} ms  p99 {percentile(samples, 0.99):6.2f} ms"
                f"  ({p50 / floor_p50:.0f}x floor)"
            )


if __name__ == "__main__":
    main()
