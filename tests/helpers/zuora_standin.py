"""A Zuora Data Query stand-in on loopback: a real HTTP server that answers the token, submit,
poll and cancel calls as Zuora's API reference shows them, serves the result file (the
subscriptions export, gzipped) at a "pre-signed" URL, and records every request it saw."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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


@contextmanager
def running_zuora() -> Iterator[StandIn]:
    """A stand-in answering on a loopback port of its own until the block ends."""
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
