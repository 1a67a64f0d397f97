"""Benchmark 4: signed lookups while hundreds of clients send their requests slowly.

    python -m benchmarks.bench_slow_clients [--slow-clients 300] [--lookups 20]

Two servers, each with the production settings (gunicorn.conf.py, WEB_CONCURRENCY=2) on the
end-to-end data set: the threaded worker the bot ran under before issue 18 (`-k gthread`,
4 threads a worker) and the asyncio worker it runs under now (bot.asgi). For each, signed
/license lookups one after another, first alone, then while `--slow-clients` connections wait
half-sent (half of them after their headers and one byte of a 1,000-byte body, half in the
middle of their headers). Each lookup gets ATTACK_TIMEOUT seconds; the report gives how many
were answered and their median latency against the same server's unhindered median.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from benchmarks.bench_http import gunicorn
from bot.store.db import create_store_engine, make_session_factory
from bot.store.schema import upgrade
from tests.helpers.e2e_dataset import load_dataset
from tests.helpers.slack_requests import post_to_url, slash_command_body
from tests.helpers.slack_standin import SlackStandIn
from tests.helpers.slow_clients import slow_client

SECRET = "bench-slow-clients-secret"
# Longer than any lookup takes, shorter than a slow client is kept (bot.asgi_adapter:
# BODY_SECONDS): an answer within it was not waiting for the slow clients to be let go.
ATTACK_TIMEOUT = 8.0
SERVERS = (
    ("threaded worker (gthread, 4 threads)", "benchmarks.threaded_wsgi:app", ["-k", "gthread"]),
    ("asyncio worker (bot.asgi, production)", "bot.asgi:app", []),
)


def _lookups(port: int, count: int, timeout: float) -> list[float | None]:
    """Seconds each lookup took, None for one not answered within `timeout`."""
    url = f"http://127.0.0.1:{port}/slack/events"
    taken: list[float | None] = []
    for _ in range(count):
        started = time.perf_counter()
        try:
            response = post_to_url(
                url, slash_command_body("/license", "Initech"), SECRET, timeout=timeout
            )
            taken.append(time.perf_counter() - started if response.status_code == 200 else None)
        except httpx.TimeoutException:
            taken.append(None)
    return taken


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slow-clients", type=int, default=300)
    parser.add_argument("--lookups", type=int, default=20)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-slow-"))
    database_url = f"sqlite:///{workdir / 'store.sqlite3'}"
    engine = create_store_engine(database_url)
    upgrade(engine)
    load_dataset(make_session_factory(engine), workdir, datetime.now(UTC).date())
    engine.dispose()
    with SlackStandIn() as slack:
        slack.add_user("UALLOWED", email="ae@sales.example")
        env = {
            "SLACK_BOT_TOKEN": "xoxb-bench-slow",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.api_url,
            "DATABASE_URL": database_url,
            "ALLOWED_USER_IDS": "UALLOWED",
            "LOG_FORMAT": "json",
            "LOOKUP_RATE_LIMIT_PER_HOUR": "0",
        }
        for label, module, extra in SERVERS:
            log = workdir / f"{module.split(':')[0]}.log"
            with gunicorn(module, env, log, extra_args=extra) as port:
                alone = [t for t in _lookups(port, args.lookups, ATTACK_TIMEOUT) if t is not None]
                slow = [slow_client(port, n) for n in range(args.slow_clients)]
                try:
                    # A threaded server answers none: a few tries say so without waiting long.
                    attacked = _lookups(port, max(3, args.lookups // 4), ATTACK_TIMEOUT)
                    attacked += (
                        _lookups(port, args.lookups - len(attacked), ATTACK_TIMEOUT)
                        if all(t is not None for t in attacked)
                        else []
                    )
                finally:
                    for connection in slow:
                        connection.close()
            answered = [t for t in attacked if t is not None]
            base = statistics.median(alone)
            print(f"{label}: alone, median {base * 1000:.1f} ms over {len(alone)} lookups")
            if answered:
                median = statistics.median(answered)
                print(
                    f"  with {args.slow_clients} slow clients: {len(answered)} of {len(attacked)}"
                    f" answered, median {median * 1000:.1f} ms = {median / base:.2f}x alone"
                )
            else:
                print(
                    f"  with {args.slow_clients} slow clients: 0 of {len(attacked)} answered"
                    f" within {ATTACK_TIMEOUT:.0f} s"
                )


if __name__ == "__main__":
    main()
