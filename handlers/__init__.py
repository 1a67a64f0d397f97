"""Slack surfaces, one module each, all registered on the app here.

Each listener is a module-level function: Bolt's arguments (`ack`, `body`, `client`,
`context`, …), then, keyword-only, the services it uses (`lookups`, …). Each module's
`register(app, services)` is the one place that binds those (handlers.binding.bind) and hands
the listeners to Bolt; a test can call a listener directly with fakes and a real store.
"""

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
