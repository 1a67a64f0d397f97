"""Only Slack's signed requests reach the bot, and both runtime modes enforce one allowlist.

Slack's own example from "Verifying requests from Slack" (secret, timestamp, body, expected
`v0=` signature) goes through the app's real request path: the WSGI app, Bolt's request
verification, then the allowlist. Its timestamp is from 2018, so the verifier's clock is
injected; nothing else about the path is changed. Any change to body, timestamp or signature,
and any timestamp more than five minutes off, is answered 401 before any listener or audit.
"""

from __future__ import annotations

import argparse
import gc
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode.internals import run_bolt_app
from slack_bolt.middleware.request_verification import RequestVerification
from slack_sdk.socket_mode.request import SocketModeRequest
from sqlalchemy import select

from bot.app import SlackWsgiApp, create_app
from bot.config import Settings
from bot.services import Services, build_services
from bot.store.models import AuditEvent
from tests.helpers.e2e_dataset import INITECH_EMAIL, load_dataset
from tests.helpers.slack_requests import WsgiResponse, post_to_wsgi, sign, slash_command_body
from tests.helpers.slack_standin import SlackStandIn

# Slack's documented example (docs.slack.dev/authentication/verifying-requests-from-slack).
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TIMESTAMP = 1531420618
DOC_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
    "&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
    "&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands"
    "%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
DOC_USER = "U2CERLKJA"
ALLOWED = "UALLOWED"
NOT_LISTED = "UNOTLISTED"
FIVE_MINUTES = 5 * 60


class FixedClock:
    """slack_sdk's `Clock` shape: the verifier asks it for "now"."""

    def __init__(self, now: float) -> None:
        self.value = now

    def now(self) -> float:
        return self.value


@dataclass
class SignedBot:
    app: App
    wsgi: SlackWsgiApp
    services: Services
    clock: FixedClock

    def post(self, body: str, *, timestamp: int | str, signature: str) -> WsgiResponse:
        headers = {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature}
        return post_to_wsgi(self.wsgi, body, DOC_SECRET, headers=headers)

    def audit_rows(self) -> list[AuditEvent]:
        with self.services.session_factory() as session:
            return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def _verification_of(app: App) -> RequestVerification:
    [verification] = [m for m in app._middleware_list if isinstance(m, RequestVerification)]
    return verification


@pytest.fixture
def signed_bot(settings: Settings, slack_standin: SlackStandIn, tmp_path: Path) -> SignedBot:
    slack_standin.add_user(ALLOWED, email="ae@sales.example")
    slack_standin.add_user(NOT_LISTED, email="someone@sales.example")
    settings = replace(
        settings, slack_signing_secret=DOC_SECRET, slack_api_url=slack_standin.api_url
    )
    services = build_services(settings)
    app = create_app(settings, services=services)
    clock = FixedClock(DOC_TIMESTAMP)
    # The one substitution: the verifier Bolt built for this app reads this clock.
    _verification_of(app).verifier.clock = clock
    return SignedBot(app, SlackWsgiApp(app, services), services, clock)


def test_slacks_documented_example_verifies_through_the_apps_request_path(signed_bot):
    response = signed_bot.post(DOC_BODY, timestamp=DOC_TIMESTAMP, signature=DOC_SIGNATURE)
    assert response.status == 200
    # Past verification, the allowlist saw the request: Slack does not know this user.
    [row] = signed_bot.audit_rows()
    assert (row.user_id, row.surface, row.outcome) == (DOC_USER, "/webhook-collect", "denied")
    assert "can't let you look up customer data" in response.text


def _tampered_bodies() -> list[tuple[str, str]]:
    return [
        ("a user id changed", DOC_BODY.replace("U2CERLKJA", "U2CERLKJB")),
        ("text added", DOC_BODY.replace("&text=&", "&text=initech&")),
        ("a byte appended", DOC_BODY + "&"),
        ("a byte removed", DOC_BODY[:-1]),
        ("the case of one letter", DOC_BODY.replace("roadrunner", "Roadrunner")),
    ]


@pytest.mark.parametrize(("change", "body"), _tampered_bodies(), ids=lambda v: v[:20])
def test_any_change_to_the_body_is_refused(signed_bot, change, body):
    response = signed_bot.post(body, timestamp=DOC_TIMESTAMP, signature=DOC_SIGNATURE)
    assert response.status == 401, change
    assert signed_bot.audit_rows() == []  # refused before the allowlist or any listener


@pytest.mark.parametrize(
    "signature",
    [
        DOC_SIGNATURE[:-1] + "4",  # one hex digit off
        DOC_SIGNATURE.upper(),
        DOC_SIGNATURE.replace("v0=", "v1="),
        DOC_SIGNATURE.removeprefix("v0="),
        DOC_SIGNATURE[:-2],
        "",
    ],
)
def test_any_change_to_the_signature_is_refused(signed_bot, signature):
    response = signed_bot.post(DOC_BODY, timestamp=DOC_TIMESTAMP, signature=signature)
    assert response.status == 401
    assert signed_bot.audit_rows() == []


