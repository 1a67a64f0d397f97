"""`gunicorn benchmarks.threaded_wsgi:app -k gthread`: the bot as a WSGI app for gunicorn's
threaded worker, the deployment before issue 18 (benchmarks/bench_slow_clients.py compares the
two). Like bot/asgi.py, this module builds its app at import."""

from __future__ import annotations

from bot.app import configure_logging, create_wsgi_app
from bot.config import Settings
from bot.logs import RequestLogMiddleware

settings = Settings.from_env()
configure_logging(settings)
app = RequestLogMiddleware(create_wsgi_app(settings), signing_secret=settings.slack_signing_secret)
