"""`gunicorn benchmarks.floor_asgi:app`: the framework floor for benchmark 2.

A Bolt app whose /license only acks a fixed text, behind the same adapter and request-log
middleware as bot/asgi.py, with logging configured and its startup objects frozen as there
(its request line is written, as production writes one per request, not dropped at the
logger), so the only difference from production is what the command does. Like bot/asgi.py,
this module builds its app at import: gunicorn imports it once per worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.app import configure_logging, freeze_startup_objects
from bot.asgi_adapter import BufferedWsgi, create_asgi_app
from bot.config import Settings


def floor_asgi_app() -> BufferedWsgi:
    configure_logging(Settings.from_env())
    bolt = App(
        client=WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        token_verification_enabled=False,
        process_before_response=True,
    )

    @bolt.command("/license")
    def fixed(ack: Callable[..., None]) -> None:
        ack(text="fixed")

    return create_asgi_app(
        SlackRequestHandler(bolt),
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        threads=int(os.environ.get("GUNICORN_THREADS", "4")),
    )


app = floor_asgi_app()
freeze_startup_objects()
