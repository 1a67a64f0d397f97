"""Who acted, and where, read from any Slack payload shape."""

from __future__ import annotations

from typing import Any

from bot.lookups import Requester


def requester_from_command(command: dict[str, Any]) -> Requester:
    return Requester(
        user_id=command.get("user_id"),
        team_id=command.get("team_id"),
        enterprise_id=command.get("enterprise_id") or None,
        channel_id=command.get("channel_id"),
    )


def requester_from_interaction(body: dict[str, Any]) -> Requester:
    user = body.get("user") or {}
    team = body.get("team") or {}
    enterprise = body.get("enterprise") or {}
    channel = body.get("channel") or {}
    return Requester(
        user_id=user.get("id"),
        team_id=team.get("id") or user.get("team_id"),
        enterprise_id=enterprise.get("id"),
        channel_id=channel.get("id"),
    )


def action_value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value") or "")
