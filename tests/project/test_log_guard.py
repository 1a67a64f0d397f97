"""The autouse fixture that keeps query text and emails out of every test's logs
(tests/conftest.py::logs_never_carry_query_text_or_emails) sees what it must."""

from __future__ import annotations

import logging

from tests.helpers import log_guard
from tests.helpers.slack_requests import block_suggestion_payload, slash_command_body


def test_the_guard_finds_a_typed_query_in_a_formatted_line() -> None:
    slash_command_body("/license", "umbrella pharma")
    block_suggestion_payload("customer", "initech holdings")
    lines = log_guard.FormattedLines()
    for message in ("refused user=U1 reason=not_listed", "lookup failed for umbrella pharma"):
        lines.handle(logging.makeLogRecord({"name": "bot", "levelno": 20, "msg": message}))

    assert log_guard.leaks(lines.lines) == [("umbrella pharma", lines.lines[1])]
    log_guard.forget_all()  # this test's own lines are not a leak


def test_emails_are_checked_after_redaction() -> None:
    log_guard.remember("jane@initech.example", "ab")  # too short to check: "ab"
    lines = log_guard.FormattedLines()
    record = logging.makeLogRecord(
        {"name": "bot", "levelno": 30, "msg": "contact %s", "args": ("jane@initech.example",)}
    )
    lines.handle(record)
    assert log_guard.leaks(lines.lines) == []  # the formatter redacted it
    assert "[email]" in lines.lines[0]
    assert log_guard.remembered() == {"jane@initech.example"}
