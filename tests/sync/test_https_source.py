"""`fetch_export` against a real HTTP server on loopback that serves scripted answers and
records every request it saw (headers included)."""

from __future__ import annotations

import gzip
import threading
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.sync.https_source import (
    Fetched,
    NotModified,
    SourceError,
    Validators,
    describe_source,
    fetch_export,
    redirect_problem,
    retry_after_seconds,
    url_problem,
)

CSV = b"license_id,company,seats\n1,Acme,10\n2,Globex,25\n"
LAST_MODIFIED = "Mon, 07 Dec 2026 06:00:00 GMT"
SECRET = "Bearer s3cret-token"


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # Bytes of the body actually sent (a body cut short); all of it when None.
    send: int | None = None
    # Seconds to wait before answering (a server that does not answer in time).
    delay: float = 0.0


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class ScriptedServer:
    """Answers each path with its replies in order (the last one repeats)."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Reply]] = {}
        self.seen: list[Seen] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]

    def script(self, path: str, *replies: Reply) -> str:
        self.scripts[path] = list(replies)
        return self.url(path)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def _next(self, path: str) -> Reply:
        replies = self.scripts.get(path.split("?")[0], [Reply(404)])
        return replies.pop(0) if len(replies) > 1 else replies[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
                reply = server._next(self.path)
                time.sleep(reply.delay)
                self.send_response(reply.status)
                headers = {"Content-Length": str(len(reply.body)), **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                # One response per connection: a body cut short ends with the connection.
                self.send_header("Connection", "close")
                self.end_headers()
                body = reply.body if reply.send is None else reply.body[: reply.send]
                self.wfile.write(body)
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> ScriptedServer:
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


class Sleeps(list[float]):
    """The injected sleep: records each wait instead of taking it."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def fetch(url: str, tmp_path: Path, sleeps: Sleeps, **options: Any) -> Any:
    settings: dict[str, Any] = {
        "destination_dir": tmp_path,
        "max_bytes": 1_000_000,
        "timeout_seconds": 5.0,
        "sleep": sleeps,
        **options,
    }
    return fetch_export(url, **settings)


def fetch_error(url: str, tmp_path: Path, sleeps: Sleeps, **options: Any) -> str:
    with pytest.raises(SourceError) as raised:
        fetch(url, tmp_path, sleeps, **options)
    # Whatever failed, nothing half-written stays behind.
    assert list(tmp_path.iterdir()) == []
    return str(raised.value)


# --- 200 and 304 ---


