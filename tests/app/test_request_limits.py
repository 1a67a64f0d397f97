"""Unauthenticated requests cannot exhaust a worker: bodies over MAX_BODY_BYTES are refused
with 413 before they are read (a declared length) or after at most MAX_BODY_BYTES + 1 bytes
(chunked), and a request that fails signature verification is logged in one short line
without its body. Against gunicorn: tests/project/test_load_short.py (hostile-body mode)."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import pytest

from bot.app import SlackWsgiApp, create_app
from bot.logs import (
    BOLT_VERIFICATION_LOGGER,
    REQUEST_LOGGER,
    JsonFormatter,
    Redactor,
    RequestLogMiddleware,
    TextFormatter,
)
from bot.request_body import MAX_BODY_BYTES
from bot.services import build_services
from tests.helpers.slack_requests import FORM_CONTENT_TYPE, sign, slash_command_body

SECRET = "limits-signing-secret"
HOSTILE_BODY_BYTES = 200 * 1024 * 1024


class CountingBody:
    """A request body of `size` bytes made on demand; counts how much the app read."""

    def __init__(self, size: int, fill: bytes = b"a") -> None:
        self.size, self.fill, self.consumed = size, fill, 0

    def read(self, size: int | None = -1) -> bytes:
        left = self.size - self.consumed
        wanted = left if size is None or size < 0 else min(size, left)
        self.consumed += wanted
        return self.fill * wanted


@pytest.fixture
def wsgi_app(settings, slack_standin) -> SlackWsgiApp:
    slack_standin.add_user("UALLOWED", email="ae@sales.example")
    settings = replace(settings, slack_signing_secret=SECRET, slack_api_url=slack_standin.api_url)
    services = build_services(settings)
    return SlackWsgiApp(create_app(settings, services=services), services)


def _post(
    app: SlackWsgiApp, body: Any, *, content_length: int | None, headers: dict[str, str]
) -> tuple[int, bytes]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/slack/events",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": FORM_CONTENT_TYPE,
        "wsgi.input": body,
        # gunicorn's mark: the stream ends where the body does, even without a length (chunked).
        "wsgi.input_terminated": True,
    }
    if content_length is not None:
        environ["CONTENT_LENGTH"] = str(content_length)
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    status: dict[str, int] = {}

    def start_response(line: str, _headers: Any, _exc_info: Any = None) -> None:
        status["code"] = int(line.split(" ", 1)[0])

    result: Iterable[bytes] = app(environ, start_response)
    return status["code"], b"".join(result)


def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body(wsgi_app):
    body = CountingBody(HOSTILE_BODY_BYTES)
    status, answer = _post(wsgi_app, body, content_length=body.size, headers={})
    assert status == 413 and json.loads(answer) == {"error": "request body too large"}
    assert body.consumed == 0


def test_a_chunked_body_over_the_limit_is_read_no_further_than_the_limit(wsgi_app):
    body = CountingBody(HOSTILE_BODY_BYTES)
    status, _answer = _post(wsgi_app, body, content_length=None, headers={})
    assert status == 413
    assert body.consumed <= MAX_BODY_BYTES + 1


def test_a_body_at_the_limit_goes_on_to_the_signature_check(wsgi_app):
    body = CountingBody(MAX_BODY_BYTES, fill=b"x")
    status, _answer = _post(wsgi_app, body, content_length=body.size, headers={})
    assert status == 401  # unsigned: refused by the signature check, not by its size


def test_a_signed_chunked_request_under_the_limit_is_answered(wsgi_app):
    text = slash_command_body("/license", "Initech")
    body = io.BytesIO(text.encode())
    headers = sign(SECRET, int(time.time()), text)
    status, answer = _post(wsgi_app, body, content_length=None, headers=headers)
    assert status == 200, answer


# ---- what an unverified request leaves in the logs -------------------------------------------

QUERY = "Initech renewal"
EMAIL = "jane.doe@initech.example"


def test_an_invalid_signature_is_logged_in_one_short_line_without_the_body(wsgi_app, caplog):
    caplog.set_level(logging.INFO)
    # Bolt gives its loggers the root level when the app is built: what production has.
    caplog.set_level(logging.INFO, logger=BOLT_VERIFICATION_LOGGER)
    text = slash_command_body("/license", f"{QUERY} {EMAIL}")
    forged = sign("not-the-secret", int(time.time()), text)
    status, _answer = _post(
        wsgi_app, io.BytesIO(text.encode()), content_length=len(text.encode()), headers=forged
    )
    assert status == 401
    records = [r for r in caplog.records if r.name.startswith("slack_bolt")]
    assert [r.getMessage() for r in records] == ["Invalid request signature detected"]
    for formatter in (TextFormatter(Redactor()), JsonFormatter(Redactor())):
        line = formatter.format(records[0])
        for leaked in (
            "Initech",
            "jane.doe",
            "%40",
            "hooks.slack.com",
            "command",
            forged["X-Slack-Signature"],
        ):
            assert leaked not in line, line


def test_the_request_line_and_the_app_share_one_body_limit(wsgi_app, caplog):
    # A body under MAX_BODY_BYTES that the app answers is described on its request line too:
    # one buffer under one limit, not a second, smaller one for the log.
    text = slash_command_body("/license", "Initech") + "&padding=" + "x" * 1_020_000
    assert 1_000_000 < len(text) <= MAX_BODY_BYTES
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    headers = sign(SECRET, int(time.time()), text)
    logged = RequestLogMiddleware(wsgi_app, signing_secret=SECRET)
    status, answer = _post(
        logged, io.BytesIO(text.encode()), content_length=len(text), headers=headers
    )  # type: ignore[arg-type]
    assert status == 200, answer
    [line] = [record for record in caplog.records if record.name == REQUEST_LOGGER]
    assert getattr(line, "surface", None) == "/license"


def test_a_logged_request_over_the_limit_is_still_refused_unread(wsgi_app):
    body = CountingBody(HOSTILE_BODY_BYTES)
    logged = RequestLogMiddleware(wsgi_app)
    status, _answer = _post(logged, body, content_length=body.size, headers={})  # type: ignore[arg-type]
    assert status == 413 and body.consumed == 0
