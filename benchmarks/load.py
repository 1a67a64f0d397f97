"""Load: HTTP mode under gunicorn, concurrent signed slash commands and share clicks.

    python -m benchmarks.load [--seconds 60] [--concurrency 16] [--database-url URL]

Loopback only, bounded in time and count. gunicorn runs with the Procfile's config against the
Slack stand-in from the test suite. Every share click must produce exactly one `response_url`
post: the report counts 5xx answers, lost posts and duplicated posts (all must be zero) and the
ack latency (p50, p99) of each kind of request. The per-user rate limit is turned off: this
measures the server, not the limit.

    python -m benchmarks.load --hostile [--seconds 20] [--concurrency 4]

Hostile-body mode (issue 10): one gunicorn worker at LOG_LEVEL=INFO, and beside the signed
clients two unsigned attackers that keep sending, in turn, a 200 MiB body with its length
declared, a 200 MiB chunked body, a 100 KB run of letters (Bolt logs an unverified body; the
redactor once took 31 s over one) and junk. Every signed lookup must still be answered within
Slack's 3 seconds, every hostile body refused with a 4xx, and the worker's peak RSS must not
grow by anything near a body's size.
"""

from __future__ import annotations

import argparse
import os
import random
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bot import ids
from bot.store.db import create_store_engine, make_session_factory
from bot.store.schema import upgrade
from tests.helpers.e2e_dataset import load_dataset
from tests.helpers.slack_requests import (
    DEFAULT_CHANNEL_ID,
    block_actions_payload,
    interaction_body,
    signed_headers,
    slash_command_body,
)
from tests.helpers.slack_standin import SlackStandIn

ROOT = Path(__file__).resolve().parent.parent
SECRET = "load-signing-secret"
USERS = [f"U0LOAD{n:02d}" for n in range(16)]
MAX_REQUESTS = 200_000  # a hard bound whatever the duration
QUERIES = ["initech", "globex", "umbrel", "9001", "@initech.example", "A-S00091000"]
SLACK_ACK_SECONDS = 3.0
HOSTILE_BODY_BYTES = 200 * 1024 * 1024
HOSTILE_KINDS = ("oversized", "oversized-chunked", "letters-100k", "junk")


