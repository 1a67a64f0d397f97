"""bot.asgi_adapter: a request is read whole on the event loop, then answered on a thread; what
it answers itself (slow, cut or too many bodies) is logged like the app's answers. Driven with
hand-made ASGI messages, so each case is exactly the bytes a client sent and when.
(tests/app/test_gunicorn.py runs it under gunicorn's asyncio worker against slow clients.)"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from bot.asgi_adapter import (
    SMALL_BODY_BYTES,
    BufferedWsgi,
    Receive,
    Send,
    create_asgi_app,
    wsgi_environ,
)
from bot.logs import REQUEST_LOGGER
from bot.request_body import MAX_BODY_BYTES, buffer_bounded_body, buffered_body

Message = dict[str, Any]


def _scope(
    headers: Iterable[tuple[bytes, bytes]] = (),
    *,
    method: str = "POST",
    path: str = "/slack/events",
) -> dict[str, Any]:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": list(headers),
        "client": ("203.0.113.9", 50123),
        "server": ("127.0.0.1", 8000),
    }


class _Echo:
    """A WSGI app like the bot's front: reads the body as bot.request_body does, and answers
    with its length, on the thread it ran on."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        self.calls.append(environ)
        if not buffer_bounded_body(environ):
            start_response("413 Payload Too Large", [("Content-Type", "text/plain")])
            return [b"too large"]
        body = buffered_body(environ) or b""
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{len(body)} {threading.current_thread().name}".encode()]


def _run(app: BufferedWsgi, scope: dict[str, Any], messages: list[Message | None]) -> list[Message]:
    """The messages the app sends for a request whose client sends `messages` in turn (None:
    the client goes quiet and sends nothing more)."""

    async def exchange() -> list[Message]:
        pending = list(messages)
        sent: list[Message] = []

        async def receive() -> Message:
            if not pending or pending[0] is None:
                await asyncio.Event().wait()  # never: the client says no more
            return pending.pop(0)  # type: ignore[return-value]

        async def send(message: Message) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return sent

    return asyncio.run(exchange())


def _status(sent: list[Message]) -> int:
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


def _body(sent: list[Message]) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def _adapter(app: Any, **options: Any) -> BufferedWsgi:
    return BufferedWsgi(app, threads=2, **options)


def test_a_whole_request_is_answered_on_a_pool_thread() -> None:
    echo = _Echo()
    sent = _run(
        _adapter(echo),
        _scope([(b"content-length", b"11"), (b"content-type", b"text/plain")]),
        [
            {"type": "http.request", "body": b"hello ", "more_body": True},
            {"type": "http.request", "body": b"world", "more_body": False},
        ],
    )
    assert _status(sent) == 200
    length, thread = _body(sent).decode().split()
    assert length == "11" and thread.startswith("wsgi")


def test_a_body_that_stops_arriving_is_answered_408_and_never_reaches_the_app() -> None:
    echo = _Echo()
    sent = _run(
        _adapter(echo, body_seconds=0.2),
        _scope([(b"content-length", b"1000")]),
        [{"type": "http.request", "body": b"a", "more_body": True}, None],
    )
    assert _status(sent) == 408
    assert echo.calls == []


def test_a_client_that_closes_mid_body_is_answered_400_and_never_reaches_the_app() -> None:
    echo = _Echo()
    sent = _run(
        _adapter(echo),
        _scope([(b"content-length", b"1000")]),
        [{"type": "http.request", "body": b"a", "more_body": True}, {"type": "http.disconnect"}],
    )
    assert _status(sent) == 400
    assert echo.calls == []


def test_a_body_declared_over_the_limit_is_refused_unread() -> None:
    echo = _Echo()
    sent = _run(
        _adapter(echo),
        _scope([(b"content-length", str(MAX_BODY_BYTES + 1).encode())]),
        [None],  # not a byte is read: the request is answered before the client sends any
    )
    assert _status(sent) == 413


def test_a_chunked_body_over_the_limit_is_read_no_further_and_refused() -> None:
    echo = _Echo()
    chunk = b"x" * (256 * 1024)
    app = _adapter(echo)
    sent = _run(
        app,
        _scope([(b"transfer-encoding", b"chunked")]),
        [{"type": "http.request", "body": chunk, "more_body": True}] * 5 + [None],
    )
    assert _status(sent) == 413
    assert app.buffered_bytes == 0  # released once answered


