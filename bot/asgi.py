"""`gunicorn bot.asgi:app --config gunicorn.conf.py`: HTTP mode's entry point, the one module
that builds the app at import (once per worker). gunicorn's asyncio worker serves it: a client
costs a thread only once its request is whole (bot.asgi_adapter)."""

from __future__ import annotations

import os

from bot.app import configure_logging, create_wsgi_app, freeze_startup_objects
from bot.asgi_adapter import create_asgi_app
from bot.config import Settings

settings = Settings.from_env()
configure_logging(settings)
# Threads per worker that run the app on whole requests (each holds a store connection while it
# answers); connections waiting for their bodies cost none.
app = create_asgi_app(
    create_wsgi_app(settings),
    signing_secret=settings.slack_signing_secret,
    threads=int(os.environ.get("GUNICORN_THREADS", "4")),
)
freeze_startup_objects()
