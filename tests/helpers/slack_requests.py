"""Requests exactly as Slack sends them: signed, form-encoded or JSON, with every field.

Field sets follow Slack's reference for slash command requests, interaction payloads
(block_actions, block_suggestion, shortcut, message_action, view_submission) and the Events
API envelope. Builders return the raw body string, because the signature covers the exact bytes.

    body = slash_command_body("/license", "acme", user_id="U1", response_url=standin.response_url())
    response = app.dispatch(bolt_request(body, SIGNING_SECRET))
"""

from __future__ import annotations

import hashlib
import hmac
import io
import itertools
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.slack.bolt_request import SlackRequest
from tests.helpers.log_guard import remember

DEFAULT_TEAM_ID = "T0TEAM"
DEFAULT_TEAM_DOMAIN = "acme-sales"
DEFAULT_CHANNEL_ID = "C0SALES"
DEFAULT_APP_ID = "A0APP"
# The deprecated verification token Slack still sends; Bolt ignores it.
VERIFICATION_TOKEN = "verification-token-unused"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"

_trigger_counter = itertools.count(1)


def fresh_trigger_id() -> str:
    n = next(_trigger_counter)
    return f"{n}.1234567890.0123456789abcdef0123456789abcdef"


def with_fresh_trigger_id(command_body: str) -> str:
    """A slash command body sent again as Slack would send the user's next command: with a new
    trigger_id, so it is not signed like the first (the app refuses a repeated signature as a
    replay, bot/slack/request_claims.py)."""
    fresh = urlencode({"trigger_id": fresh_trigger_id()})
    replaced, count = re.subn(r"(?<![^&])trigger_id=[^&]*", lambda _: fresh, command_body)
    if count != 1:
        raise ValueError("not a slash command body with one trigger_id")
    return replaced


def sign(signing_secret: str, timestamp: int | str, body: str) -> dict[str, str]:
    """Slack's v0 request signature headers for `body` sent at `timestamp` (Unix seconds)."""
    base = f"v0:{timestamp}:{body}".encode()
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def content_type_of(body: str) -> str:
    return JSON_CONTENT_TYPE if body.lstrip().startswith("{") else FORM_CONTENT_TYPE


def signed_headers(
    signing_secret: str, body: str, *, timestamp: int | None = None
) -> dict[str, str]:
    """Signature headers plus the Content-Type Slack sends with this kind of body."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {"Content-Type": content_type_of(body), **sign(signing_secret, ts, body)}


# ---- slash commands ---------------------------------------------------------------------------


def slash_command_body(
    command: str,
    text: str = "",
    *,
    user_id: str = "UALLOWED",
    team_id: str = DEFAULT_TEAM_ID,
    channel_id: str = DEFAULT_CHANNEL_ID,
    response_url: str = "https://hooks.slack.com/commands/T0TEAM/1/abc",
    trigger_id: str | None = None,
    user_name: str | None = None,
    channel_name: str | None = None,
    team_domain: str = DEFAULT_TEAM_DOMAIN,
    enterprise_id: str | None = None,
    enterprise_name: str | None = None,
    api_app_id: str = DEFAULT_APP_ID,
    is_enterprise_install: bool = False,
) -> str:
    """The form-encoded body of a slash command request."""
    remember(text)
    fields: dict[str, str] = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": team_domain,
    }
    if enterprise_id is not None:
        fields["enterprise_id"] = enterprise_id
        fields["enterprise_name"] = enterprise_name or "Acme Org"
    fields.update(
        {
            "channel_id": channel_id,
            "channel_name": channel_name
            or ("directmessage" if channel_id.startswith("D") else channel_id.lower()),
            "user_id": user_id,
            "user_name": user_name or user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": api_app_id,
            "is_enterprise_install": "true" if is_enterprise_install else "false",
            "response_url": response_url,
            "trigger_id": trigger_id or fresh_trigger_id(),
        }
    )
    return urlencode(fields)


# ---- interaction payloads -----------------------------------------------------------------------


def interaction_body(payload: Mapping[str, Any]) -> str:
    """`payload=<url-encoded JSON>`: how every interaction reaches the app."""
    return urlencode({"payload": json.dumps(payload)})


def block_actions_body(payload: Mapping[str, Any]) -> str:
    return interaction_body(payload)


def _user(user_id: str, team_id: str) -> dict[str, Any]:
    return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id}


def _team(team_id: str, enterprise_id: str | None) -> dict[str, Any]:
    team: dict[str, Any] = {"id": team_id, "domain": DEFAULT_TEAM_DOMAIN}
    if enterprise_id is not None:
        team.update({"enterprise_id": enterprise_id, "enterprise_name": "Acme Org"})
    return team


def _enterprise(enterprise_id: str | None) -> dict[str, Any] | None:
    return None if enterprise_id is None else {"id": enterprise_id, "name": "Acme Org"}


def block_actions_payload(
    action_id: str,
    *,
    value: str | None = None,
    block_id: str = "card_actions",
    user_id: str = "UALLOWED",
    team_id: str = DEFAULT_TEAM_ID,
    enterprise_id: str | None = None,
    channel_id: str = DEFAULT_CHANNEL_ID,
    message_ts: str = "1700000000.000100",
    response_url: str | None = "https://hooks.slack.com/actions/T0TEAM/1/abc",
    message: Mapping[str, Any] | None = None,
    is_ephemeral: bool = False,
    trigger_id: str | None = None,
    extra_actions: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A block_actions payload for a button in a message the app posted."""
    action_ts = "1700000100.000200"
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": "Button", "emoji": True},
        "type": "button",
        "action_ts": action_ts,
    }
    if value is not None:
        action["value"] = value
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": DEFAULT_APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": is_ephemeral,
        },
        "trigger_id": trigger_id or fresh_trigger_id(),
        "team": _team(team_id, enterprise_id),
        "enterprise": _enterprise(enterprise_id),
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_id.lower()},
        "message": dict(message)
        if message is not None
        else {"type": "message", "ts": message_ts, "text": "", "blocks": []},
        "state": {"values": {}},
        "actions": [action, *map(dict, extra_actions)],
    }
    if response_url is not None:
        payload["response_url"] = response_url
    return payload


