"""Why the store failed, in a few words an operator can act on (never the URL or its password).

One home for the diagnosis: the CLI's one-line errors, gunicorn's boot check, the readiness
probe's log line and the lookups' log lines all name the cause with `store_failure_cause`.
"""

from __future__ import annotations

import re

from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from bot.command_line import cli_command


def upgrade_command() -> str:
    """`db upgrade` as the operator can type it here (bot.command_line.cli_command): `python -m
    bot` outside the virtualenv would name another Python, without the bot's dependencies."""
    return f"{cli_command()} db upgrade"


STORE_BUSY = "busy (locked by another writer)"


class StoreNotMigrated(RuntimeError):
    """The store's schema is not the latest: `db upgrade` (upgrade_command) brings it there."""

    def __init__(self, current: str | None, head: str | None) -> None:
        super().__init__(f"the store is not migrated (schema {current or 'empty'}, latest {head})")
        self.current = current
        self.head = head


# (cause, words in the driver's message that mean it), checked in order. psycopg's and
# sqlite3's messages; the message itself is never shown, as it may name the host and user.
_CAUSES: tuple[tuple[str, tuple[str | re.Pattern[str], ...]], ...] = (
    # SQLite's lock and corruption messages first: they begin "database ", as PostgreSQL's
    # missing-database message does.
    (STORE_BUSY, ("database is locked", "database table is locked")),
    ("the SQLite file is corrupt", ("database disk image is malformed", "file is not a database")),
    ("not migrated", ("undefinedtable", "does not exist\nline", "no such table")),
    ("connection refused", ("connection refused",)),
    (
        "connection lost",
        ("server closed the connection", "connection is lost", "consuming input failed"),
    ),
    ("timed out", ("timeout expired", "timed out", "timeout")),
    (
        "authentication failed",
        ("password authentication failed", "no password supplied", "role ", "authentication"),
    ),
    ("database does not exist", (re.compile(r'database "[^"\n]*" does not exist'),)),
    ("host not found", ("could not translate host name", "name or service not known")),
    ("cannot open the SQLite file", ("unable to open database file",)),
    ("statement timed out", ("canceling statement due to statement timeout",)),
)


def store_failure_cause(error: BaseException) -> str:
    """'connection refused', 'timed out', 'authentication failed', 'not migrated', …"""
    if isinstance(error, StoreNotMigrated):
        return "not migrated"
    if isinstance(error, NoSuchModuleError | ArgumentError):
        return "DATABASE_URL is not a database URL this bot can use"
    if isinstance(error, DBAPIError):
        original = error.orig
        name = type(original).__name__.lower()
        text = f"{name}\n{original}".lower()
        # Statement timeouts first: their message also says "timeout", but the server was up.
        if "querycanceled" in name or "statement timeout" in text:
            return "statement timed out"
        for cause, markers in _CAUSES:
            if any(_mentions(text, marker) for marker in markers):
                return cause
        return f"database error ({type(original).__name__})"
    return type(error).__name__


def _mentions(text: str, marker: str | re.Pattern[str]) -> bool:
    return marker in text if isinstance(marker, str) else marker.search(text) is not None


def store_failure_advice(error: BaseException) -> str:
    """One line: what is wrong with the store and what to do about it."""
    cause = store_failure_cause(error)
    if cause == "not migrated":
        return f"the store is not migrated: run {upgrade_command()}"
    if cause == STORE_BUSY:
        return f"the store is {cause}: an import may be running; try again when it finishes"
    if cause.startswith("DATABASE_URL"):
        return f"{cause} (e.g. postgresql://user:password@host/db or sqlite:///file.sqlite3)"
    return f"the store is unreachable ({cause}): check DATABASE_URL and that the database is up"
