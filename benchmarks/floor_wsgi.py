"""`gunicorn benchmarks.floor_wsgi:app`: the framework floor for benchmark 2.

A Bolt app whose /license only acks a fixed text, behind the same WSGI adapter and request-log
middleware as bot/wsgi.py, so the only difference from production is what the command does.
Like bot/wsgi.py, this module builds its app at import: gunicorn imports it once per worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.logs import RequestLogMiddleware


def floor_wsgi_app() -> RequestLogMiddleware:
    bolt = App(
        client=WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        token_verification_enabled=False,
        process_before_response=True,
    )

    @bolt.command("/license")
    def fixed(ack: Callable[..., None]) -> None:
        ack(text="fixed")

    return RequestLogMiddleware(
        SlackRequestHandler(bolt), signing_secret=os.environ["SLACK_SIGNING_SECRET"]
    )


app = floor_wsgi_app()
