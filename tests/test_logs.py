"""Structured logs: JSON lines, one line per request, and redaction of secrets and emails."""

from __future__ import annotations

import io
import json
import logging
import re
from dataclasses import replace
from itertools import count
from typing import Any

import pytest

from bot import logs as logs_module
from bot.app import SlackWsgiApp, create_app
from bot.config import ConfigError, Settings
from bot.logs import (
    FIELD_MAX,
    REQUEST_LOGGER,
    JsonFormatter,
    Redactor,
    RequestLogMiddleware,
    build_formatter,
    configure_logging,
)
from bot.services import build_services
from tests.helpers.slack_requests import (
    event_body,
    post_to_wsgi,
    slash_command_body,
    with_fresh_trigger_id,
)
from tests.helpers.store_down import app_with_the_store_down

SECRET = "logs-signing-secret-1234"


def test_redaction_removes_tokens_secrets_emails_and_passwords():
    redact = Redactor([SECRET])
    line = (
        f"token xoxb-123-456-abcDEF user xoxp-9-9 app xapp-1-A0-77 refresh xoxe.xoxb-1-zz "
        f"secret {SECRET} contact jane.doe+x@initech.example "
        f"db postgresql+psycopg://app:s3cret@db.internal:5432/store"
    )
    shown = redact(line)
    for leaked in ("xoxb-123", "xoxp-9", "xapp-1", "xoxe.", SECRET, "jane.doe", "s3cret"):
        assert leaked not in shown, shown
    assert "postgresql+psycopg://app:***@db.internal:5432/store" in shown
    assert "[email]" in shown


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("bot.test", logging.WARNING, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_the_json_formatter_writes_one_object_per_line_with_extras():
    formatter = JsonFormatter(Redactor([SECRET]))
    line = formatter.format(
        _record("lookup by %s failed\nsecond line", "ae@sales.example", team="T1", latency_ms=12.5)
    )
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["logger"] == "bot.test"
    assert entry["message"] == "lookup by [email] failed\nsecond line"
    assert (entry["team"], entry["latency_ms"]) == ("T1", 12.5)


def test_exceptions_are_redacted_too():
    formatter = JsonFormatter(Redactor([SECRET]))
    try:
        raise RuntimeError(f"auth failed for xoxb-1-2-3 with {SECRET}")
    except RuntimeError:
        import sys

        record = _record("boom")
        record.exc_info = sys.exc_info()
    entry = json.loads(formatter.format(record))
    assert "RuntimeError" in entry["exception"]
    assert "xoxb-1" not in entry["exception"] and SECRET not in entry["exception"]


def test_log_format_is_validated():
    assert Settings.from_env({"LOG_FORMAT": "JSON"}, dotenv_path=None).log_format == "json"
    assert Settings.from_env({}, dotenv_path=None).log_format == "text"
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        Settings.from_env({"LOG_FORMAT": "xml"}, dotenv_path=None)


@pytest.fixture
def restore_root_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_configure_logging_json_redacts_every_line(restore_root_logging, capsys):
    settings = Settings(
        slack_bot_token="xoxb-live-token-value",
        slack_signing_secret=SECRET,
        log_format="json",
    )
    configure_logging(settings)
    logging.getLogger("bot.anything").warning(
        "token=%s secret=%s email=%s", "xoxb-live-token-value", SECRET, "c@initech.example"
    )
    lines = [line for line in capsys.readouterr().err.splitlines() if line]
    entry = json.loads(lines[-1])
    assert entry["message"] == "token=[redacted] secret=[redacted] email=[email]"


def test_a_signed_urls_query_never_reaches_the_log_through_httpx(restore_root_logging, capsys):
    configure_logging(Settings(log_level="INFO"))
    try:
        httpx_logger = logging.getLogger("httpx")
        # What httpx writes for each request it sends.
        httpx_logger.info(
            'HTTP Request: GET https://exports.example/l.csv?X-Amz-Signature=SIGNED "200"'
        )
        httpx_logger.warning("a warning of httpx's own")
        logging.getLogger("bot.anything").info("the app's own INFO line")
        err = capsys.readouterr().err
        assert "SIGNED" not in err
        assert "a warning of httpx's own" in err and "the app's own INFO line" in err
    finally:
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.fixture
def logged_app(settings, slack_standin):
    slack_standin.add_user("UALLOWED", email="ae@sales.example")
    settings = replace(settings, slack_signing_secret=SECRET, slack_api_url=slack_standin.api_url)
    services = build_services(settings)
    inner = SlackWsgiApp(create_app(settings, services=services), services)
    ticks = count(start=0.0, step=0.25)  # each look at the clock is 250 ms later
    return RequestLogMiddleware(inner, signing_secret=SECRET, clock=lambda: next(ticks))


def _request_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == REQUEST_LOGGER]


