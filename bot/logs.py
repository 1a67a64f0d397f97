"""Logging: text or one JSON object per line (`LOG_FORMAT=json`), one line per HTTP request,
and redaction of secrets and emails from every line.

Redaction happens in the formatters, on the finished line, so nothing slips through a log
call's arguments, an exception's message or a traceback: Slack tokens (`xoxb-…`, `xoxp-…`,
`xapp-…`, …), the signing secret and other configured secrets, database passwords in URLs,
`response_url`s (`hooks.slack.com`, GovSlack's `hooks.slack-gov.com`: each lets its holder post
into a conversation), PostgreSQL's `DETAIL:` lines (they quote key and row values), and email
addresses, plain or URL-encoded (`%40`) (customer contacts must never reach logs; the audit
table has them). The redactor's work is linear in the line's length: every pattern starts at
a fixed string (`@`, `://`, a token prefix), so a long line of letters costs one pass.
The text format escapes newlines and other control characters: one record is one line, and a
crafted request cannot forge another.
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

from bot.config import SYNC_KINDS, Settings
from bot.outcomes import Outcome, outcome_of_status
from bot.request_body import buffered_body, parsed_body
from bot.request_outcome import REQUEST_OUTCOME
from bot.slack.actor import identify_actor

REQUEST_LOGGER = "bot.requests"
# Every pattern begins with a fixed string, which the regex engine finds with a fast scan;
# a pattern beginning with a class or an assertion is tried at every position of the line.
# Slack tokens: xoxb-, xoxp-, xoxa-, xoxr-, xoxe-, xoxe.xoxb-, xapp-, each at a word start.
TOKEN_PATTERNS = (
    re.compile(r"xox(?<=\bxox)(?:[abpre]|e\.xox[bp])-[A-Za-z0-9-]+"),
    re.compile(r"xapp(?<=\bxapp)-[A-Za-z0-9-]+"),
)
# Emails are found from their `@` (or `%40`, its URL encoding in a form body) outwards. A pattern
# that begins with the local part tries every letter of a long run as a start and rescans the
# rest of the run from each: quadratic (one unsigned 100 KB body held a worker for 31 s).
EMAIL_AT_SIGNS = ("@", "%40")
EMAIL_LOCAL_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+'-"
)
EMAIL_DOMAIN_PATTERN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# From the `://` (after a scheme's character; the scheme stays as it is), for the same reason:
# a pattern starting at the scheme rescans every run of letters.
URL_PASSWORD_PATTERN = re.compile(r"://(?<=[A-Za-z0-9+.-]://)(?P<host>[^:/@\s]+):[^@/\s]+@")
# A response_url (plain, JSON-escaped `\/` or URL-encoded `%2F`) up to its last path character.
RESPONSE_URL_PATTERN = re.compile(r"(?P<host>hooks\.slack(?:-gov)?\.com)[A-Za-z0-9/\\%._~+-]*")
# PostgreSQL's error detail, to the end of its line (a real newline, or `\n` inside JSON).
POSTGRES_DETAIL_PATTERN = re.compile(r"DETAIL:(?:(?!\\n)[^\n])*")
REDACTED = "[redacted]"
EMAIL_REDACTED = "[email]"
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_RECORD_FIELDS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)

# The current request's id, so every line logged while serving it can carry it.
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "customersdot_request_id", default=None
)


class Redactor:
    """Removes secrets and email addresses from text."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret containing another is removed whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for token_pattern in TOKEN_PATTERNS:
            text = token_pattern.sub(REDACTED, text)
        text = URL_PASSWORD_PATTERN.sub(r"://\g<host>:***@", text)
        text = RESPONSE_URL_PATTERN.sub(rf"\g<host>/{REDACTED}", text)
        text = POSTGRES_DETAIL_PATTERN.sub(f"DETAIL: {REDACTED}", text)
        return redact_emails(text)