def block_suggestion_payload(
    action_id: str,
    value: str,
    *,
    block_id: str = "pick",
    user_id: str = "UALLOWED",
    team_id: str = DEFAULT_TEAM_ID,
    enterprise_id: str | None = None,
    view_callback_id: str = "modal",
) -> dict[str, Any]:
    """A block_suggestion payload: the user typed `value` into an external select in a modal."""
    remember(value)
    return {
        "type": "block_suggestion",
        "user": _user(user_id, team_id),
        "container": {"type": "view", "view_id": "V0MODAL"},
        "api_app_id": DEFAULT_APP_ID,
        "token": VERIFICATION_TOKEN,
        "action_id": action_id,
        "block_id": block_id,
        "value": value,
        "team": _team(team_id, enterprise_id),
        "enterprise": _enterprise(enterprise_id),
        "is_enterprise_install": False,
        "view": _view(view_callback_id, team_id),
    }


def shortcut_payload(
    callback_id: str,
    *,
    user_id: str = "UALLOWED",
    team_id: str = DEFAULT_TEAM_ID,
    enterprise_id: str | None = None,
    trigger_id: str | None = None,
) -> dict[str, Any]:
    """A global shortcut payload (no channel, no response_url)."""
    return {
        "type": "shortcut",
        "token": VERIFICATION_TOKEN,
        "action_ts": "1700000100.000200",
        "team": _team(team_id, enterprise_id),
        "user": _user(user_id, team_id),
        "is_enterprise_install": False,
        "enterprise": _enterprise(enterprise_id),
        "callback_id": callback_id,
        "trigger_id": trigger_id or fresh_trigger_id(),
    }


def message_action_payload(
    callback_id: str,
    *,
    user_id: str = "UALLOWED",
    team_id: str = DEFAULT_TEAM_ID,
    enterprise_id: str | None = None,
    channel_id: str = DEFAULT_CHANNEL_ID,
    message_ts: str = "1700000000.000100",
    thread_ts: str | None = None,
    message_text: str = "Deal review for Acme",
    message_user: str = "UOTHER",
    response_url: str = "https://hooks.slack.com/app/T0TEAM/1/abc",
    trigger_id: str | None = None,
) -> dict[str, Any]:
    """A message shortcut payload, as sent from a message's "More actions" menu."""
    remember(message_text)
    message: dict[str, Any] = {
        "type": "message",
        "user": message_user,
        "ts": message_ts,
        "text": message_text,
        "team": team_id,
    }
    if thread_ts is not None:
        message["thread_ts"] = thread_ts
    return {
        "type": "message_action",
        "token": VERIFICATION_TOKEN,
        "action_ts": "1700000100.000200",
        "team": _team(team_id, enterprise_id),
        "user": _user(user_id, team_id),
        "channel": {"id": channel_id, "name": channel_id.lower()},
        "is_enterprise_install": False,
        "enterprise": _enterprise(enterprise_id),
        "callback_id": callback_id,
        "trigger_id": trigger_id or fresh_trigger_id(),
        "response_url": response_url,
        "message_ts": message_ts,
        "message": message,
    }


