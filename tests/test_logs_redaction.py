"""What reaches the logs at INFO and above: no email (plain or `%40`), no `response_url`, no
PostgreSQL `DETAIL:` line, no SQL parameter (engines hide them), one line per record in the
text format, and a redactor whose work is linear in the line's length."""

from __future__ import annotations

import json
import logging
import multiprocessing
import random
import re
import sys
from dataclasses import replace

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from bot.app import SlackWsgiApp, create_app
from bot.logs import (
    EMAIL_REDACTED,
    JsonFormatter,
    Redactor,
    TextFormatter,
    redact_emails,
)
from bot.services import build_services
from bot.store.db import create_store_engine, is_sqlite
from tests.helpers.slack_requests import post_to_wsgi, slash_command_body

SECRET = "redaction-signing-secret"
# The start-anchored email pattern the redactor used before: what it redacted must stay redacted.
START_ANCHORED_EMAIL = re.compile(
    r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)


def _formatters() -> list[logging.Formatter]:
    return [TextFormatter(Redactor([SECRET])), JsonFormatter(Redactor([SECRET]))]


def _record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("bot.test", logging.WARNING, __file__, 1, msg, args, None)


@pytest.mark.parametrize(
    "line",
    [
        "contact jane.doe+x@initech.example today",
        "a@b.com.x@c.org",
        "x@@y.com and @z.com and q@",
        "o'neil@acme.co.uk,bob-smith@mail.example.org;",
        "not.an.email@localhost but ok@x-y.io.",
        "two@a.b.cc@d.ee three@1.2.34",
        "",
    ],
)
def test_every_email_the_start_anchored_pattern_found_is_still_redacted(line):
    assert redact_emails(line) == START_ANCHORED_EMAIL.sub(EMAIL_REDACTED, line)


def test_random_lines_are_redacted_as_the_start_anchored_pattern_did():
    picker = random.Random(20261204)
    alphabet = "ab.-_+'%1 @@xy.co.mz\n"  # no "%40": only the new redactor reads it
    for _ in range(3000):
        line = "".join(picker.choice(alphabet) for _ in range(picker.randint(0, 40)))
        assert redact_emails(line) == START_ANCHORED_EMAIL.sub(EMAIL_REDACTED, line), repr(line)


@pytest.mark.parametrize(
    ("line", "gone", "kept"),
    [
        ("text=renewal+jane.doe%40initech.example&x=1", "initech", "text=[email]&x=1"),
        (
            "response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT0TEAM%2F1%2Fabc&t=1",
            "abc",
            "hooks.slack.com/[redacted]&t=1",
        ),
        (
            '{"response_url": "https:\\/\\/hooks.slack.com\\/actions\\/T0\\/9\\/tok"}',
            "tok",
            'https:\\/\\/hooks.slack.com/[redacted]"}',
        ),
        ("https://hooks.slack-gov.com/commands/T1/2/secretpath ok", "secretpath", "[redacted] ok"),
        ("https://hooks.slack.com/services/T1/B2/xyz", "xyz", "/[redacted]"),
        ("db postgresql+psycopg://app:s3cret@db:5432/x", "s3cret", "app:***@db"),
        (
            "duplicate key\nDETAIL:  Key (k)=(jane renewal) already exists.\n[SQL: INSERT]",
            "jane renewal",
            "DETAIL: [redacted]\n[SQL: INSERT]",
        ),
        (
            '{"exception": "dup\\nDETAIL:  Failing row contains (Initech).\\n[SQL: x]"}',
            "Initech",
            "DETAIL: [redacted]\\n[SQL: x]",
        ),
    ],
)
def test_url_encoded_emails_response_urls_passwords_and_postgres_details_are_redacted(
    line, gone, kept
):
    shown = Redactor()(line)
    assert gone not in shown and kept in shown, shown


def _redact(line: str) -> str:
    return Redactor([SECRET])(line)


def _redacted_in_a_child_process(line: str) -> str:
    # A guard, not a measurement: the quadratic redactor took 31 s for 100 KB, so for these
    # 1 MB lines it would take about an hour; a linear one takes well under a second. A child
    # process, because one regex call holds the GIL: a thread could not be given up on.
    with multiprocessing.get_context("fork").Pool(1) as pool:
        try:
            return pool.apply_async(_redact, (line,)).get(timeout=120)
        except multiprocessing.TimeoutError:
            pytest.fail("the redactor did not finish a 1 MB line in 120 s")


