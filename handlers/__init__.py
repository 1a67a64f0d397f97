"""Slack surfaces, one module each, all registered on the app here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers import actions, commands, events, lifecycle, shortcuts

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.services import Services


def register(app: App, services: Services) -> None:
    commands.register(app, services)
    actions.register(app, services)
    shortcuts.register(app, services)
    events.register(app, services)
    lifecycle.register(app, services)