def test_one_line_per_request_with_who_what_and_how_long(logged_app, caplog):
    caplog.set_level(logging.DEBUG, logger=REQUEST_LOGGER)
    body = slash_command_body("/license", "jane@initech.example", user_id="UALLOWED")
    response = post_to_wsgi(logged_app, body, SECRET, headers={"X-Request-Id": "req-42"})
    assert response.status == 200
    [record] = _request_records(caplog)
    assert record.levelno == logging.INFO
    assert (record.request_id, record.team, record.user, record.kind, record.surface) == (
        "req-42",
        "T0TEAM",
        "UALLOWED",
        "command",
        "/license",
    )
    # The store is empty: the lookup's own outcome, not the HTTP status's "ok".
    assert (record.status, record.outcome, record.latency_ms) == (200, "not_found", 250.0)
    # The query a user typed (here an email) is the audit table's, never the log's.
    assert "initech" not in json.dumps(vars(record), default=str)


def test_a_request_line_the_level_filters_out_reads_nothing_of_the_body(
    logged_app, caplog, monkeypatch
):
    caplog.set_level(logging.WARNING, logger=REQUEST_LOGGER)
    read: list[object] = []
    monkeypatch.setattr(
        RequestLogMiddleware, "_verified_body_fields", lambda _self, environ: read.append(environ)
    )
    body = slash_command_body("/license", "initech", user_id="UALLOWED")
    assert post_to_wsgi(logged_app, body, SECRET).status == 200
    assert _request_records(caplog) == []
    assert read == []  # neither verified again nor parsed again for a line never written
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    monkeypatch.undo()
    assert post_to_wsgi(logged_app, with_fresh_trigger_id(body), SECRET).status == 200
    [record] = _request_records(caplog)
    assert (record.user, record.surface) == ("UALLOWED", "/license")


def test_the_request_line_reads_the_apps_parse_of_the_body_not_a_second_one(
    logged_app, caplog, monkeypatch
):
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    parsed_again: list[bytes] = []
    real_parse = logs_module._parse_slack_body

    def counted(raw: bytes, content_type: str | None):
        parsed_again.append(raw)
        return real_parse(raw, content_type)

    monkeypatch.setattr(logs_module, "_parse_slack_body", counted)
    body = slash_command_body("/license", "initech", user_id="UALLOWED")
    assert post_to_wsgi(logged_app, body, SECRET).status == 200
    # A body the app refused as malformed was never parsed by it: the line parses it itself.
    malformed = "payload=%7Bnot+json&user_id=UALLOWED"
    assert post_to_wsgi(logged_app, malformed, SECRET).status == 400
    well_formed, refused = _request_records(caplog)
    assert (well_formed.user, well_formed.surface) == ("UALLOWED", "/license")
    assert refused.status == 400
    assert parsed_again == [malformed.encode()]


def test_a_request_without_an_id_gets_one_of_its_own(logged_app, caplog):
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    body = slash_command_body("/license", "initech", user_id="UALLOWED")
    for sent in (body, with_fresh_trigger_id(body)):
        assert post_to_wsgi(logged_app, sent, SECRET).status == 200
    first, second = (record.request_id for record in _request_records(caplog))
    assert re.fullmatch("[0-9a-f]{16}", first) and re.fullmatch("[0-9a-f]{16}", second)
    assert first != second


def test_forged_requests_and_slack_retries_are_logged(logged_app, caplog):
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    post_to_wsgi(logged_app, slash_command_body("/license", "x"), "wrong-secret")
    event = event_body({"type": "app_home_opened", "user": "UALLOWED"}, event_id="EvLog")
    post_to_wsgi(logged_app, event, SECRET, headers={"X-Slack-Retry-Num": "2"})
    forged, retried = _request_records(caplog)
    assert (forged.status, forged.outcome) == (401, "unauthorized")
    assert (retried.event_id, retried.retry_num, retried.surface) == (
        "EvLog",
        "2",
        "app_home_opened",
    )


