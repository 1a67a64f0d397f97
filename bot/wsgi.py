"""`gunicorn bot.wsgi:app`: the one module that builds the app at import (once per worker)."""

from __future__ import annotations

from bot.app import configure_logging, create_wsgi_app
from bot.config import Settings
from bot.logs import RequestLogMiddleware

settings = Settings.from_env()
configure_logging(settings)
# One log line per request (team, user, surface, status, latency), secrets and emails redacted.
app = RequestLogMiddleware(create_wsgi_app(settings), signing_secret=settings.slack_signing_secret)