def test_large_bodies_over_the_workers_budget_are_answered_503_small_ones_never() -> None:
    """A thousand connections each sending the largest body must not take a gigabyte: past the
    budget a large request is answered 503 while the others are still being read. What a body
    holds up to SMALL_BODY_BYTES is not counted, so a few large ones stalling cannot keep
    Slack's few-kilobyte requests out."""
    echo = _Echo()
    app = _adapter(echo, max_buffered_bytes=1000, body_seconds=5)
    small = SMALL_BODY_BYTES

    async def three_at_once() -> tuple[list[Message], list[Message], list[Message]]:
        sent: dict[str, list[Message]] = {"first": [], "large": [], "small": []}
        first_may_finish = asyncio.Event()
        first_messages = [
            {"type": "http.request", "body": b"a" * (small + 800), "more_body": True},
            {"type": "http.request", "body": b"", "more_body": False},
        ]

        async def first_receive() -> Message:
            if len(first_messages) == 1:
                await first_may_finish.wait()
            return first_messages.pop(0)

        def whole(size: int) -> Receive:
            async def receive() -> Message:
                return {"type": "http.request", "body": b"b" * size, "more_body": False}

            return receive

        def into(name: str) -> Send:
            async def send(message: Message) -> None:
                sent[name].append(message)

            return send

        first = asyncio.create_task(app(_scope(), first_receive, into("first")))
        await asyncio.sleep(0.05)  # the first holds 800 of the 1,000 counted bytes
        await app(_scope(), whole(small + 300), into("large"))
        await app(_scope(), whole(small), into("small"))
        first_may_finish.set()
        await first
        return sent["first"], sent["large"], sent["small"]

    first_sent, large_sent, small_sent = asyncio.run(three_at_once())
    assert _status(large_sent) == 503
    assert _status(small_sent) == 200
    assert _status(first_sent) == 200
    assert app.buffered_bytes == 0


def test_a_slow_body_does_not_hold_up_a_whole_request() -> None:
    echo = _Echo()
    app = _adapter(echo, body_seconds=30)

    async def both() -> list[Message]:
        async def slow_receive() -> Message:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        async def ignore(_message: Message) -> None:
            return None

        slow = asyncio.create_task(app(_scope(), slow_receive, ignore))
        sent: list[Message] = []

        async def whole_receive() -> Message:
            return {"type": "http.request", "body": b"x", "more_body": False}

        async def keep(message: Message) -> None:
            sent.append(message)

        await asyncio.wait_for(app(_scope(), whole_receive, keep), timeout=5)
        slow.cancel()
        return sent

    assert _status(asyncio.run(both())) == 200


def test_the_adapters_own_answers_are_logged_like_the_apps(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    app = create_asgi_app(_Echo(), signing_secret="s", threads=1, body_seconds=0.1)
    _run(app, _scope([(b"content-length", b"10")]), [None])
    [record] = [r for r in caplog.records if r.name == REQUEST_LOGGER]
    assert (record.status, record.outcome, record.path) == (408, "bad_request", "/slack/events")


def test_lifespan_starts_and_stops_the_thread_pool() -> None:
    app = _adapter(_Echo())

    async def lifespan() -> list[Message]:
        incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        sent: list[Message] = []

        async def receive() -> Message:
            return incoming.pop(0)

        async def send(message: Message) -> None:
            sent.append(message)

        await app({"type": "lifespan"}, receive, send)
        return sent

    assert [m["type"] for m in asyncio.run(lifespan())] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


def test_the_environ_is_pep_3333s() -> None:
    scope = _scope(
        [
            (b"content-type", b"application/json"),
            (b"x-slack-signature", b"v0=abc"),
            (b"accept", b"a"),
            (b"accept", b"b"),
            # Would land on X-Slack-Request-Timestamp's key: dropped, as gunicorn does.
            (b"x_slack_request_timestamp", b"1"),
        ],
        path="/slack/événements",
    )
    scope["query_string"] = b"a=1&b=%20"
    environ = wsgi_environ(scope, b"{}", terminated=True)
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["PATH_INFO"] == "/slack/événements".encode().decode("latin-1")
    assert environ["QUERY_STRING"] == "a=1&b=%20"
    assert environ["CONTENT_TYPE"] == "application/json"
    assert environ["CONTENT_LENGTH"] == "2"
    assert environ["HTTP_X_SLACK_SIGNATURE"] == "v0=abc"
    assert environ["HTTP_ACCEPT"] == "a,b"
    assert "HTTP_X_SLACK_REQUEST_TIMESTAMP" not in environ
    assert environ["REMOTE_ADDR"] == "203.0.113.9"
    assert environ["wsgi.input"].read() == b"{}"
    assert environ["wsgi.input_terminated"] is True
