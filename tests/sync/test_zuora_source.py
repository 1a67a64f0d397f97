"""`export_subscriptions` against a Zuora Data Query stand-in on loopback: a real HTTP server
that answers the token, submit, poll and cancel calls as Zuora's API reference shows them, serves
the result file at a "pre-signed" URL, and records every request it saw."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.store.importing import import_file
from bot.sync.https_source import SourceError
from bot.sync.zuora_source import ZuoraExport, export_subscriptions

CLIENT_ID = "zuora-client-id"
CLIENT_SECRET = "zuora-client-s3cret"
TOKEN = "zuora-bearer-t0ken"
JOB_ID = "3a3e85c4-96e7-486b-ae02-827120104301"
SUBSCRIPTIONS = Path(__file__).parents[1] / "data" / "zuora_subscriptions.csv"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class StandIn:
    """What the stand-in answers; each poll takes the next status (the last one repeats)."""

    statuses: list[str] = field(default_factory=lambda: ["in_progress", "in_progress", "completed"])
    error_message: str | None = None
    token_status: int = 200
    # Answers to the submit call before the real one (429s with a Retry-After).
    submit_throttles: int = 0
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def paths(self, method: str) -> list[str]:
        return [s.path for s in self.seen if s.method == method]

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        route = path.split("?")[0]
        if method == "POST" and route == "/oauth/token":
            if self.token_status != 200:
                return _json(self.token_status, {"error": "invalid_client"})
            return _json(200, {"access_token": TOKEN, "token_type": "bearer", "expires_in": 3599})
        if method == "POST" and route == "/query/jobs":
            if self.submit_throttles:
                self.submit_throttles -= 1
                return 429, {"Retry-After": "2", "Content-Length": "0"}, b""
            return _json(200, {"data": {"id": JOB_ID, "queryStatus": "submitted"}})
        if route == f"/query/jobs/{JOB_ID}":
            if method == "DELETE":
                return _json(200, {"data": {"id": JOB_ID, "queryStatus": "cancelled"}})
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            job: dict[str, Any] = {"id": JOB_ID, "queryStatus": status}
            if status == "completed":
                job["dataFile"] = self.url(f"/results/{JOB_ID}.csv.gz?X-Amz-Signature=sig")
            if self.error_message:
                job["errorMessage"] = self.error_message
            return _json(200, {"data": job})
        if method == "GET" and route == f"/results/{JOB_ID}.csv.gz":
            # Served as S3 serves a .gz object: no Content-Encoding, the magic bytes tell.
            data = gzip.compress(SUBSCRIPTIONS.read_bytes())
            return 200, {"Content-Type": "binary/octet-stream"}, data
        return _json(404, {"message": "not found"})


def _json(status: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


@pytest.fixture
def zuora() -> Iterator[StandIn]:
    stand_in = StandIn()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            stand_in.seen.append(Seen(self.command, self.path, headers, body))
            status, reply_headers, reply = stand_in.answer(self.command, self.path, body)
            self.send_response(status)
            for name, value in reply_headers.items():
                self.send_header(name, value)
            if "Content-Length" not in reply_headers:
                self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    stand_in.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        httpd.shutdown()
        httpd.server_close()


class FakeTime:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _export(zuora: StandIn, tmp_path: Path, time: FakeTime, **options: Any) -> ZuoraExport:
    return export_subscriptions(
        zuora.url(),
        CLIENT_ID,
        CLIENT_SECRET,
        destination_dir=tmp_path,
        max_bytes=1_000_000,
        timeout_seconds=5,
        sleep=time.sleep,
        clock=time.clock,
        **options,
    )


def _failure(zuora: StandIn, tmp_path: Path, **options: Any) -> str:
    with pytest.raises(SourceError) as raised:
        _export(zuora, tmp_path, FakeTime(), **options)
    message = str(raised.value)
    assert CLIENT_SECRET not in message
    assert TOKEN not in message
    assert raised.value.__cause__ is None
    assert list(tmp_path.iterdir()) == []
    return message


def test_an_export_runs_the_query_and_downloads_the_result(
    zuora: StandIn, tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    time = FakeTime()
    export = _export(zuora, tmp_path, time)

    assert export.job_id == JOB_ID
    assert export.path.read_bytes() == SUBSCRIPTIONS.read_bytes()
    assert time.sleeps == [1.0, 2.0]  # in_progress twice, backing off
    summary = import_file(session_factory, "subscriptions", export.path)
    assert summary.rows == len(SUBSCRIPTIONS.read_text(encoding="utf-8-sig").splitlines()) - 1


def test_the_requests_have_the_shapes_zuora_documents(zuora: StandIn, tmp_path: Path) -> None:
    _export(zuora, tmp_path, FakeTime())

    token, submit, *polls, download = zuora.seen
    assert (token.method, token.path) == ("POST", "/oauth/token")
    assert token.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in token.headers
    assert parse_qs(token.body.decode()) == {
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
        "grant_type": ["client_credentials"],
    }

    assert (submit.method, submit.path) == ("POST", "/query/jobs")
    assert submit.headers["content-type"] == "application/json"
    body = json.loads(submit.body)
    assert body["outputFormat"] == "CSV"
    assert body["compression"] == "GZIP"
    assert body["output"] == {"target": "S3"}
    assert "FROM subscription" in body["query"] and "JOIN account" in body["query"]
    for column in ("Subscription.Name", "Subscription.Id", "Account.CrmId"):
        assert f'"{column}"' in body["query"]

    assert [(p.method, p.path) for p in polls] == [("GET", f"/query/jobs/{JOB_ID}")] * 3
    for call in (submit, *polls):
        assert call.headers["authorization"] == f"Bearer {TOKEN}"

    assert download.path.startswith(f"/results/{JOB_ID}.csv.gz?")
    assert "authorization" not in download.headers


def test_a_query_of_ones_own_is_submitted(zuora: StandIn, tmp_path: Path) -> None:
    _export(zuora, tmp_path, FakeTime(), query="SELECT 1")

    assert json.loads(zuora.seen[1].body)["query"] == "SELECT 1"


def test_a_failed_job_says_zuoras_reason(zuora: StandIn, tmp_path: Path) -> None:
    zuora.statuses = ["in_progress", "failed"]
    zuora.error_message = "Column 'crmid' cannot be resolved"

    message = _failure(zuora, tmp_path)

    assert f"query job {JOB_ID} failed: Column 'crmid' cannot be resolved" in message
    assert zuora.paths("DELETE") == []


def test_a_cancelled_job_fails(zuora: StandIn, tmp_path: Path) -> None:
    zuora.statuses = ["cancelled"]

    message = _failure(zuora, tmp_path)

    assert f"query job {JOB_ID} cancelled" in message


def test_a_job_past_the_poll_budget_is_cancelled(zuora: StandIn, tmp_path: Path) -> None:
    zuora.statuses = ["in_progress"]
    time = FakeTime()

    with pytest.raises(SourceError, match="did not complete within the poll budget of 10 s"):
        _export(zuora, tmp_path, time, poll_budget_seconds=10)

    assert time.sleeps == [1.0, 2.0, 4.0]  # the next wait, 8 s, would pass 10 s
    assert zuora.paths("DELETE") == [f"/query/jobs/{JOB_ID}"]
    delete = next(s for s in zuora.seen if s.method == "DELETE")
    assert delete.headers["authorization"] == f"Bearer {TOKEN}"


def test_a_refused_client_says_so(zuora: StandIn, tmp_path: Path) -> None:
    zuora.token_status = 401

    message = _failure(zuora, tmp_path)

    assert "client id or secret was refused" in message
    assert zuora.paths("POST") == ["/oauth/token"]


def test_a_rate_limit_is_waited_out_within_the_budget(zuora: StandIn, tmp_path: Path) -> None:
    zuora.submit_throttles = 1
    time = FakeTime()

    _export(zuora, tmp_path, time)

    assert zuora.paths("POST") == ["/oauth/token", "/query/jobs", "/query/jobs"]
    assert time.sleeps[0] == 2.0  # Retry-After


def test_a_rate_limit_past_the_budget_fails(zuora: StandIn, tmp_path: Path) -> None:
    zuora.submit_throttles = 1

    message = _failure(zuora, tmp_path, poll_budget_seconds=1)

    assert "HTTP 429" in message and "budget of 1 s" in message


def test_no_error_shows_the_secret_or_the_token(zuora: StandIn, tmp_path: Path) -> None:
    # Zuora's own words quoting a credential back are still scrubbed.
    zuora.statuses = ["failed"]
    zuora.error_message = f"token {TOKEN} from client secret {CLIENT_SECRET} not allowed"

    message = _failure(zuora, tmp_path)

    assert "token *** from client secret *** not allowed" in message


def test_plain_http_is_refused_beyond_loopback(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="plain http:// is refused"):
        export_subscriptions(
            "http://rest.zuora.com",
            CLIENT_ID,
            CLIENT_SECRET,
            destination_dir=tmp_path,
            max_bytes=1000,
            timeout_seconds=1,
        )
