"""What a test typed into Slack and what customer data it imported, so that the autouse
fixture in conftest.py can fail the test if any of it reaches a log line at INFO or above
(SECURITY.md: logs never carry query text or emails).

The request builders (tests/helpers/slack_requests.py), the shared data set (tests/helpers/e2e_dataset.py) and
the Slack stand-in's users (tests/helpers/slack_standin.py) call `remember`; a test that feeds the bot
text some other way can call it too.
"""

from __future__ import annotations

import logging

from bot.config import Settings
from bot.logs import build_formatter

# Shorter texts ("", "42", "acm") occur in log lines by chance (ids, numbers, logger names).
MIN_REMEMBERED_LENGTH = 4

_remembered: set[str] = set()


def remember(*texts: str | None) -> None:
    """Text a user typed (a query, a message) or an email the test's data holds."""
    for text in texts:
        stripped = (text or "").strip()
        if len(stripped) >= MIN_REMEMBERED_LENGTH:
            _remembered.add(stripped)


def remembered() -> frozenset[str]:
    return frozenset(_remembered)


def forget_all() -> None:
    _remembered.clear()


def leaks(lines: list[str]) -> list[tuple[str, str]]:
    """(remembered text, line) for every formatted log line that carries a remembered text."""
    used = remembered()
    return [(text, line) for line in lines for text in used if text in line]


class FormattedLines(logging.Handler):
    """Keeps every line as the project's formatter writes it (after redaction)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.setFormatter(build_formatter(Settings()))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
