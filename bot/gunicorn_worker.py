"""gunicorn's asyncio worker with the two bounds gunicorn 27.0's lacks (`worker_class` in
gunicorn.conf.py).

The asyncio worker holds a connection as a coroutine, not a thread (bot/asgi_adapter.py reads
each body within BODY_SECONDS), but it gives a client that never finishes its first request's
headers no deadline (the keepalive timer covers only the time after a response), and it counts
its connections without refusing any past `worker_connections`. Half-sent headers would pile
up until the worker ran out of file descriptors, and with them the store's connections.
`GuardedProtocol` closes a connection whose headers are not whole after HEADER_SECONDS, and one
that arrives while the worker already holds `worker_connections`.

The worker puts `GuardedProtocol` where gunicorn's asyncio worker names its protocol class
(the module's `ASGIProtocol`), in its own process, when it starts: it overrides hooks of
gunicorn's private protocol (`_on_headers_complete`), so the pinned gunicorn is the one it is
tested against (tests/app/test_gunicorn.py).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, cast

from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.workers import gasgi

# A request's headers are a few hundred bytes that Slack sends at once.
HEADER_SECONDS = float(os.environ.get("HEADER_TIMEOUT_SECONDS", "10"))


class GuardedProtocol(ASGIProtocol):
    _headers_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        if self.worker.nr_conns > self.worker.worker_connections:
            # Over the cap: closed before a byte is read (connection_lost counts it out).
            transport.abort()
            return
        if getattr(self, "_callback_parser", None) is not None:  # HTTP/1, not HTTP/2
            # The stubs allow None for a worker that has not started; one that accepts
            # connections made its loop first (ASGIWorker.init_process).
            loop = cast(asyncio.AbstractEventLoop, self.worker.loop)
            self._headers_deadline = loop.call_later(HEADER_SECONDS, self._headers_too_slow)

    def _on_headers_complete(self) -> Any:
        self._cancel_headers_deadline()
        # A private hook, which typeshed's stubs leave out; the pinned gunicorn has it
        # (tests/app/test_gunicorn.py).
        return super()._on_headers_complete()  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_headers_deadline()
        super().connection_lost(exc)

    def _headers_too_slow(self) -> None:
        self._headers_deadline = None
        transport = getattr(self, "transport", None)
        if transport is not None and not transport.is_closing():
            transport.abort()

    def _cancel_headers_deadline(self) -> None:
        if self._headers_deadline is not None:
            self._headers_deadline.cancel()
            self._headers_deadline = None


class GuardedASGIWorker(gasgi.ASGIWorker):
    def init_process(self) -> None:
        # This worker's process only: gasgi creates each connection's protocol by this name.
        # (The stubs do not re-export the module's import of ASGIProtocol, which this replaces.)
        gasgi.ASGIProtocol = GuardedProtocol  # type: ignore[attr-defined]
        super().init_process()
