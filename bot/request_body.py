"""A Slack request's body, read once per request and bounded (an unauthenticated sender must
not make a worker buffer more than MAX_BODY_BYTES).

The request log (bot.logs) and the app (bot.app: the 413, the shape check, then Bolt) all use
the one buffer kept in the WSGI environ: the body is read from the socket once, a declared
length over the limit is refused without reading a byte, and a body without one (chunked) is
read no further than MAX_BODY_BYTES + 1 bytes.
"""

from __future__ import annotations

import io
from typing import Any

MAX_BODY_BYTES = 1024 * 1024
# The environ key of the buffered body: its bytes, or None when it is over MAX_BODY_BYTES.
_BUFFERED_BODY = "customersdot.buffered_body"
# The environ key of the body's parse, where the app made one (a well-formed Slack body): its
# text and what it parsed to.
_PARSED_BODY = "customersdot.parsed_slack_body"


def buffer_bounded_body(environ: dict[str, Any]) -> bool:
    """Read the body into memory if it is at most MAX_BODY_BYTES, once per request, and put it
    back for what follows (with its length, so a chunked body reaches Bolt too); False when
    it is larger."""
    if _BUFFERED_BODY in environ:
        return environ[_BUFFERED_BODY] is not None
    declared = environ.get("CONTENT_LENGTH")
    if not declared and not environ.get("wsgi.input_terminated"):
        # PEP 3333: without a length, only a server that marks the stream as terminated
        # (gunicorn, for a chunked body) lets it be read to its end without blocking.
        return True
    if declared:
        try:
            length = int(declared)
        except ValueError:
            return True  # the app's shape check answers it
        if length > MAX_BODY_BYTES:
            environ[_BUFFERED_BODY] = None
            return False
        raw = environ["wsgi.input"].read(length) if length > 0 else b""
    else:
        raw = environ["wsgi.input"].read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            environ[_BUFFERED_BODY] = None
            return False
    environ[_BUFFERED_BODY] = raw
    environ["wsgi.input"] = io.BytesIO(raw)
    environ["CONTENT_LENGTH"] = str(len(raw))
    return True


def buffered_body(environ: dict[str, Any]) -> bytes | None:
    """The body buffer_bounded_body read, or None when it read none (or refused it)."""
    return environ.get(_BUFFERED_BODY)


def keep_parsed_body(environ: dict[str, Any], text: str, payload: dict[str, Any]) -> None:
    """Keep the app's parse of the body (`text`, decoded from the buffer), so that Bolt's request
    and the request log use it rather than parse the body again."""
    environ[_PARSED_BODY] = (text, payload)


def parsed_body(environ: dict[str, Any], text: str) -> dict[str, Any] | None:
    """The kept parse if it is of this very text, else None."""
    kept = environ.get(_PARSED_BODY)
    return kept[1] if kept is not None and kept[0] == text else None