def test_probes_are_logged_at_debug_only(logged_app, caplog):
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/healthz"}
    body = b"".join(logged_app(environ, lambda *_args: None))
    assert json.loads(body) == {"status": "ok"}
    assert _request_records(caplog) == []


def test_a_refused_user_is_logged_as_denied_not_ok(logged_app, caplog):
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    body = slash_command_body("/license", "Initech", user_id="UNOTLISTED")
    response = post_to_wsgi(logged_app, body, SECRET)
    assert response.status == 200  # Slack shows the refusal: the HTTP answer is a success
    [record] = _request_records(caplog)
    assert (record.user, record.status, record.outcome) == ("UNOTLISTED", 200, "denied")


def test_a_rate_limited_lookup_is_logged_as_rate_limited(settings, slack_standin, caplog):
    slack_standin.add_user("UALLOWED", email="ae@sales.example")
    settings = replace(
        settings,
        slack_signing_secret=SECRET,
        slack_api_url=slack_standin.api_url,
        lookup_rate_limit_per_hour=1,
    )
    services = build_services(settings)
    app = RequestLogMiddleware(
        SlackWsgiApp(create_app(settings, services=services), services), signing_secret=SECRET
    )
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    for _ in range(2):
        body = slash_command_body("/license", "Initech", user_id="UALLOWED")
        assert post_to_wsgi(app, body, SECRET).status == 200
    first, second = _request_records(caplog)
    assert (first.outcome, second.outcome) == ("not_found", "rate_limited")


def test_the_text_request_line_says_each_field_once(logged_app, caplog, restore_root_logging):
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/nowhere", "HTTP_X_REQUEST_ID": "req-7"}
    b"".join(logged_app(environ, lambda *_args: None))
    [record] = _request_records(caplog)
    line = build_formatter(Settings(log_format="text")).format(record)
    for field in ("request_id=req-7", "method=GET", "path=/nowhere", "status=404", "latency_ms="):
        assert line.count(field) == 1, line
    assert "outcome=unknown_path" in line


def test_gunicorns_own_lines_use_the_log_format_and_are_redacted(
    monkeypatch, tmp_path, capsys, restore_root_logging
):
    from gunicorn.config import Config

    from bot.gunicorn_logging import GunicornLogger

    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    config = Config()
    config.set("accesslog", "-")
    logger = GunicornLogger(config)
    try:
        logger.error("worker failed with %s and xoxb-gunicorn-1-2 for ae@sales.example", SECRET)
        logger.access_log.info('127.0.0.1 "GET /healthz" 200')
    finally:
        for log in (logger.error_log, logger.access_log):  # gunicorn's loggers are global
            for handler in list(log.handlers):
                log.removeHandler(handler)
            log.propagate = True
    captured = capsys.readouterr()
    [error] = [json.loads(line) for line in captured.err.splitlines()]
    assert error["logger"] == "gunicorn.error"
    assert error["message"] == "worker failed with [redacted] and [redacted] for [email]"
    [access] = [json.loads(line) for line in captured.out.splitlines()]
    assert access["logger"] == "gunicorn.access"


def test_the_formatter_redacts_the_oauth_client_secret_and_token_encryption_keys():
    from cryptography.fernet import Fernet

    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    client_secret = "oauth-client-secret-0123456789"
    formatter = build_formatter(
        Settings(
            log_format="text",
            slack_client_secret=client_secret,
            slack_token_encryption_key=f"{first}, {second}",
        )
    )
    line = formatter.format(_record("secret %s keys %s then %s", client_secret, first, second))
    for leaked in (client_secret, first, second):
        assert leaked not in line, line


def test_the_formatter_redacts_the_sync_sources_secrets():
    authorization, zuora_secret = "Bearer sync-authorization-0123", "zuora-client-secret-4567"
    formatter = build_formatter(
        Settings(
            log_format="text",
            sync_hosts_authorization=authorization,
            zuora_client_secret=zuora_secret,
        )
    )
    line = formatter.format(_record("sent %s and %s", authorization, zuora_secret))
    assert authorization not in line and zuora_secret not in line, line


