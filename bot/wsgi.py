"""`gunicorn bot.wsgi:app`: the one module that builds the app at import (once per worker)."""

from __future__ import annotations

from bot.app import configure_logging, create_wsgi_app
from bot.config import Settings

settings = Settings.from_env()
configure_logging(settings)
app = create_wsgi_app(settings)
