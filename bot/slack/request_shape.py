"""Is a request body shaped like something Slack sends? Checked before Bolt sees it.

Bolt parses the body before it verifies the signature, and its parsing and listener matching
index into the payload without checking types: a truncated or non-object JSON payload, an
empty `actions` list or an `event` that is a list raises inside Bolt (an exception out of the
WSGI app, or a 500). Slack never sends such bodies, so they are answered 400 here, with the
same rules Bolt's `parse_body` uses to find the payload. Socket Mode delivers payloads already
parsed, so they skip the HTTP check; `bot.slack.socket_mode` applies the same payload rules there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

# Interaction payload fields Bolt reads as objects when present (null is allowed).
_OBJECT_FIELDS = ("user", "team", "channel", "container", "view", "message", "enterprise")


def malformed_reason(body: str, content_type: str | None) -> str | None:
    """Why Bolt could not safely handle `body`, or None when it can."""
    return read_slack_body(body, content_type)[1]


def read_slack_body(body: str, content_type: str | None) -> tuple[Any, str | None]:
    """`body` parsed as `parse_slack_body` does (None when empty or unparseable), and why Bolt
    could not safely handle it (None when it can): the HTTP boundary parses a body once, and
    hands a well-formed one on to its `SlackRequest` (bot/slack/bolt_request.py)."""
    if not body:
        return None, None  # Bolt treats an empty body as {}; verification refuses it
    try:
        payload = parse_slack_body(body, content_type)
    except ValueError:  # json.JSONDecodeError is a ValueError
        return None, "body is not valid JSON"
    except RecursionError:  # `[[[[…` two hundred thousand deep: json gives up, as we do
        return None, "body is nested too deeply"
    return payload, malformed_payload_reason(payload)


def malformed_payload_reason(payload: Any) -> str | None:
    """Why Bolt could not safely handle an already parsed payload (Socket Mode's), or None."""
    if not isinstance(payload, dict):
        return "payload is not a JSON object"
    if "event" in payload and not isinstance(payload["event"], dict):
        return "event is not an object"
    for field in _OBJECT_FIELDS:
        value = payload.get(field)
        if value is not None and not isinstance(value, (dict, str)):
            return f"{field} is not an object"
    actions = payload.get("actions")
    if "actions" in payload and not _non_empty_objects(actions):
        return "actions is not a list of objects"
    return None


def parse_slack_body(body: str, content_type: str | None) -> Any:
    """A Slack request body as Bolt's `parse_body` reads it (JSON for events, a form for
    commands, a form's `payload` for interactions), but a form is an interaction only when it
    has a `payload` key: Bolt 1.30 takes any form whose text contains the word "payload" for
    one (bot/slack/bolt_request.py). The result's shape is not trusted here (see
    `malformed_payload_reason`). Raises ValueError (or RecursionError) on bad JSON."""
    if content_type == "application/json" or body.startswith("{"):
        return json.loads(body)
    form = dict(parse_qsl(body, keep_blank_values=True))
    if "payload" in form:
        return json.loads(form["payload"])
    return form


def _non_empty_objects(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(isinstance(item, Mapping) for item in value)
    )
