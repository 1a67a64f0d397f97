"""gunicorn's own log lines (the master's "Booting worker", a worker's errors, the access log)
in `LOG_FORMAT`'s format, redacted like every other line: `logger_class` in gunicorn.conf.py.

Without it gunicorn formats them itself, and with `LOG_FORMAT=json` a log pipeline gets plain
text lines in the middle of its JSON stream.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from bot.config import ConfigError, Settings
from bot.logs import RequestIdFilter, build_formatter


class GunicornLogger(Logger):
    """gunicorn's logger with bot.logs' formatter on its error and access handlers."""

    def setup(self, cfg: Any) -> None:
        # gunicorn calls this at start and on every configuration reload (SIGHUP).
        super().setup(cfg)
        try:
            settings = Settings.from_env()
        except ConfigError:
            # The worker reports the configuration error when it boots; gunicorn's own format
            # until then is better than no line at all.
            return
        formatter = build_formatter(settings)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)
                if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
                    handler.addFilter(RequestIdFilter())
