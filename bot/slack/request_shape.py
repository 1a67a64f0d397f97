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
    if not body:
        return None  # Bolt treats an empty body as {}; verification refuses it
    try:
        payload = _parse_like_bolt(body, content_type)
    except ValueError:  # json.JSONDecodeError is a ValueError
        return "body is not valid JSON"
    return malformed_payload_reason(payload)


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


def _parse_like_bolt(body: str, content_type: str | None) -> Any:
    # slack_bolt.request.internals.parse_body's rules, without trusting the result's shape.
    if content_type == "application/json" or body.startswith("{"):
        return json.loads(body)
    if "payload" in body:
        payload = dict(parse_qsl(body, keep_blank_values=True)).get("payload")
        return {} if payload is None else json.loads(payload)
    return dict(parse_qsl(body, keep_blank_values=True))


def _non_empty_objects(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(isinstance(item, Mapping) for item in value)
    )
