"""Who made a request: the user, the installation and conversation it came through, the surface.

The Slack adapter builds one per request (bot/slack/actor.py); the use cases audit it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who acted, in which installation and conversation, through which surface."""

    user_id: str | None
    team_id: str | None = None
    enterprise_id: str | None = None
    channel_id: str | None = None
    # "command", "block_actions", "block_suggestion", "view_submission", "event", ...
    kind: str = "unknown"
    surface: str = "unknown"  # command name, action id, callback id, or event type
    query: str | None = None  # the command text; nothing else is a query
