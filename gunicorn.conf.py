"""Production gunicorn settings (HTTP mode). `gunicorn bot.asgi:app --config gunicorn.conf.py`."""

import os
import sys

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
# Heroku and most platforms set WEB_CONCURRENCY to what the dyno or container can hold.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gunicorn's asyncio worker: a connection is a coroutine until its request is whole, and only
# then takes one of the app's threads (GUNICORN_THREADS a worker: bot.asgi). A threaded worker
# gave a thread to every client that had sent its headers: sixteen that then sent one byte of
# their body held them all. Ours adds what gunicorn's lacks: a deadline for a request's headers
# (HEADER_TIMEOUT_SECONDS, 10) and the cap below (bot/gunicorn_worker.py).
worker_class = "bot.gunicorn_worker.GuardedASGIWorker"
# Connections a worker holds at once, waiting ones included; one more is closed at once.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "1000"))
# Slack gives up after 3 seconds; a request still running long after that is stuck.
timeout = 30
graceful_timeout = 20
keepalive = 5
# gunicorn's own lines (master, workers, access log) in LOG_FORMAT's format, redacted.
logger_class = "bot.gunicorn_logging.GunicornLogger"
# bot.logs writes one line per request (team, user, surface, status, outcome, latency); with
# LOG_FORMAT=json that line is the one a log pipeline wants, and gunicorn's would repeat it.
accesslog = None if os.environ.get("LOG_FORMAT", "").strip().lower() == "json" else "-"
# No query strings in the access log: Slack posts bodies, but be safe with anything else.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn 25+ opens a control socket for `gunicornc` at ~/.gunicorn/gunicorn.ctl, one path for
# every gunicorn the user runs (and the image's home is read-only). Nothing here uses it.
control_socket_disable = True


def on_starting(server):  # type: ignore[no-untyped-def]
    """A configuration error stops gunicorn in one line (exit 2), not a traceback per worker.

    Only the settings are checked (no store, no Slack): workers boot while either is down.
    """
    from bot.config import ConfigError, Settings

    try:
        problem = Settings.from_env().slack_credentials_problem()
    except ConfigError as error:
        problem = str(error)
    if problem:
        server.log.error("configuration error: %s", problem)
        sys.exit(2)
