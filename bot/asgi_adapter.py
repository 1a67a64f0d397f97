"""The WSGI app served by gunicorn's asyncio worker (bot.asgi), so that a client costs a thread
only once its request is whole.

Under a threaded server a connection takes a thread as soon as its headers arrive and keeps it
while the body trickles in: sixteen clients that send `Content-Length: 1000` and one byte held
every thread of the default deployment, and Slack's signed requests waited behind them. Here a
connection is a coroutine of the worker's event loop until its body has arrived (at most
MAX_BODY_BYTES, within BODY_SECONDS); only then does the app run, on one of a pool of threads.
A body that does not arrive in time is answered 408; one declared larger than the limit is passed
on unread, for the app to refuse (413) as it refuses any other.

The adapter is ours because the ready-made ones do not buffer first: a2wsgi hands the body to the
app's thread as it arrives (the thread waits on the slow client), and asgiref runs every request
on one thread.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bot.request_body import MAX_BODY_BYTES

# Slack sends a request whole at once; a client still sending its body after this long is slow
# or hostile. The wait holds no thread: this bounds how long its connection is kept.
BODY_SECONDS = 10.0
# Bodies a worker keeps in memory at once, waiting or being answered: a thousand connections
# that each send a body of the largest size must not take a gigabyte. Only what a body holds
# past SMALL_BODY_BYTES counts: Slack's are a few kilobytes, so a few dozen large ones that
# stall cannot keep its requests out; a large one past the budget is answered 503, not kept.
# (Small ones are bounded by the connections a worker holds: WORKER_CONNECTIONS x 64 KiB.)
MAX_BUFFERED_BYTES = 64 * 1024 * 1024
SMALL_BODY_BYTES = 64 * 1024

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class BufferedWsgi:
    """An ASGI app that reads each request whole, then runs `wsgi_app` on a thread pool.

    What it answers itself (a body not received within `body_seconds`: 408; a client that
    closed before sending it: 400; bodies in memory over `max_buffered_bytes`: 503) goes
    through `wrap` like the app does, so the request log has a line for each."""

    def __init__(
        self,
        wsgi_app: WsgiApp,
        *,
        threads: int,
        wrap: Callable[[WsgiApp], WsgiApp] = lambda app: app,
        body_seconds: float = BODY_SECONDS,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_buffered_bytes: int = MAX_BUFFERED_BYTES,
    ) -> None:
        self._app = wrap(wsgi_app)
        self._body_timed_out = wrap(
            _plain_answer("408 Request Timeout", "request body not received in time")
        )
        self._body_cut = wrap(
            _plain_answer("400 Bad Request", "connection closed before the request body")
        )
        self._busy = wrap(_plain_answer("503 Service Unavailable", "busy: try again"))
        self._body_seconds = body_seconds
        self._max_body_bytes = max_body_bytes
        self._max_buffered_bytes = max_buffered_bytes
        self._buffered_bytes = 0  # of every request this worker is reading or answering
        self._threads = threads
        self._executor: ThreadPoolExecutor | None = None

    def __getattr__(self, name: str) -> Any:
        # The wrapped app's attributes (tests reach `_services`) stay reachable; not `_app`
        # itself before it is set (that would ask this method again, without end).
        if name == "_app":
            raise AttributeError(name)
        return getattr(self._app, name)

    @property
    def buffered_bytes(self) -> int:
        return self._buffered_bytes

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # no WebSockets here: the connection is closed unanswered
        held = _Held()
        try:
            app = self._app
            try:
                body, terminated = await asyncio.wait_for(
                    self._read_body(scope, receive, held), self._body_seconds
                )
            except TimeoutError:
                app, body, terminated = self._body_timed_out, b"", True
            except _ClientGone:
                # Answered all the same (to nobody): gunicorn logs an app that answers nothing
                # as a 500, which is not what happened.
                app, body, terminated = self._body_cut, b"", True
            except _OverBudget:
                app, body, terminated = self._busy, b"", True
            environ = wsgi_environ(scope, body, terminated=terminated)
            loop = asyncio.get_running_loop()
            status, headers, chunks = await loop.run_in_executor(
                self._pool(), _run_wsgi, app, environ
            )
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": b"".join(chunks)})
        finally:
            self._buffered_bytes -= held.count

    def _pool(self) -> ThreadPoolExecutor:
        # Made in the worker, after the fork (and at its first request if lifespan is off).
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="wsgi")
        return self._executor

    async def _read_body(
        self, scope: dict[str, Any], receive: Receive, held: _Held
    ) -> tuple[bytes, bool]:
        """The body, and whether it was read to its end. One declared larger than the limit is
        not read (the app refuses it by its length); one sent without a length is read up to a
        byte past the limit (the app refuses it by what it read). What a body holds past
        SMALL_BODY_BYTES counts against the worker's budget until the request is answered."""
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_body_bytes:
            return b"", False
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")[: self._max_body_bytes + 1 - len(body)]
            body += chunk
            large = max(len(body) - SMALL_BODY_BYTES, 0) - held.count  # newly past the small size
            if large > 0:
                if self._buffered_bytes + large > self._max_buffered_bytes:
                    raise _OverBudget
                self._buffered_bytes += large
                held.count += large
            if len(body) > self._max_body_bytes:
                return bytes(body), True
            if not message.get("more_body"):
                return bytes(body), True

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._pool()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._executor is not None:
                    # Requests already running finish (gunicorn's graceful timeout bounds it).
                    await asyncio.get_running_loop().run_in_executor(
                        None, self._executor.shutdown, True
                    )
                await send({"type": "lifespan.shutdown.complete"})
                return