def redact_emails(text: str) -> str:
    """`text` with every email address (`@` or `%40`) replaced by EMAIL_REDACTED.

    Linear in len(text): each `@` is found once; its local part is read back no further than
    the previous `@`/`%40` or redacted address, its domain forward to the first character a
    domain cannot hold (`@` and `%` are such characters, so no two scans overlap)."""
    pieces: list[str] = []
    done = 0  # text[:done] is in `pieces`
    floor = 0  # a local part starts at or after this
    for at, after in _at_signs(text):
        start = at
        while start > floor and text[start - 1] in EMAIL_LOCAL_CHARS:
            start -= 1
        floor = after
        domain = EMAIL_DOMAIN_PATTERN.match(text, after) if start < at else None
        if domain is None:
            continue
        pieces += (text[done:start], EMAIL_REDACTED)
        done = floor = domain.end()
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _at_signs(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each `@` and `%40` in `text`, in order (str.find: a fast scan)."""
    return heapq.merge(*(_occurrences(text, sign) for sign in EMAIL_AT_SIGNS))


def _occurrences(text: str, sign: str) -> Iterator[tuple[int, int]]:
    at = text.find(sign)
    while at >= 0:
        yield at, at + len(sign)
        at = text.find(sign, at + 1)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to records logged while a request is being served."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = _request_id.get()
        return True


# Bolt's logger for requests whose signature does not verify (slack_bolt.logger.get_bolt_logger).
BOLT_VERIFICATION_LOGGER = "slack_bolt.RequestVerification"
UNVERIFIED_REQUEST_LINE = "Invalid request signature detected"


class UnverifiedRequestFilter(logging.Filter):
    """Shortens Bolt's line for a request that fails signature verification to its first words.

    Bolt logs it at INFO with the signature, timestamp and the whole body: anyone can send such
    a request, so its body would put arbitrary text (query text, emails, `response_url`s, forged
    log lines) in the logs, and a large one would make the redactor work on it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(UNVERIFIED_REQUEST_LINE):
            record.msg, record.args = UNVERIFIED_REQUEST_LINE, ()
        return True


def quiet_bolt_logs() -> None:
    """Install UnverifiedRequestFilter on Bolt's verification logger, and
    DeliberateClientFilter on its App logger (once per process)."""
    logger = logging.getLogger(BOLT_VERIFICATION_LOGGER)
    if not any(isinstance(existing, UnverifiedRequestFilter) for existing in logger.filters):
        logger.addFilter(UnverifiedRequestFilter())
    app_logger = logging.getLogger(BOLT_APP_LOGGER)
    if not any(isinstance(existing, DeliberateClientFilter) for existing in app_logger.filters):
        app_logger.addFilter(DeliberateClientFilter())


BOLT_APP_LOGGER = "slack_bolt.App"


class DeliberateClientFilter(logging.Filter):
    """Drops Bolt's "As you gave `client` as well, `token` will be unused" warning.

    Every App here is given its client and no token; Bolt's App.__init__ reads SLACK_BOT_TOKEN
    from the environment all the same, and warns on every worker's boot that the token it read
    itself goes unused. A warning on every healthy boot teaches on-call to ignore warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

        return record.getMessage() != warning_client_prioritized_and_token_skipped()


# Characters that end a line or drive a terminal (C0 controls but tab, DEL, NEL, U+2028/9),
# written as Python escapes in the text format.
_LINE_BREAKING_ESCAPES = {
    code: ("\\n" if code == 10 else "\\r" if code == 13 else f"\\x{code:02x}")
    for code in [*range(0x20), 0x7F, 0x85]
    if code != 9
} | {0x2028: "\\u2028", 0x2029: "\\u2029"}


class TextFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self._redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = _extras(record)
        if extras:
            line += " " + " ".join(f"{key}={value}" for key, value in extras.items())
        # Escaped after redaction: one record is one line, tracebacks included, whatever a
        # message or an exception carries.
        return self._redact(line).translate(_LINE_BREAKING_ESCAPES)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the `extra=` fields, exception."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        # Redact the finished line: JSON escaping leaves tokens and emails intact as text.
        return self._redact(json.dumps(entry, default=str, ensure_ascii=False))


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD_RECORD_FIELDS and value is not None and not key.startswith("_")
    }


def build_formatter(settings: Settings) -> logging.Formatter:
    encryption_keys = (settings.slack_token_encryption_key or "").split(",")
    redactor = Redactor(
        [
            settings.slack_bot_token,
            settings.slack_signing_secret,
            settings.slack_app_token,
            settings.slack_client_secret,
            settings.slack_token_encryption_key,
            # `python -m bot sync`'s Authorization values.
            *(settings.sync_source(kind)[1] for kind in SYNC_KINDS),
            # The `zuora` source's OAuth client secret.
            settings.zuora_client_secret,
            # Each key of a rotation list alone too: a line may name just one of them.
            *(key.strip() for key in encryption_keys),
        ]
    )
    return JsonFormatter(redactor) if settings.log_format == "json" else TextFormatter(redactor)


# HTTP clients whose INFO lines name whole URLs.
QUIET_HTTP_LOGGERS = ("httpx", "httpcore")


def configure_logging(settings: Settings) -> None:
    """The root handler: stderr, `LOG_FORMAT`'s formatter, redaction, request ids."""
    handler = logging.StreamHandler()
    handler.setFormatter(build_formatter(settings))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # httpx logs every request's full URL at INFO, and a signed export URL's query string is a
    # credential (bot/sync/https_source.py): its warnings and errors still come through.
    for name in QUIET_HTTP_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # gunicorn's own handlers get the same format from its logger_class (bot.gunicorn_logging).


# ---- one line per request ---------------------------------------------------------------------

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
PROBE_PATHS = frozenset({"/healthz", "/readyz"})


def describe_slack_body(raw: bytes, content_type: str | None) -> dict[str, str]:
    """team, user, kind and surface (command, action id, callback id, event type) of a Slack
    request body. Never the command text, and never anything else a user typed."""
    try:
        body = _parse_slack_body(raw, content_type)
    except ValueError:
        return {}
    return describe_slack_payload(body)


def describe_slack_payload(body: Mapping[str, Any]) -> dict[str, str]:
    """`describe_slack_body` of a body already parsed."""
    actor = identify_actor(body)
    fields = {
        "kind": actor.kind,
        "surface": actor.surface,
        "team": actor.team_id,
        "user": actor.user_id,
        "event_id": body.get("event_id") if isinstance(body.get("event_id"), str) else None,
    }
    return {key: value for key, value in fields.items() if value}


def _parse_slack_body(raw: bytes, content_type: str | None) -> Mapping[str, Any]:
    text = raw.decode("utf-8")
    if content_type and content_type.startswith("application/json"):
        parsed = json.loads(text)
        return parsed if isinstance(parsed, dict) else {}
    form = {key: values[0] for key, values in parse_qs(text).items()}
    if "payload" in form:
        payload = json.loads(form["payload"])
        return payload if isinstance(payload, dict) else {}
    return form


_Tokens = tuple[contextvars.Token[str | None], contextvars.Token[dict[str, Outcome] | None]]


def _reset(tokens: _Tokens) -> None:
    request_id_token, outcome_token = tokens
    REQUEST_OUTCOME.reset(outcome_token)
    _request_id.reset(request_id_token)


# What a logged field may hold: a request's fields are the sender's to choose (an unsigned one
# too: the X-Request-Id header, the path), so none may carry spaces or `=` (forged key=value
# pairs in the text format), a newline, or more than a few dozen characters.
_FIELD_UNSAFE = re.compile(r"[^A-Za-z0-9._:/#+-]")
FIELD_MAX = 64
PATH_MAX = 100


def bounded_field(value: object, limit: int = FIELD_MAX) -> str:
    """A value as a request line may carry it: safe characters only (others become `?`), at
    most `limit` of them (cut with `…`)."""
    text = str(value)
    cut = len(text) > limit
    text = _FIELD_UNSAFE.sub("?", text[:limit])
    return text + "…" if cut else text


class RequestLogMiddleware:
    """WSGI wrapper: logs one line per request (request id, team, user, kind, surface, Slack
    retry number, HTTP status, outcome, body size, latency in ms). Probes are logged at DEBUG
    only.

    The outcome is what the app decided (bot.request_outcome.note_request_outcome, noted with
    every audit entry: "denied", "rate_limited", "not_found", …) when the status is 2xx, else
    the status's (bot.outcomes.outcome_of_status: one vocabulary). What
    the body says (team, user, surface, event id) is logged only for a request whose Slack
    signature verifies (`signing_secret`): anyone can send a body, so an unsigned one is logged
    from what the bot decided alone (path, status, size). Every field is bounded
    (`bounded_field`)."""

    def __init__(
        self,
        app: WsgiApp,
        *,
        signing_secret: str | None = None,
        clock: Callable[[], float] = time.perf_counter,
        logger: logging.Logger | None = None,
    ) -> None:
        self._app = app
        self._verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self._clock = clock
        self._logger = logger or logging.getLogger(REQUEST_LOGGER)

    def __getattr__(self, name: str) -> Any:
        # The wrapped app's attributes (tests reach `_services`) stay reachable.
        return getattr(self._app, name)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        started = self._clock()
        # Heroku's router sends X-Request-Id; elsewhere make one up.
        given = environ.get("HTTP_X_REQUEST_ID")
        # 16 hex digits of our own need no bounding (a UUID object cost more than the line).
        request_id = bounded_field(given) if given else os.urandom(8).hex()
        outcome_holder: dict[str, Outcome] = {}
        tokens = (_request_id.set(request_id), REQUEST_OUTCOME.set(outcome_holder))
        fields: dict[str, Any] = {
            "request_id": request_id,
            "method": bounded_field(environ.get("REQUEST_METHOD", "GET"), 10),
            "path": bounded_field(environ.get("PATH_INFO", ""), PATH_MAX),
        }
        status_holder: dict[str, int] = {}

        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            status_holder["status"] = int(status.split(" ", 1)[0])
            if exc_info is not None:
                return start_response(status, headers, exc_info)
            return start_response(status, headers)

        try:
            result = self._app(environ, recording_start_response)
        except Exception:
            self._log(self._with_request(fields, environ), 500, started, level=logging.ERROR)
            _reset(tokens)
            raise
        return self._finish(result, environ, fields, status_holder, outcome_holder, started, tokens)

    def _finish(
        self,
        result: Iterable[bytes],
        environ: dict[str, Any],
        fields: dict[str, Any],
        status_holder: dict[str, int],
        outcome_holder: dict[str, Outcome],
        started: float,
        tokens: _Tokens,
    ) -> Iterator[bytes]:
        try:
            yield from result
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            status = status_holder.get("status", 500)
            quiet = fields["path"] in PROBE_PATHS and status < 500
            level = logging.DEBUG if quiet else logging.INFO
            # A line the level filters out costs nothing: its body is neither verified again
            # nor parsed again.
            if self._logger.isEnabledFor(level):
                self._log(
                    self._with_request(fields, environ),
                    status,
                    started,
                    level=level,
                    decided=outcome_holder.get("outcome"),
                )
            # ValueError: the body was iterated in another context (a server thread switch).
            with contextlib.suppress(ValueError):
                _reset(tokens)

    def _with_request(self, fields: dict[str, Any], environ: dict[str, Any]) -> dict[str, Any]:
        """The line's fields and, for a POST, the body's size, and what a signed body says."""
        if fields["method"] != "POST":
            return fields
        fields = {**fields, **self._verified_body_fields(environ)}
        size = environ.get("CONTENT_LENGTH")
        if size and str(size).isdigit():
            fields["bytes"] = int(size)
        retry_num = environ.get("HTTP_X_SLACK_RETRY_NUM")
        if retry_num and "surface" in fields:  # Slack's own header, on a request Slack signed
            fields["retry_num"] = bounded_field(retry_num, 8)
            fields["retry_reason"] = bounded_field(
                environ.get("HTTP_X_SLACK_RETRY_REASON") or "", 32
            )
        return fields

    def _verified_body_fields(self, environ: dict[str, Any]) -> dict[str, str]:
        # The one bounded buffer the app read (bot.request_body); read only if it did (a
        # refused body, a 413, is never read here either).
        raw = buffered_body(environ)
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or ""
        if not raw or self._verifier is None:
            return {}
        # slack_sdk's verifier raises where it should say no: ValueError on a timestamp that is
        # not an integer, UnicodeDecodeError on a body that is not UTF-8.
        if not (timestamp.isascii() and timestamp.isdigit()):
            return {}
        try:
            verified = self._verifier.is_valid(
                body=raw, timestamp=timestamp, signature=environ.get("HTTP_X_SLACK_SIGNATURE") or ""
            )
        except ValueError:  # UnicodeDecodeError is one
            return {}
        if not verified:
            return {}
        try:
            # The app's own parse of this very body where it made one (a well-formed body),
            # rather than a second parse of it.
            parsed = parsed_body(environ, raw.decode("utf-8"))
            if parsed is not None:
                described = describe_slack_payload(parsed)
            else:
                described = describe_slack_body(raw, environ.get("CONTENT_TYPE"))
        except Exception:  # a malformed body is the app's to answer, not the logger's
            return {}
        return {key: bounded_field(value) for key, value in described.items()}

    def _log(
        self,
        fields: dict[str, Any],
        status: int,
        started: float,
        *,
        level: int,
        decided: Outcome | None = None,
    ) -> None:
        latency_ms = round((self._clock() - started) * 1000, 1)
        # A failed status says what happened; a 2xx says only that Slack got an answer.
        outcome = decided if decided is not None and status < 300 else outcome_of_status(status)
        line = {**fields, "status": status, "outcome": outcome, "latency_ms": latency_ms}
        # The fields are the line (as key=value in text, as keys in JSON): each said once.
        self._logger.log(level, "request", extra=line)
