"""Who acted: one `Actor` per request, built once by the allowlist middleware.

`identify_actor` is the one reader of a Slack payload's user, team, enterprise and channel,
for every kind of request (slash command, interaction, Events API). The allowlist middleware
(bot.slack.allowlist) then builds the request's actor with `actor_for_request` and keeps it in
the Bolt context under `ACTOR_CONTEXT_KEY`; the handlers (`actor_of(context)`), the lookups'
audit rows and the refusal's log line all read that one actor.

Its `team_id` and `enterprise_id` are the installation's, from Bolt's authorize result (what
auth.test says the bot token belongs to), never the request body's: in a Slack Connect
channel the body names the visitor's own workspace or Grid organisation, and a body is what
the sender chose to write. The request log (bot.logs), which runs before Bolt and also for
requests that fail verification, reads the body with the same `identify_actor`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

from bot.actor import Actor

ACTOR_CONTEXT_KEY = "actor"


class InstallationIds(Protocol):
    """What the actor needs of Bolt's `AuthorizeResult`."""

    @property
    def team_id(self) -> str | None: ...

    @property
    def enterprise_id(self) -> str | None: ...


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def identify_actor(body: Mapping[str, Any]) -> Actor:
    """The acting user as a slash command, interaction or Events API body states it.

    Team and enterprise here are the body's: fit for a log line, not for an access decision
    (`actor_for_request` replaces them with the installation's)."""
    if "command" in body and "user_id" in body:
        return Actor(
            kind="command",
            surface=str(body["command"]),
            user_id=_str(body.get("user_id")),
            team_id=_str(body.get("team_id")),
            enterprise_id=_str(body.get("enterprise_id")),
            channel_id=_str(body.get("channel_id")),
            query=str(body.get("text") or ""),
        )
    kind = str(body.get("type") or "unknown")
    if kind == "event_callback":
        return _event_actor(body)
    user = _dict(body.get("user"))
    team = _dict(body.get("team"))
    enterprise = _dict(body.get("enterprise"))
    channel = _dict(body.get("channel"))
    container = _dict(body.get("container"))
    view = _dict(body.get("view"))
    actions = body.get("actions")
    first_action = _dict(actions[0]) if isinstance(actions, list) and actions else {}
    surface = (
        _str(first_action.get("action_id"))
        or _str(body.get("action_id"))
        or _str(body.get("callback_id"))
        or _str(view.get("callback_id"))
        or kind
    )
    return Actor(
        kind=kind,
        surface=surface,
        user_id=_str(user.get("id")),
        # On Enterprise Grid user.team_id may be the organisation's id: prefer team.id.
        team_id=_str(team.get("id")) or _str(user.get("team_id")),
        enterprise_id=_str(enterprise.get("id")) or _str(team.get("enterprise_id")),
        channel_id=_str(channel.get("id")) or _str(container.get("channel_id")),
    )


def _event_actor(body: Mapping[str, Any]) -> Actor:
    event = _dict(body.get("event"))
    user = event.get("user")
    user_id = _str(user) or _str(_dict(user).get("id"))
    return Actor(
        kind="event",
        surface=str(event.get("type") or "event"),
        user_id=user_id,
        team_id=_str(body.get("team_id")),
        enterprise_id=_str(body.get("enterprise_id")),
        channel_id=_str(event.get("channel")),
    )


def actor_for_request(body: Mapping[str, Any], installation: InstallationIds | None) -> Actor:
    """The request's actor: user, channel and surface from the body; team and enterprise from
    the installation Bolt authorized it with (None without one: nothing to be a member of)."""
    return replace(
        identify_actor(body),
        team_id=installation.team_id if installation is not None else None,
        enterprise_id=installation.enterprise_id if installation is not None else None,
    )


def actor_of(context: Mapping[str, Any]) -> Actor:
    """The actor the allowlist middleware put in a Bolt context (listeners, lazy ones too)."""
    actor = context.get(ACTOR_CONTEXT_KEY)
    if not isinstance(actor, Actor):
        # Every app registers the middleware (bot.app); a listener without it is a wiring bug.
        raise LookupError("no actor in the context: the allowlist middleware did not run")
    return actor