MEGABYTE = 1_000_000


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("a" * MEGABYTE, "a" * MEGABYTE),
        ("a" * MEGABYTE + "@initech.example", EMAIL_REDACTED),
        ("@" * MEGABYTE, "@" * MEGABYTE),
        ("a@" * (MEGABYTE // 2), "a@" * (MEGABYTE // 2)),
        ("%40" * (MEGABYTE // 3), "%40" * (MEGABYTE // 3)),
        ("@" + "a." * (MEGABYTE // 2) + "1", "@" + "a." * (MEGABYTE // 2) + "1"),
        ("a://b:" * (MEGABYTE // 6), "a://b:" * (MEGABYTE // 6)),
        ("a:" + "b" * MEGABYTE, "a:" + "b" * MEGABYTE),
        ("DETAIL:" * (MEGABYTE // 7), "DETAIL: [redacted]"),
        ("hooks.slack.com/" * (MEGABYTE // 16), "hooks.slack.com/[redacted]"),
        ("xoxb-" * (MEGABYTE // 5), "[redacted]"),
    ],
    ids=[
        "letters",
        "letters-then-domain",
        "ats",
        "letter-at-pairs",
        "encoded-ats",
        "dotted-domain",
        "schemes",
        "colon-then-letters",
        "details",
        "response-urls",
        "token-prefixes",
    ],
)
def test_pathological_one_megabyte_lines_are_redacted_in_one_pass(line, expected):
    assert _redacted_in_a_child_process(line) == expected


def test_the_text_format_writes_one_line_per_record_tracebacks_included():
    forged = "Initech\n2026-12-04 09:00:00,000 INFO bot.requests request status=200\r"
    try:
        raise RuntimeError("failed on line one\nand line two")
    except RuntimeError:
        record = _record("lookup of %s failed", forged)
        record.exc_info = sys.exc_info()
    line = TextFormatter(Redactor()).format(record)
    assert "\n" not in line and "\r" not in line
    assert "Initech\\n2026-12-04 09:00:00,000 INFO" in line and "status=200\\r" in line
    # The traceback is all there, on the same line.
    assert "Traceback (most recent call last):\\n" in line
    assert "RuntimeError: failed on line one\\nand line two" in line


# ---- SQL parameters and PostgreSQL details never reach the logs --------------------------


def _refuse_audit_rows(engine: Engine) -> None:
    """The store refuses audit rows (and only them: the replay claim before them still works),
    through the engine's own trigger machinery."""
    with engine.begin() as connection:
        if is_sqlite(str(engine.url)):
            connection.exec_driver_sql(
                "CREATE TRIGGER audit.refuse_audit BEFORE INSERT ON audit_event "
                "BEGIN SELECT RAISE(ABORT, 'audit rows refused'); END"
            )
        else:
            connection.exec_driver_sql(
                "CREATE FUNCTION audit.refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'audit rows refused'; END $$"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit.audit_event "
                "FOR EACH ROW EXECUTE FUNCTION audit.refuse_audit()"
            )


def _accept_audit_rows(engine: Engine) -> None:
    with engine.begin() as connection:
        if is_sqlite(str(engine.url)):
            connection.exec_driver_sql("DROP TRIGGER audit.refuse_audit")
        else:
            connection.exec_driver_sql("DROP FUNCTION audit.refuse_audit() CASCADE")


def test_a_failed_audit_write_logs_its_traceback_without_the_query(settings, slack_standin, caplog):
    """The refusal's audit row cannot be written: the traceback is logged, and neither the
    query text nor any other SQL parameter is in it."""
    slack_standin.add_user("UNOTLISTED", email="someone@sales.example")
    settings = replace(settings, slack_signing_secret=SECRET, slack_api_url=slack_standin.api_url)
    engine = create_store_engine(settings.database_url)
    services = build_services(settings, engine=engine)
    app = SlackWsgiApp(create_app(settings, services=services), services)
    caplog.set_level(logging.INFO)
    _refuse_audit_rows(engine)
    try:
        body = slash_command_body("/license", "Zanzibar-renewal-query", user_id="UNOTLISTED")
        response = post_to_wsgi(app, body, SECRET)
    finally:
        _accept_audit_rows(engine)
        engine.dispose()
    assert response.status == 200
    failures = [r for r in caplog.records if r.getMessage().startswith("could not audit")]
    assert failures and failures[0].exc_info is not None
    for formatter in _formatters():
        line = formatter.format(failures[0])
        assert "INSERT INTO" in line  # the statement is there: the check below means something
        assert "Zanzibar" not in line and "UNOTLISTED'" not in line, line
        assert "SQL parameters hidden" in line


DUPLICATED_KEY = "jane renewal query"


def test_postgres_detail_lines_never_reach_the_logs(engine):
    if is_sqlite(engine):
        pytest.skip("DETAIL lines are PostgreSQL's")
    with engine.connect() as connection:
        connection.execute(text("CREATE TEMP TABLE keyed (k text PRIMARY KEY)"))
        insert = text("INSERT INTO keyed VALUES (:k)")
        connection.execute(insert, {"k": DUPLICATED_KEY})
        with pytest.raises(DBAPIError) as raised:
            connection.execute(insert, {"k": DUPLICATED_KEY})
    assert "DETAIL:" in str(raised.value)  # what PostgreSQL sends, quoting the key
    record = _record("import failed: %s", raised.value)
    record.exc_info = (raised.type, raised.value, raised.tb)
    for formatter in _formatters():
        line = formatter.format(record)
        assert "jane renewal" not in line and "DETAIL: [redacted]" in line, line
        if isinstance(formatter, JsonFormatter):
            json.loads(line)