@pytest.mark.parametrize("timestamp", [DOC_TIMESTAMP + 1, DOC_TIMESTAMP - 1, f" {DOC_TIMESTAMP}"])
def test_a_changed_timestamp_with_the_original_signature_is_refused(signed_bot, timestamp):
    response = signed_bot.post(DOC_BODY, timestamp=timestamp, signature=DOC_SIGNATURE)
    assert response.status == 401
    assert signed_bot.audit_rows() == []


@pytest.mark.parametrize("timestamp", ["", "not-a-number", "1531420618.5", "-"])
def test_a_malformed_timestamp_is_refused_not_a_crash(signed_bot, timestamp):
    response = signed_bot.post(DOC_BODY, timestamp=timestamp, signature=DOC_SIGNATURE)
    assert response.status == 401
    assert signed_bot.audit_rows() == []


@pytest.mark.parametrize(
    ("offset", "verifies"),
    [
        (0, True),
        (FIVE_MINUTES, True),
        (-FIVE_MINUTES, True),
        (FIVE_MINUTES + 1, False),
        (-FIVE_MINUTES - 1, False),
        (24 * 3600, False),
    ],
)
def test_a_correctly_signed_request_older_or_newer_than_five_minutes_is_refused(
    signed_bot, offset, verifies
):
    # Signed correctly for its own timestamp: only the clock distance decides.
    signed_bot.clock.value = DOC_TIMESTAMP + offset
    response = signed_bot.post(DOC_BODY, timestamp=DOC_TIMESTAMP, signature=DOC_SIGNATURE)
    assert (response.status != 401) is verifies
    assert len(signed_bot.audit_rows()) == (1 if verifies else 0)


def test_a_request_signed_with_another_secret_is_refused(signed_bot):
    forged = sign("not-the-signing-secret", DOC_TIMESTAMP, DOC_BODY)["X-Slack-Signature"]
    response = signed_bot.post(DOC_BODY, timestamp=DOC_TIMESTAMP, signature=forged)
    assert response.status == 401


# ---- Socket Mode and HTTP mode: one app, one allowlist -------------------------------------


class _CapturingSocketModeHandler:
    """Stands in for the Socket Mode handler `serve` starts: keeps the app it is handed."""

    apps: ClassVar[list[App]] = []

    def __init__(self, app: App, app_token: str | None = None, **_: Any) -> None:
        self.app = app
        type(self).apps.append(app)

    def start(self) -> None:  # no websocket: the test feeds requests to the app itself
        return None


@pytest.fixture
def served_app(
    settings: Settings, slack_standin: SlackStandIn, tmp_path: Path, monkeypatch
) -> Iterator[tuple[App, Services]]:
    """The very app `python -m bot serve` builds (bot.cli.serve.serve), not a copy of it.
    (`serve` freezes this process's objects once the app is built: thawed after the test.)"""
    import bot.app as bot_app
    import bot.slack.socket_mode as socket_mode
    from bot.cli.serve import serve

    slack_standin.add_user(ALLOWED, email="ae@sales.example")
    slack_standin.add_user(NOT_LISTED, email="someone@sales.example")
    settings = replace(
        settings, slack_api_url=slack_standin.api_url, slack_app_token="xapp-1-test-token"
    )
    services = build_services(settings)
    load_dataset(services.session_factory, tmp_path, datetime.now(UTC).date())
    monkeypatch.setattr(_CapturingSocketModeHandler, "apps", [])
    monkeypatch.setattr(socket_mode, "ShapeCheckingSocketModeHandler", _CapturingSocketModeHandler)
    monkeypatch.setattr(bot_app, "configure_logging", lambda _settings: None)
    assert serve(settings, argparse.Namespace()) == 0
    [app] = _CapturingSocketModeHandler.apps
    try:
        yield app, services
    finally:
        gc.unfreeze()


def test_serve_leaves_what_it_built_out_of_full_collections(served_app):
    assert gc.get_freeze_count() > 50_000  # bot.app.freeze_startup_objects, once the app is built


def _socket_mode_command(app: App, user: str, text: str) -> str:
    """A slash command as Socket Mode delivers it: a JSON envelope, no signature at all."""
    fields = dict(
        parse_qsl(slash_command_body("/license", text, user_id=user), keep_blank_values=True)
    )
    request = SocketModeRequest(type="slash_commands", envelope_id="env-1", payload=fields)
    response = run_bolt_app(app, request)
    assert response.status == 200
    return response.body


def test_socket_mode_enforces_the_same_allowlist(served_app):
    app, services = served_app
    refused = _socket_mode_command(app, NOT_LISTED, "initech")
    assert (
        "not on the list" in refused and "Initech" not in refused and INITECH_EMAIL not in refused
    )
    allowed = _socket_mode_command(app, ALLOWED, "initech")
    assert "Initech" in allowed  # the control: the same path does answer an allowed user
    with services.session_factory() as session:
        rows = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert [(row.user_id, row.outcome) for row in rows] == [(NOT_LISTED, "denied"), (ALLOWED, "ok")]


def test_the_allowlist_middleware_is_on_the_served_app(served_app):
    app, _ = served_app
    names = [type(middleware).__name__ for middleware in app._middleware_list]
    assert "AllowlistMiddleware" in names
    # Socket Mode skips signature checks (the websocket is authenticated by the app token),
    # so the allowlist must come after verification and apply whatever the mode.
    assert names.index("RequestVerification") < names.index("AllowlistMiddleware")
