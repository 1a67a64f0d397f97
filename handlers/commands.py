"""/license and /recon: answered in the HTTP response itself, ephemeral to the requester."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, BoltContext

from bot import ids
from bot.slack.actor import actor_of
from handlers.binding import bind

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.answers.lookups import LookupService
    from bot.services import Services


def handle_lookup_command(
    ack: Ack, command: dict[str, Any], context: BoltContext, *, lookups: LookupService
) -> None:
    answer = lookups.answer_query(command["command"], command.get("text") or "", actor_of(context))
    ack(response_type="ephemeral", **answer.payload())


def register(app: App, services: Services) -> None:
    listener = bind(handle_lookup_command, lookups=services.lookups)
    for name in ids.COMMANDS:
        app.command(name)(listener)