def test_a_200_writes_the_body_to_a_file_and_returns_the_new_validators(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    url = server.script(
        "/licenses.csv",
        Reply(200, {"ETag": '"v1"', "Last-Modified": LAST_MODIFIED}, CSV),
    )
    result = fetch(url, tmp_path, sleeps)
    assert isinstance(result, Fetched)
    assert result.path.parent == tmp_path
    assert result.path.read_bytes() == CSV
    assert result.size == len(CSV)
    assert result.validators == Validators(etag='"v1"', last_modified=LAST_MODIFIED)
    assert result.validators.last_modified_at == datetime(2026, 12, 7, 6, tzinfo=UTC)
    # A first load has no validators to send.
    assert "if-none-match" not in server.seen[0].headers
    assert "if-modified-since" not in server.seen[0].headers
    assert server.seen[0].headers["accept-encoding"] == "gzip"


def test_the_validators_are_sent_and_a_304_is_not_modified_with_no_file(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    url = server.script("/licenses.csv", Reply(304, {"ETag": '"v1"'}))
    result = fetch(
        url, tmp_path, sleeps, validators=Validators(etag='"v1"', last_modified=LAST_MODIFIED)
    )
    assert result == NotModified()
    assert server.seen[0].headers["if-none-match"] == '"v1"'
    assert server.seen[0].headers["if-modified-since"] == LAST_MODIFIED
    assert list(tmp_path.iterdir()) == []


def test_a_304_to_a_request_without_validators_is_an_error(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    url = server.script("/licenses.csv", Reply(304))
    assert "304 Not Modified to a request without validators" in fetch_error(url, tmp_path, sleeps)


# --- retries ---


def test_a_500_is_retried_after_a_backoff_and_the_200_that_follows_is_loaded(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    url = server.script("/x.csv", Reply(500), Reply(200, body=CSV))
    result = fetch(url, tmp_path, sleeps)
    assert isinstance(result, Fetched)
    assert result.path.read_bytes() == CSV
    assert sleeps == [1.0]
    assert len(server.seen) == 2


def test_the_backoff_doubles_and_the_tries_are_bounded(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    url = server.script("/x.csv", Reply(503))
    message = fetch_error(url, tmp_path, sleeps, max_tries=3)
    assert message == f"{url}: gave up after 3 tries: HTTP 503 Service Unavailable"
    assert sleeps == [1.0, 2.0]
    assert len(server.seen) == 3


def test_a_429_waits_as_long_as_retry_after_asks(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    url = server.script("/x.csv", Reply(429, {"Retry-After": "7"}), Reply(200, body=CSV))
    assert isinstance(fetch(url, tmp_path, sleeps), Fetched)
    assert sleeps == [7.0]


def test_a_retry_after_beyond_the_budget_gives_up_at_once_and_says_so(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    url = server.script("/x.csv", Reply(429, {"Retry-After": "120"}), Reply(200, body=CSV))
    message = fetch_error(url, tmp_path, sleeps, budget_seconds=30)
    assert message == (
        f"{url}: HTTP 429 Too Many Requests; not retried: waiting 120 s as Retry-After asks"
        " would pass the retry budget of 30 s"
    )
    assert sleeps == []
    assert len(server.seen) == 1


def test_the_budget_counts_the_time_already_spent(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    # 29.5 s gone by the first failure: the 1 s backoff no longer fits in 30 s.
    times = iter([0.0, 29.5])
    url = server.script("/x.csv", Reply(502), Reply(200, body=CSV))
    message = fetch_error(url, tmp_path, sleeps, clock=lambda: next(times))
    assert message.endswith(
        "HTTP 502 Bad Gateway; not retried: waiting 1 s would pass the retry budget of 30 s"
    )
    assert sleeps == []


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2015, 10, 21, 7, 27, tzinfo=UTC)
    assert retry_after_seconds("120", now=now) == 120.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 60.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon", now=now) is None
    assert retry_after_seconds(None, now=now) is None


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (403, "access refused (HTTP 403 Forbidden): check the Authorization value"),
        (401, "access refused (HTTP 401 Unauthorized)"),
        (404, "no export at that address (HTTP 404 Not Found): check the URL"),
        (400, "unexpected answer (HTTP 400 Bad Request)"),
    ],
)
def test_another_4xx_fails_at_once(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps, status: int, words: str
) -> None:
    url = server.script("/x.csv", Reply(status), Reply(200, body=CSV))
    assert fetch_error(url, tmp_path, sleeps).startswith(f"{url}: {words}")
    assert len(server.seen) == 1
    assert sleeps == []


def test_a_connection_refused_is_retried_then_reported(tmp_path: Path, sleeps: Sleeps) -> None:
    with ScriptedServer() as gone:
        url = gone.url("/x.csv")
    message = fetch_error(url, tmp_path, sleeps, max_tries=2)
    assert message.startswith(f"{url}: gave up after 2 tries: could not connect (ConnectError")
    assert sleeps == [1.0]


def test_a_server_that_does_not_answer_in_time_times_out(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    url = server.script("/x.csv", Reply(200, body=CSV, delay=1.0))
    message = fetch_error(url, tmp_path, sleeps, timeout_seconds=0.2, max_tries=1)
    assert message == f"{url}: gave up after 1 try: no answer within 0.2 s"


# --- the body ---


def test_a_body_cut_short_fails_and_leaves_no_file(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    body = CSV * 10
    url = server.script("/x.csv", Reply(200, body=body, send=40))
    message = fetch_error(url, tmp_path, sleeps, max_tries=2)
    assert message.startswith(f"{url}: gave up after 2 tries: the body was cut short: ")
    # Said without a count of what arrived: the transport may have held some back.
    assert message.endswith(f"closed before its end (it declared {len(body)} bytes)")
    assert len(server.seen) == 2


def test_gzip_declared_by_content_encoding_is_decompressed(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    url = server.script("/x.csv", Reply(200, {"Content-Encoding": "gzip"}, gzip.compress(CSV)))
    result = fetch(url, tmp_path, sleeps)
    assert result.path.read_bytes() == CSV
    assert result.size == len(CSV)


def test_a_gz_object_served_without_content_encoding_is_recognised_by_its_magic_bytes(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    # Two members, as `cat a.gz b.gz` makes: gzip reads them as one stream.
    body = gzip.compress(CSV) + gzip.compress(b"3,Initech,5\n")
    url = server.script("/x.csv.gz", Reply(200, {"Content-Type": "application/gzip"}, body))
    assert fetch(url, tmp_path, sleeps).path.read_bytes() == CSV + b"3,Initech,5\n"


def test_a_gzip_stream_that_ends_early_fails_without_retrying(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    url = server.script("/x.csv.gz", Reply(200, body=gzip.compress(CSV * 50)[:-12]))
    message = fetch_error(url, tmp_path, sleeps)
    assert message == f"{url}: the gzip stream ends early (the file is cut short)"
    assert len(server.seen) == 1


def test_the_size_cap_applies_after_decompression(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    bomb = gzip.compress(b"0" * 50_000_000)  # 50 MB in about 50 KB
    assert len(bomb) < 100_000
    url = server.script("/x.csv", Reply(200, {"Content-Encoding": "gzip"}, bomb))
    message = fetch_error(url, tmp_path, sleeps, max_bytes=1_000_000)
    assert message == (
        f"{url}: the export is larger than the size cap of 1000000 bytes (after decompression)"
    )


def test_a_gzip_bomb_is_decompressed_in_bounded_pieces(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    # 50 MB of output from one 64 KB read if decompressed in one call; a few pieces of 64 KB
    # at a time if bounded. The cap is above the size: memory, not the cap, is under test.
    bomb = gzip.compress(b"0" * 50_000_000)
    url = server.script("/x.csv", Reply(200, {"Content-Encoding": "gzip"}, bomb))
    tracemalloc.start()
    try:
        result = fetch(url, tmp_path, sleeps, max_bytes=60_000_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.size == 50_000_000
    assert peak < 5_000_000, peak


def test_the_size_cap_allows_an_export_of_exactly_its_size(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    url = server.script("/x.csv", Reply(200, body=CSV))
    assert fetch(url, tmp_path, sleeps, max_bytes=len(CSV)).size == len(CSV)
    smaller = tmp_path / "smaller"
    smaller.mkdir()
    assert "size cap" in fetch_error(url, smaller, sleeps, max_bytes=len(CSV) - 1)


@pytest.mark.parametrize(
    ("headers", "body", "why"),
    [
        ({"Content-Type": "text/html; charset=utf-8"}, CSV, "(Content-Type text/html)"),
        (
            {"Content-Type": "text/csv"},
            b"\n  <!DOCTYPE html><p>Sign in",
            "(the file starts with HTML)",
        ),
        ({}, b"\xef\xbb\xbf<HTML><body>Sign in", "(the file starts with HTML)"),
    ],
)
def test_an_html_page_served_with_200_is_not_an_export(
    server: ScriptedServer,
    tmp_path: Path,
    sleeps: Sleeps,
    headers: dict[str, str],
    body: bytes,
    why: str,
) -> None:
    url = server.script("/x.csv", Reply(200, headers, body))
    message = fetch_error(url, tmp_path, sleeps)
    assert (
        message
        == f"{url}: an HTML page, not an export (a login page? check the URL and the Authorization) {why}"
    )


def test_an_encoding_other_than_gzip_is_refused(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    url = server.script("/x.csv", Reply(200, {"Content-Encoding": "br"}, b"\x00\x01"))
    assert fetch_error(url, tmp_path, sleeps) == (
        f"{url}: the server sent Content-Encoding br; only gzip is read"
    )


# --- schemes and redirects ---


def test_a_redirect_from_loopback_http_to_loopback_http_is_followed(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    # Allowed: plain http to loopback is allowed to begin with, and this stays there.
    server.script("/real.csv", Reply(200, body=CSV))
    url = server.script("/x.csv", Reply(302, {"Location": "/real.csv"}))
    result = fetch(url, tmp_path, sleeps, authorization=SECRET)
    assert result.path.read_bytes() == CSV
    assert [seen.path for seen in server.seen] == ["/x.csv", "/real.csv"]
    # Same origin: the credentials follow.
    assert server.seen[1].headers["authorization"] == SECRET


def test_the_authorization_does_not_follow_a_redirect_to_another_origin(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    server.script("/signed.csv", Reply(200, body=CSV))
    target = server.url("/signed.csv?X-Amz-Signature=abc", host="localhost")
    url = server.script("/x.csv", Reply(307, {"Location": target}))
    assert fetch(url, tmp_path, sleeps, authorization=SECRET).path.read_bytes() == CSV
    assert server.seen[0].headers["authorization"] == SECRET
    assert "authorization" not in server.seen[1].headers


@pytest.mark.parametrize(
    ("location", "why"),
    [
        (
            "http://example.com/x.csv?sig=abc",
            "redirected to http://example.com/x.csv?…, which is not followed: plain http:// is"
            " refused except to a loopback address; use https://",
        ),
        (
            "ftp://127.0.0.1/x.csv",
            "redirected to ftp://127.0.0.1/x.csv, which is not followed: only https:// URLs are"
            " fetched, not ftp",
        ),
    ],
)
def test_a_redirect_to_anything_but_https_is_refused(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps, location: str, why: str
) -> None:
    url = server.script("/x.csv", Reply(301, {"Location": location}))
    assert fetch_error(url, tmp_path, sleeps) == f"{url}: {why}"
    assert len(server.seen) == 1


def test_redirect_rules() -> None:
    assert redirect_problem("https://a.test/x", "https://b.test/y") is None
    assert redirect_problem("http://127.0.0.1/x", "https://b.test/y") is None
    assert redirect_problem("http://127.0.0.1/x", "http://localhost:8080/y") is None
    assert redirect_problem("https://a.test/x", "http://127.0.0.1/y") == (
        "redirected to http://127.0.0.1/y, which is not followed: a redirect from https to http"
        " is refused"
    )


def test_endless_redirects_stop(server: ScriptedServer, tmp_path: Path, sleeps: Sleeps) -> None:
    url = server.script("/x.csv", Reply(302, {"Location": "/x.csv"}))
    assert fetch_error(url, tmp_path, sleeps) == f"{url}: more than 5 redirects"
    assert len(server.seen) == 6


_PLAIN_HTTP = "plain http:// is refused except to a loopback address; use https://"


class RefusingTransport(httpx.BaseTransport):
    """Records a request that should never have been made."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        raise httpx.ConnectError("no connection expected", request=request)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com/x.csv", _PLAIN_HTTP),
        ("http://10.0.0.1/x.csv", _PLAIN_HTTP),
        ("ftp://example.com/x.csv", "only https:// URLs are fetched, not ftp"),
        ("example.com/x.csv", "the URL has no host"),
    ],
)
def test_a_url_that_is_not_https_is_refused_without_a_connection(
    tmp_path: Path, sleeps: Sleeps, url: str, why: str
) -> None:
    transport = RefusingTransport()
    message = fetch_error(url, tmp_path, sleeps, transport=transport)
    assert message == f"{url}: {why}"
    assert transport.requests == []


@pytest.mark.parametrize(
    "url", ["http://localhost/x", "http://127.0.0.2/x", "http://[::1]:8080/x", "https://a.test/x"]
)
def test_loopback_http_and_https_are_allowed(url: str) -> None:
    assert url_problem(url) is None


# --- credentials never in errors ---


def test_the_authorization_header_is_sent(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    url = server.script("/x.csv", Reply(200, body=CSV))
    fetch(url, tmp_path, sleeps, authorization=SECRET)
    assert server.seen[0].headers["authorization"] == SECRET


@pytest.mark.parametrize(
    "reply",
    [
        Reply(403),
        Reply(500),
        Reply(429, {"Retry-After": "999"}),
        Reply(200, {"Content-Type": "text/html"}, b"<html>"),
        Reply(200, body=CSV * 10, send=10),
        Reply(301, {"Location": "http://example.com/?token=s3cret-token"}),
    ],
    ids=["403", "500", "429", "html", "cut short", "redirect"],
)
def test_no_error_holds_a_credential(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps, reply: Reply
) -> None:
    server.script("/x.csv", reply)
    url = server.url("/x.csv?X-Amz-Signature=sig-s3cret")
    message = fetch_error(url, tmp_path, sleeps, authorization=SECRET, max_tries=2)
    assert message.startswith(f"http://127.0.0.1:{server.port}/x.csv?…: ")
    assert "s3cret" not in message
    assert server.seen[0].headers["authorization"] == SECRET


def test_a_password_in_the_url_is_sent_as_basic_auth_and_never_shown(
    server: ScriptedServer, tmp_path: Path, sleeps: Sleeps
) -> None:
    server.script("/x.csv", Reply(403))
    url = server.url("/x.csv").replace("http://", "http://user:pw-s3cret@")
    message = fetch_error(url, tmp_path, sleeps)
    assert message.startswith(f"http://***@127.0.0.1:{server.port}/x.csv: access refused")
    assert "s3cret" not in message
    assert server.seen[0].headers["authorization"].startswith("Basic ")


def test_a_url_with_credentials_and_an_authorization_too_is_refused(
    tmp_path: Path, sleeps: Sleeps
) -> None:
    transport = RefusingTransport()
    message = fetch_error(
        "https://u:pw-s3cret@files.test/x.csv",
        tmp_path,
        sleeps,
        authorization=SECRET,
        transport=transport,
    )
    assert message == (
        "https://***@files.test/x.csv: the URL carries credentials and an Authorization is set too"
    )
    assert transport.requests == []


def test_a_connection_error_holds_no_credential(tmp_path: Path, sleeps: Sleeps) -> None:
    with ScriptedServer() as gone:
        url = gone.url("/x.csv?sig=s3cret")
    message = fetch_error(url, tmp_path, sleeps, authorization=SECRET, max_tries=1)
    assert "could not connect" in message
    assert "s3cret" not in message


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://files.test/exports/licenses.csv", "https://files.test/exports/licenses.csv"),
        ("https://user:pa55@files.test/l.csv", "https://***@files.test/l.csv"),
        ("https://ghp_token@files.test/l.csv", "https://***@files.test/l.csv"),
        (
            "https://bucket.s3.test/l.csv.gz?X-Amz-Credential=AK&X-Amz-Signature=ff#top",
            "https://bucket.s3.test/l.csv.gz?…",
        ),
        ("http://127.0.0.1:8080/l.csv#frag", "http://127.0.0.1:8080/l.csv"),
        ("https://files.test:notaport/l.csv?sig=1", "an unreadable URL"),
    ],
)
def test_describe_source_masks_credentials(url: str, shown: str) -> None:
    assert describe_source(url) == shown
