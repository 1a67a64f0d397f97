"""Benchmark 2: HTTP throughput of /license under gunicorn, against the fixed-text Bolt app.

    python -m benchmarks.bench_http [--licenses 100000] [--database-url URL] [--seconds 10]

The servers run with the production settings (gunicorn.conf.py, as the Procfile does: the
asyncio worker, WEB_CONCURRENCY=2 workers, 4 app threads each), and the bot once more under the
threaded worker it ran under before issue 18 (`-k gthread`, 4 threads a worker); a loopback
load generator keeps 16 clients busy, each on its own keep-alive connection, sending signed
/license commands (a rotation over every query kind of benchmark 1). Requests per second and p50/p99 latency for each server, and the
ratio, all measured in the same run. The load generator shares the machine's cores with the
server (as it does with the floor), so compare the ratio.

Every user asks one kind's query again and again, so with the deployment's ANSWER_CACHE_SIZE the
bot answers most from the answers it keeps per store generation (bot/answers/answer_cache.py);
`--answer-cache-size 0` measures every request as a query asked for the first time.

Then each query kind's latency alone: one worker with one app thread (WEB_CONCURRENCY=1,
GUNICORN_THREADS=1), one client sending each kind `--latency-runs` times in turn (60), every
user's identity warm first, against the fixed-text app served the same way, running beside it
(blocks of ten requests to each in turn): p50, p50 as a multiple of the floor's p50 (over the
whole run), and p99 per kind.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.bench_lookup import (
    SECRET,
    generate,
    in_fresh_process,
    lookup_queries,
    percentile,
    timed_import,
)
from bot.store.db import create_store_engine
from bot.store.schema import upgrade
from tests.helpers.slack_requests import signed_headers, slash_command_body, with_fresh_trigger_id
from tests.helpers.slack_standin import SlackStandIn

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 16
# Enough users that none reaches the production per-user lookup limit (120 an hour) in a run:
# both bot servers' warm rounds and loads write to the one audit file, tens of thousands of rows.
USERS = 1024
EVENTS_PATH = "/slack/events"
WARM_ROUNDS = 20
# Each warm round opens new connections, which land on the workers anew: one round without a
# Slack call does not mean every user is warm in every worker, a few in a row nearly does.
QUIET_ROUNDS = 3


@dataclass
class Load:
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    rate_limited: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def gunicorn(
    module: str, env: dict[str, str], log: Path, *, extra_args: list[str] | None = None
) -> Iterator[int]:
    port = _free_port()
    full_env = {**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(port)}
    full_env.setdefault("WEB_CONCURRENCY", "2")
    full_env["PYTHONPATH"] = str(ROOT)
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", module, "--config", str(ROOT / "gunicorn.conf.py"),
             *(extra_args or [])],
            cwd=ROOT, env=full_env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def run_load(port: int, bodies: list[str], seconds: float) -> Load:
    """CLIENTS threads, each on one keep-alive connection, for `seconds`."""
    latencies: list[float] = []
    errors = [0]
    limited = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        sent = number
        while time.monotonic() < deadline:
            # Each request unique, as Slack's are: a repeated signature is refused as a replay.
            body = with_fresh_trigger_id(bodies[sent % len(bodies)])
            sent += CLIENTS
            headers = signed_headers(SECRET, body)
            started = time.perf_counter()
            try:
                connection.request("POST", EVENTS_PATH, body=body.encode(), headers=headers)
                response = connection.getresponse()
                text = response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                with lock:
                    errors[0] += 1
                continue
            mine.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                with lock:
                    errors[0] += 1
            elif b"lookups in the last hour" in text:  # bot.views.notices.rate_limited_notice
                with lock:
                    limited[0] += 1
        connection.close()
        with lock:
            latencies.extend(mine)

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Load(len(latencies), time.monotonic() - started, latencies, errors[0], limited[0])


def report(label: str, load: Load) -> None:
    print(
        f"{label:<28} {load.per_second:8,.0f} req/s  p50 {statistics.median(load.latencies_ms):7.2f} ms"
        f"  p99 {percentile(load.latencies_ms, 0.99):7.2f} ms  ({load.requests:,} requests,"
        f" {load.errors} errors, {load.rate_limited} rate-limited)",
        flush=True,
    )


# Requests to one server before the other's turn (see `latency_by_kind`).
BLOCK = 10


class _Client:
    """One keep-alive connection sending signed requests one at a time."""

    def __init__(self, port: int) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def send(self, body: str) -> float:
        """One request with a fresh trigger id (a repeated signature is a replay): its ms."""
        body = with_fresh_trigger_id(body)
        headers = signed_headers(SECRET, body)
        started = time.perf_counter()
        self._connection.request("POST", EVENTS_PATH, body=body.encode(), headers=headers)
        response = self._connection.getresponse()
        text = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200 or b"lookups in the last hour" in text:
            raise RuntimeError(f"unexpected answer {response.status}: {text[:200]!r}")
        return elapsed

    def close(self) -> None:
        self._connection.close()


def one_at_a_time(port: int, bodies: list[str], runs: int) -> list[float]:
    """`runs` requests on one keep-alive connection, each after the last: latencies in ms."""
    client = _Client(port)
    try:
        return [client.send(bodies[run % len(bodies)]) for run in range(runs)]
    finally:
        client.close()


def latency_by_kind(
    slack: SlackStandIn,
    env: dict[str, str],
    workdir: Path,
    users: list[str],
    kinds: dict[str, tuple[str, str]],
    runs: int,
) -> None:
    """Each kind's latency alone, one worker with one app thread, against the floor's.

    Both servers run at once, and the requests go in blocks of BLOCK to each in turn, back to
    back within a block (each server hot, as one answering alone is): the floor's p50 is taken
    over the whole run, under the same load as the bot's. (A floor measured before the bot
    moved between 0.68 and 0.98 ms from run to run on a shared machine, and every ratio with
    it.)"""
    alone = {**env, "WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "1"}
    warm = [slash_command_body("/license", "12345", user_id=user) for user in users]
    with (
        gunicorn("benchmarks.floor_asgi:app", alone, workdir / "floor-alone.log") as floor_port,
        gunicorn("bot.asgi:app", alone, workdir / "bot-alone.log") as bot_port,
    ):
        one_at_a_time(floor_port, warm, len(users))
        one_at_a_time(bot_port, warm, len(users))  # every identity warm, then no Slack call
        slack.clear()
        floor_client, bot_client = _Client(floor_port), _Client(bot_port)
        floor: list[float] = []
        by_kind: dict[str, list[float]] = {}
        for number, (label, (command, query)) in enumerate(kinds.items()):
            # Users in turn, a different slice for each kind: none nears the rate limit.
            bodies = [
                slash_command_body(command, query, user_id=users[(number * 7 + n) % len(users)])
                for n in range(len(users))
            ]
            for run in range(5):
                bot_client.send(bodies[run])
            samples = by_kind[label] = []
            for block in range(0, runs, BLOCK):
                block_runs = range(block, min(block + BLOCK, runs))
                floor += [floor_client.send(warm[run % len(warm)]) for run in block_runs]
                samples += [bot_client.send(bodies[run % len(bodies)]) for run in block_runs]
        floor_client.close()
        bot_client.close()
        floor_p50 = statistics.median(floor)
        print(
            f"one at a time, one worker, one thread, in blocks of {BLOCK} beside the floor's:"
            f" floor p50 {floor_p50:.2f} ms, p99 {percentile(floor, 0.99):.2f} ms",
            flush=True,
        )
        for label, samples in by_kind.items():
            p50 = statistics.median(samples)
            print(
                f"  {label:<15} p50 {p50:6.2f} ms  {p50 / floor_p50:5.1f}x floor"
                f"  p99 {percentile(samples, 0.99):6.2f} ms"
                f" ({percentile(samples, 0.99) / floor_p50:5.1f}x floor p50)",
                flush=True,
            )
        print(f"  Slack API calls: {slack.call_count()}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--licenses", type=int, default=100_000)
    parser.add_argument("--database-url", help="an empty database (default: a new SQLite file)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured load per server")
    parser.add_argument(
        "--latency-runs", type=int, default=60, help="requests per query kind, one at a time"
    )
    measured = parser.add_mutually_exclusive_group()
    measured.add_argument(
        "--latency-only", action="store_true", help="skip the throughput load (latency per kind)"
    )
    measured.add_argument(
        "--throughput-only", action="store_true", help="skip the latency per kind"
    )
    parser.add_argument(
        "--answer-cache-size",
        type=int,
        help="the bot's ANSWER_CACHE_SIZE (default: the deployment's); 0: every query as if asked"
        " for the first time",
    )
    parser.add_argument("--workdir", help="where the data goes (default: a new temporary dir)")
    parser.add_argument(
        "--no-import",
        action="store_true",
        help="serve the store and --workdir an earlier run (or bench_lookup) filled",
    )
    args = parser.parse_args(argv)
    customers = max(1, args.licenses // 4)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-http-"))
    workdir.mkdir(parents=True, exist_ok=True)
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    engine = create_store_engine(database_url)
    if args.no_import:
        if args.workdir is None:
            parser.error("--no-import needs the --workdir of the run that filled the store")
    else:
        in_fresh_process(
            generate,
            str(workdir),
            args.licenses,
            customers,
            args.licenses // 10,
            args.licenses // 20,
        )
        upgrade(engine)
        engine.dispose()
        for kind in ("subscriptions", "licenses", "reconciliations", "hosts"):
            in_fresh_process(timed_import, database_url, kind, str(workdir / f"{kind}.csv"))
    print(f"store: {engine.url.get_backend_name()}, {args.licenses:,} licenses", flush=True)

    users = [f"UHTTP{number:03d}" for number in range(USERS)]
    kinds = lookup_queries(workdir, customers)
    queries = [q for command, q in kinds.values() if command == "/license"]
    # User n always asks query kind n mod the kinds: the clients rotate over the users, so every kind
    # is in the mix evenly.
    bodies = [
        slash_command_body("/license", queries[number % len(queries)], user_id=user)
        for number, user in enumerate(users)
    ]
    with SlackStandIn() as slack:
        for user in users:
            slack.add_user(user, email=f"{user.lower()}@sales.example")
        env = {
            "SLACK_BOT_TOKEN": "xoxb-bench-http",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.api_url,
            "DATABASE_URL": database_url,
            "ALLOWED_USER_IDS": ",".join(users),
            "LOG_FORMAT": "json",
        }
        if args.answer_cache_size is not None:
            env["ANSWER_CACHE_SIZE"] = str(args.answer_cache_size)
        if not args.throughput_only:
            latency_by_kind(slack, env, workdir, users, kinds, args.latency_runs)
        if args.latency_only:
            return
        results: dict[str, Load] = {}
        for label, module, extra in (
            ("floor (fixed-text Bolt app)", "benchmarks.floor_asgi:app", []),
            ("/license (bot.asgi)", "bot.asgi:app", []),
            # The worker it ran under before issue 18, on the same store, for the cost of the
            # switch (benchmarks/bench_slow_clients.py: what the switch is for).
            ("/license (threaded worker)", "benchmarks.threaded_wsgi:app", ["-k", "gthread"]),
        ):
            log = workdir / f"{module.split(':')[0]}.log"
            with gunicorn(module, env, log, extra_args=extra) as port:
                # Warm every user's identity in every worker (one users.info each), then
                # measure with nothing calling Slack.
                quiet_rounds = 0
                for _ in range(WARM_ROUNDS):
                    slack.clear()
                    run_load(port, bodies, 2.0)
                    quiet_rounds = quiet_rounds + 1 if slack.call_count() == 0 else 0
                    if quiet_rounds >= QUIET_ROUNDS:
                        break
                slack.clear()
                results[label] = run_load(port, bodies, args.seconds)
                report(label, results[label])
                methods = Counter(call.method for call in slack.calls)
                print(f"  Slack API calls during the measured load: {dict(methods) or 0}")
    floor, ours, threaded = results.values()
    print(f"/license throughput = {ours.per_second / floor.per_second:.0%} of the floor")
    print(
        f"/license under the asyncio worker = {ours.per_second / threaded.per_second:.0%}"
        " of the threaded worker's throughput"
    )


if __name__ == "__main__":
    main()