class _Held:
    """The bytes of one request's body counted against the worker's budget (those past
    SMALL_BODY_BYTES)."""

    count = 0


class _ClientGone(Exception):
    """The client closed the connection before its body was whole."""


class _OverBudget(Exception):
    """Keeping this body would take the worker's bodies in memory over its budget."""


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers", ())
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


def wsgi_environ(scope: dict[str, Any], body: bytes, *, terminated: bool) -> dict[str, Any]:
    """PEP 3333's environ for an ASGI HTTP scope and its buffered body."""
    server_host, server_port = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    path = scope.get("path", "/")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.get("method", "GET"),
        "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8").decode("latin-1"),
        # PEP 3333: the decoded path as bytes-in-a-str (latin-1).
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server_host),
        "SERVER_PORT": str(server_port),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if terminated:
        # The body is all there is: read to its end without a length (PEP 3333's extension,
        # which bot.request_body honours).
        environ["wsgi.input_terminated"] = True
    for raw_name, raw_value in scope.get("headers", ()):
        if b"_" in raw_name:
            # `X_Slack_Signature` would land on the same key as `X-Slack-Signature`: dropped,
            # as gunicorn's own WSGI workers drop it (header_map = "drop").
            continue
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        key = name if name in ("CONTENT_LENGTH", "CONTENT_TYPE") else f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    if terminated and "CONTENT_LENGTH" not in environ:
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def _run_wsgi(
    app: WsgiApp, environ: dict[str, Any]
) -> tuple[int, list[tuple[bytes, bytes]], list[bytes]]:
    """The app's response, whole (the bot's answers are small JSON): status, headers, body."""
    started: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is not None and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started["status"] = int(status.split(" ", 1)[0])
        started["headers"] = [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
        ]
        return lambda _data: None  # the legacy write(): unused by the app

    result = app(environ, start_response)
    try:
        chunks = [bytes(chunk) for chunk in result]
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return started["status"], started["headers"], chunks


def _plain_answer(status: str, text: str) -> WsgiApp:
    body = text.encode() + b"\n"
    headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]

    def answer(_environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response(status, headers)
        return [body]

    return answer


def create_asgi_app(
    wsgi_app: WsgiApp,
    *,
    signing_secret: str | None,
    threads: int,
    body_seconds: float = BODY_SECONDS,
) -> BufferedWsgi:
    """`wsgi_app` behind the request log (one line per request, the adapter's own answers too),
    run on whole requests on `threads` threads."""
    from bot.logs import RequestLogMiddleware

    return BufferedWsgi(
        wsgi_app,
        threads=threads,
        wrap=lambda app: RequestLogMiddleware(app, signing_secret=signing_secret),
        body_seconds=body_seconds,
    )