def _view(
    callback_id: str,
    team_id: str,
    *,
    private_metadata: str = "",
    state_values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": "V0MODAL",
        "team_id": team_id,
        "type": "modal",
        "blocks": [],
        "private_metadata": private_metadata,
        "callback_id": callback_id,
        "state": {"values": dict(state_values or {})},
        "hash": "1700000000.abcdef",
        "title": {"type": "plain_text", "text": "CustomersDot", "emoji": True},
        "clear_on_close": False,
        "notify_on_close": False,
        "close": None,
        "submit": {"type": "plain_text", "text": "Post", "emoji": True},
        "previous_view_id": None,
        "root_view_id": "V0MODAL",
        "app_id": DEFAULT_APP_ID,
        "external_id": "",
        "app_installed_team_id": team_id,
        "bot_id": "BBOT",
    }


def view_submission_payload(
    callback_id: str,
    *,
    state_values: Mapping[str, Any] | None = None,
    private_metadata: str = "",
    user_id: str = "UALLOWED",
    team_id: str = DEFAULT_TEAM_ID,
    enterprise_id: str | None = None,
    response_urls: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": _team(team_id, enterprise_id),
        "user": _user(user_id, team_id),
        "api_app_id": DEFAULT_APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": fresh_trigger_id(),
        "view": _view(
            callback_id, team_id, private_metadata=private_metadata, state_values=state_values
        ),
        "response_urls": [dict(url) for url in response_urls],
        "is_enterprise_install": False,
        "enterprise": _enterprise(enterprise_id),
    }


# ---- Events API ---------------------------------------------------------------------------------


def event_body(
    event: Mapping[str, Any],
    *,
    team_id: str = DEFAULT_TEAM_ID,
    enterprise_id: str | None = None,
    api_app_id: str = DEFAULT_APP_ID,
    event_id: str = "Ev0000000001",
    event_time: int = 1_700_000_000,
    is_ext_shared_channel: bool = False,
    bot_user_id: str = "UBOT",
) -> str:
    """The JSON Events API envelope (`event_callback`) around `event`."""
    envelope: dict[str, Any] = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": dict(event),
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
        "authorizations": [
            {
                "enterprise_id": enterprise_id,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": is_ext_shared_channel,
        "event_context": "4-eyJldCI6ImV2ZW50In0",
    }
    if enterprise_id is not None:
        envelope["enterprise_id"] = enterprise_id
    return json.dumps(envelope)


# ---- delivering a request -----------------------------------------------------------------------


def bolt_request(body: str, signing_secret: str, *, timestamp: int | None = None) -> SlackRequest:
    """A signed request as the app's HTTP handler builds it (bot.slack.bolt_request), for
    `app.dispatch(...)`."""
    return SlackRequest(
        body=body, headers=signed_headers(signing_secret, body, timestamp=timestamp)
    )


@dataclass(frozen=True)
class WsgiResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def post_to_wsgi(
    wsgi_app: WsgiApp,
    body: str,
    signing_secret: str,
    *,
    path: str = "/slack/events",
    timestamp: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> WsgiResponse:
    """POST a signed Slack request to a WSGI callable in-process (what gunicorn would do)."""
    raw = body.encode("utf-8")
    headers_to_send = signed_headers(signing_secret, body, timestamp=timestamp)
    headers = dict(headers or {})
    if "Content-Type" in headers:  # a WSGI server puts it in CONTENT_TYPE, never as HTTP_
        headers_to_send["Content-Type"] = headers.pop("Content-Type")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": headers_to_send.pop("Content-Type"),
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(raw),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in {**headers_to_send, **headers}.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    captured: dict[str, Any] = {}

    def start_response(
        status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        captured["status"] = int(status.split(" ", 1)[0])
        captured["headers"] = {k.lower(): v for k, v in response_headers}
        return lambda _data: None

    result = wsgi_app(environ, start_response)
    try:
        payload = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return WsgiResponse(status=captured["status"], headers=captured["headers"], body=payload)


def post_to_url(
    url: str,
    body: str,
    signing_secret: str,
    *,
    timestamp: int | None = None,
    timeout: float = 10.0,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """POST a signed Slack request to a running server (loopback only in tests)."""
    host = httpx.URL(url).host
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise ValueError(f"tests post only to loopback addresses, not {host!r}")
    sent = {**signed_headers(signing_secret, body, timestamp=timestamp), **(headers or {})}
    return httpx.post(url, content=body.encode("utf-8"), headers=sent, timeout=timeout)
