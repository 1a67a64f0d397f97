"""The app with a store that refuses every connection, for the tests of what users and logs are
told when it is down."""

from __future__ import annotations

from dataclasses import replace

from bot.app import SlackWsgiApp, create_app
from bot.config import Settings
from bot.services import build_services
from tests.helpers.slack_standin import SlackStandIn

# Nothing listens on port 1: every connection is refused at once.
DOWN_STORE_URL = "postgresql+psycopg://bot@127.0.0.1:1/customersdot"


def app_with_the_store_down(
    settings: Settings, slack_standin: SlackStandIn, signing_secret: str
) -> SlackWsgiApp:
    down = replace(
        settings,
        slack_signing_secret=signing_secret,
        slack_api_url=slack_standin.api_url,
        database_url=DOWN_STORE_URL,
    )
    services = build_services(down)
    return SlackWsgiApp(create_app(down, services=services), services)
