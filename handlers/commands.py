"""/license and /recon: answered in the HTTP response itself, ephemeral to the requester."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack

from bot import ids
from handlers.payloads import requester_from_command

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.app import Services


def register(app: App, services: Services) -> None:
    lookups = services.lookups

    def handle_lookup_command(ack: Ack, command: dict[str, Any]) -> None:
        answer = lookups.answer_query(
            command["command"], command.get("text") or "", requester_from_command(command)
        )
        ack(response_type="ephemeral", **answer.payload())

    for name in ids.COMMANDS:
        app.command(name)(handle_lookup_command)
