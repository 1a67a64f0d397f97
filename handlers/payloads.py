"""What a button carries. Who acted is the request's one actor (bot.slack.actor.actor_of)."""

from __future__ import annotations

from typing import Any


def action_value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value") or "")