def test_an_unsigned_request_is_logged_from_what_the_bot_decided_never_its_fields(
    logged_app, caplog, restore_root_logging
):
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    forged = slash_command_body(
        "/license SECRETQUERY outcome=ok status=200 customer=Initech",
        "SECRETQUERY",
        user_id="UFORGED status=200",
        team_id="T" + "x" * 1_000_000,
    )
    response = post_to_wsgi(logged_app, forged, "not-the-signing-secret")
    assert response.status == 401
    [record] = _request_records(caplog)
    line = build_formatter(Settings(log_format="text")).format(record)
    assert "SECRETQUERY" not in line and "UFORGED" not in line and "xxxx" not in line
    assert (record.status, record.outcome) == (401, "unauthorized")
    assert line.count("outcome=") == line.count("status=") == 1
    assert "surface" not in vars(record) and "user" not in vars(record)
    assert record.bytes == len(forged.encode())
    assert len(line) < 400, line


def test_a_body_without_a_timestamp_is_logged_not_raised(logged_app, caplog, restore_root_logging):
    """A body that comes without Slack's timestamp header (a slow client's, a scanner's) is
    read and refused by the app; the request line must not hand slack_sdk's SignatureVerifier
    the missing timestamp, on which it raises ValueError (an exception out of the response's
    close, and no line)."""
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)

    def without_timestamp(environ: dict[str, Any], start_response: Any) -> Any:
        del environ["HTTP_X_SLACK_REQUEST_TIMESTAMP"]
        return logged_app(environ, start_response)

    response = post_to_wsgi(without_timestamp, slash_command_body("/license", "x"), SECRET)
    assert response.status == 401
    [record] = _request_records(caplog)
    assert (record.status, record.outcome) == (401, "unauthorized")
    assert "surface" not in vars(record)


def test_a_body_that_is_not_utf8_is_logged_not_raised(logged_app, caplog, restore_root_logging):
    """slack_sdk's verifier decodes the body as UTF-8 and raises on bytes that are not: the
    request line must say what the app answered all the same."""
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    junk = bytes(range(128, 256)) * 8

    def with_junk_body(environ: dict[str, Any], start_response: Any) -> Any:
        environ["wsgi.input"] = io.BytesIO(junk)
        environ["CONTENT_LENGTH"] = str(len(junk))
        return logged_app(environ, start_response)

    response = post_to_wsgi(with_junk_body, "x", SECRET)
    assert response.status == 400  # the app's shape check: not a form Slack sends
    [record] = _request_records(caplog)
    assert (record.status, record.outcome, record.bytes) == (400, "bad_request", len(junk))


def test_a_store_that_is_down_is_unavailable_in_the_request_line(
    settings, slack_standin, caplog, restore_root_logging
):
    """The command is answered 200 with the "unavailable" notice (the replay check could not
    be made); the line says `unavailable`, not `ok`."""
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    app = RequestLogMiddleware(
        app_with_the_store_down(settings, slack_standin, SECRET), signing_secret=SECRET
    )
    response = post_to_wsgi(app, slash_command_body("/license", "initech"), SECRET)
    assert response.status == 200 and "unavailable" in response.json()["text"]
    [record] = _request_records(caplog)
    assert (record.status, record.outcome) == (200, "unavailable")


def test_a_healthy_boot_logs_no_warning(settings, slack_standin, caplog, monkeypatch):
    """Bolt's App reads SLACK_BOT_TOKEN from the environment though it is given a client, and
    warned on every worker's boot that the token would be unused."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
    caplog.set_level(logging.INFO)
    configured = replace(settings, slack_signing_secret=SECRET, slack_api_url=slack_standin.api_url)
    create_app(configured, services=build_services(configured))
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_every_logged_field_is_bounded_and_forges_no_key(logged_app, caplog, restore_root_logging):
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    # Signed, so its fields are read; each is the sender's text all the same.
    body = slash_command_body("/license", "x", user_id="U" + "A" * 5_000 + " outcome=ok")
    headers = {"X-Request-Id": "req " * 3_000 + "status=200"}
    post_to_wsgi(logged_app, body, SECRET, headers=headers)
    [record] = _request_records(caplog)
    line = build_formatter(Settings(log_format="text")).format(record)
    assert line.count("outcome=") == line.count("status=") == 1
    for name in ("request_id", "user", "surface", "path", "team"):
        assert len(str(getattr(record, name))) <= FIELD_MAX + 1, name
    assert len(line) < 600, line