@dataclass
class LoadReport:
    seconds: float = 0.0
    latencies_ms: dict[str, list[float]] = field(
        default_factory=lambda: {"command": [], "share": []}
    )
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    shares_sent: int = 0
    lost_posts: int = 0
    duplicated_posts: int = 0
    # Hostile-body mode: what each kind of unsigned body got back ("reset": the server closed
    # the connection while the body was still being sent, having read no more of it).
    hostile: dict[str, Counter[str]] = field(default_factory=dict)
    worker_peak_rss_growth_mib: float | None = None

    @property
    def hostile_sent(self) -> int:
        return sum(sum(outcomes.values()) for outcomes in self.hostile.values())

    @property
    def slowest_ack_ms(self) -> float:
        return max((max(samples) for samples in self.latencies_ms.values() if samples), default=0)

    @property
    def hostile_ok(self) -> bool:
        """Every hostile body refused (4xx or a reset), none answered 2xx or 5xx."""
        return all(
            outcome == "reset" or outcome.startswith("4")
            for outcomes in self.hostile.values()
            for outcome in outcomes
        )

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + self.transport_errors

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    @property
    def ok(self) -> bool:
        return (
            self.server_errors == 0
            and self.transport_errors == 0
            and self.lost_posts == 0
            and self.duplicated_posts == 0
            and set(self.statuses) <= {200}
            and (
                not self.hostile
                or (self.hostile_ok and self.slowest_ack_ms < SLACK_ACK_SECONDS * 1000)
            )
        )

    def lines(self) -> list[str]:
        out = [
            f"{self.requests:,} requests in {self.seconds:.1f} s "
            f"({self.requests / max(self.seconds, 1e-9):,.0f}/s); statuses {dict(self.statuses)}; "
            f"transport errors {self.transport_errors}",
            f"shares {self.shares_sent:,}: lost posts {self.lost_posts}, "
            f"duplicated posts {self.duplicated_posts}",
        ]
        for kind, samples in self.latencies_ms.items():
            if samples:
                ordered = sorted(samples)
                p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
                out.append(
                    f"{kind:<8} ack p50 {statistics.median(samples):6.1f} ms, p99 {p99:6.1f} ms"
                    f" ({len(samples):,} requests)"
                )
        if self.hostile:
            for kind, outcomes in self.hostile.items():
                out.append(f"hostile {kind:<18} {dict(outcomes)}")
            out.append(
                f"slowest signed ack {self.slowest_ack_ms:,.0f} ms (Slack waits 3,000); worker "
                f"peak RSS grew {self.worker_peak_rss_growth_mib:,.1f} MiB (a body: 200 MiB)"
            )
        out.append("PASS" if self.ok else "FAIL")
        return out


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_gunicorn(
    slack: SlackStandIn, database_url: str, workdir: Path, workers: int, log_level: str = "WARNING"
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "SLACK_BOT_TOKEN": "xoxb-load",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": database_url,
        "ALLOWED_USER_IDS": ",".join(USERS),
        "LOOKUP_RATE_LIMIT_PER_HOUR": "0",
        "LOG_LEVEL": log_level,
        "PYTHONPATH": str(ROOT),
    }
    log = (workdir / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "bot.asgi:app",
            "--config",
            str(ROOT / "gunicorn.conf.py"),
        ],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {(workdir / 'gunicorn.log').read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("gunicorn did not become healthy")


def _client_loop(
    number: int,
    events_url: str,
    slack: SlackStandIn,
    deadline: float,
    budget: threading.Semaphore,
    report: LoadReport,
    lock: threading.Lock,
    share_names: list[str],
) -> None:
    user = USERS[number % len(USERS)]
    with httpx.Client(timeout=10) as client:
        sequence = 0
        while time.monotonic() < deadline and budget.acquire(blocking=False):
            sequence += 1
            if sequence % 4 == 0:
                kind = "share"
                name = f"share-{number}-{sequence}"
                payload = block_actions_payload(
                    ids.LICENSE_SHARE_ACTION,
                    value="sf:0016100000INITEC",
                    user_id=user,
                    is_ephemeral=True,
                    response_url=slack.response_url(name),
                )
                body = interaction_body(payload)
            else:
                kind = "command"
                name = None
                body = slash_command_body(
                    "/license", QUERIES[sequence % len(QUERIES)], user_id=user
                )
            started = time.perf_counter()
            try:
                response = client.post(
                    events_url, content=body.encode(), headers=signed_headers(SECRET, body)
                )
            except httpx.TransportError:
                with lock:
                    report.transport_errors += 1
                continue
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                report.statuses[response.status_code] += 1
                report.latencies_ms[kind].append(elapsed)
                if name is not None and response.status_code == 200:
                    report.shares_sent += 1
                    share_names.append(name)


def _worker_peak_rss_kib(master: subprocess.Popen[bytes]) -> int:
    """VmHWM (peak resident set) of gunicorn's worker: hostile mode runs exactly one."""
    [worker] = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    for line in Path(f"/proc/{worker}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/<worker>/status")


def _send_oversized(host: str, port: int, *, chunked: bool) -> str:
    """Offer a HOSTILE_BODY_BYTES unsigned body; stop sending once the server has answered."""
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {HOSTILE_BODY_BYTES}"
    head = (
        f"POST /slack/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Slack-Request-Timestamp: {int(time.time())}\r\nX-Slack-Signature: v0=00\r\n"
        f"{framing}\r\n\r\n"
    )
    block = b"a" * 65536
    piece = b"%x\r\n%b\r\n" % (len(block), block) if chunked else block
    with socket.create_connection((host, port), timeout=10) as connection:
        try:
            connection.sendall(head.encode())
            for _ in range(HOSTILE_BODY_BYTES // len(block)):
                if select.select([connection], [], [], 0)[0]:
                    break  # the server has answered: it will read no more
                connection.sendall(piece)
            answer = connection.recv(64)
        except OSError:
            return "reset"
    return answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "reset"


def _hostile_loop(url: str, deadline: float, report: LoadReport, lock: threading.Lock) -> None:
    address = httpx.URL(url)
    host, port = address.host, address.port or 80
    junk = random.Random(10)
    with httpx.Client(timeout=30) as client:
        sequence = 0
        while time.monotonic() < deadline:
            kind = HOSTILE_KINDS[sequence % len(HOSTILE_KINDS)]
            sequence += 1
            if kind.startswith("oversized"):
                outcome = _send_oversized(host, port, chunked=kind.endswith("chunked"))
            else:
                body = (
                    b"token=x&text=" + b"a" * 100_000
                    if kind == "letters-100k"
                    else bytes(junk.randrange(256) for _ in range(2000))
                )
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Slack-Request-Timestamp": str(int(time.time())),
                    "X-Slack-Signature": "v0=" + "0" * 64,
                }
                try:
                    response = client.post(f"{url}/slack/events", content=body, headers=headers)
                    outcome = str(response.status_code)
                except httpx.TransportError:
                    outcome = "transport error"
            with lock:
                report.hostile.setdefault(kind, Counter())[outcome] += 1


def run_load(
    seconds: float,
    concurrency: int = 16,
    *,
    database_url: str | None = None,
    workers: int = 2,
    max_requests: int = MAX_REQUESTS,
    hostile: bool = False,
) -> LoadReport:
    """`hostile`: one worker, two unsigned attackers beside the clients (see the docstring)."""
    workdir = Path(tempfile.mkdtemp(prefix="load-"))
    database_url = database_url or f"sqlite:///{workdir / 'load.sqlite3'}"
    engine = create_store_engine(database_url)
    upgrade(engine)
    load_dataset(make_session_factory(engine), workdir, datetime.now(UTC).date())
    engine.dispose()
    report = LoadReport()
    with SlackStandIn() as slack:
        for user in USERS:
            slack.add_user(user, email=f"{user.lower()}@sales.example")
        # Shares pass the conversation check: an internal public channel the bot is not in.
        slack.add_channel(DEFAULT_CHANNEL_ID, is_member=False)
        if hostile:
            workers = 1
        log_level = "INFO" if hostile else "WARNING"
        process, url = _start_gunicorn(slack, database_url, workdir, workers, log_level)
        try:
            lock = threading.Lock()
            share_names: list[str] = []
            budget = threading.Semaphore(max_requests)
            peak_before = _worker_peak_rss_kib(process) if hostile else 0
            started = time.monotonic()
            deadline = started + seconds
            threads = [
                threading.Thread(
                    target=_client_loop,
                    args=(
                        n,
                        f"{url}/slack/events",
                        slack,
                        deadline,
                        budget,
                        report,
                        lock,
                        share_names,
                    ),
                )
                for n in range(concurrency)
            ]
            if hostile:
                threads += [
                    threading.Thread(target=_hostile_loop, args=(url, deadline, report, lock))
                    for _ in range(2)
                ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=seconds + 30)
            report.seconds = time.monotonic() - started
            if hostile:
                growth_kib = _worker_peak_rss_kib(process) - peak_before
                report.worker_peak_rss_growth_mib = growth_kib / 1024
            # Shares post lazily after their ack: give the last ones time to arrive.
            settle_until = time.monotonic() + 15
            while time.monotonic() < settle_until:
                posted = Counter(post.name for post in slack.response_posts)
                if all(posted[name] >= 1 for name in share_names):
                    break
                time.sleep(0.1)
            posted = Counter(post.name for post in slack.response_posts)
            report.lost_posts = sum(1 for name in share_names if posted[name] == 0)
            report.duplicated_posts = sum(1 for name in share_names if posted[name] > 1)
        finally:
            process.terminate()
            process.wait(timeout=30)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url")
    parser.add_argument("--hostile", action="store_true", help="hostile-body mode, one worker")
    args = parser.parse_args()
    report = run_load(
        args.seconds,
        args.concurrency,
        database_url=args.database_url,
        workers=args.workers,
        hostile=args.hostile,
    )
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
