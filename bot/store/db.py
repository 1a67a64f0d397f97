"""Engine and session factory. Nothing here runs at import time."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from bot.store.models import AUDIT_SCHEMA

# A lookup must answer inside Slack's 3 seconds; waiting longer for a lock helps nobody.
SQLITE_BUSY_TIMEOUT_MS = 2000
# Waiting this long for a free pooled connection means the store is stuck: answer instead.
POOL_TIMEOUT_SECONDS = 1.0


def is_sqlite(url_or_engine: str | Engine) -> bool:
    url = url_or_engine.url if isinstance(url_or_engine, Engine) else make_url(url_or_engine)
    return url.get_backend_name() == "sqlite"


def dialect_insert(session: Session | Connection, table: Any) -> postgresql.Insert | sqlite.Insert:
    """`insert(table)` in the dialect of the session's (or connection's) engine, for an upsert in
    one statement: `on_conflict_do_update` / `on_conflict_do_nothing` exist only on the
    dialects' own insert, and PostgreSQL and SQLite are the two stores."""
    dialect = session.dialect if isinstance(session, Connection) else session.get_bind().dialect
    if dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def sqlite_audit_path(database: str | None) -> str:
    """The attached audit file that sits beside a SQLite store (`x.sqlite3` -> `x.audit.sqlite3`)."""
    if not database or database == ":memory:":
        return ":memory:"
    path = Path(database)
    return str(path.with_name(f"{path.stem}.audit{path.suffix or '.sqlite3'}"))


def create_store_engine(
    database_url: str,
    *,
    statement_timeout_ms: int | None = None,
    connect_timeout_seconds: int | None = None,
    wal_autocheckpoint_pages: int | None = None,
    **kwargs: Any,
) -> Engine:
    """The store's engine. The serving path passes the timeouts (PostgreSQL only; SQLite has
    its busy timeout): every query then ends within `statement_timeout_ms`, a connection to a
    dead server fails within `connect_timeout_seconds`, and waiting for a pooled connection
    fails within POOL_TIMEOUT_SECONDS, so a lookup answers with the "unavailable" notice inside
    Slack's 3 seconds. Imports and migrations run without a statement timeout.

    `wal_autocheckpoint_pages` (SQLite files only): the WAL length at which a commit checkpoints
    (SQLite's default, 1000 pages, when None). The serving path raises it to a backstop and
    checkpoints on a thread of its own (bot/store/wal_checkpoints.py).

    SQL parameters are left out of error messages (`hide_parameters`): they carry query text
    and customer data, and a failed statement's message reaches the logs in its traceback."""
    kwargs.setdefault("hide_parameters", True)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _create_sqlite_engine(
            database_url, wal_autocheckpoint_pages=wal_autocheckpoint_pages, **kwargs
        )
    # A connection the server (or a proxy) dropped is replaced, not handed to a query.
    kwargs.setdefault("pool_pre_ping", True)
    if url.get_backend_name() == "postgresql":
        connect_args = dict(kwargs.pop("connect_args", {}))
        if statement_timeout_ms is not None:
            connect_args.setdefault("options", f"-c statement_timeout={int(statement_timeout_ms)}")
        if connect_timeout_seconds is not None:
            connect_args.setdefault("connect_timeout", int(connect_timeout_seconds))
            # Unacknowledged writes to a vanished server fail in this time, not the kernel's
            # ~15 minutes (libpq ignores it where TCP_USER_TIMEOUT does not exist).
            connect_args.setdefault("tcp_user_timeout", int(connect_timeout_seconds) * 1000)
            kwargs.setdefault("pool_timeout", POOL_TIMEOUT_SECONDS)
        kwargs["connect_args"] = connect_args
    return create_engine(database_url, **kwargs)


def _create_sqlite_engine(
    database_url: str, *, wal_autocheckpoint_pages: int | None = None, **kwargs: Any
) -> Engine:
    url = make_url(database_url)
    in_memory = not url.database or url.database == ":memory:"
    if in_memory:
        # One shared connection, or every pooled connection would see its own empty database.
        kwargs.setdefault("poolclass", StaticPool)
    kwargs.setdefault("connect_args", {"check_same_thread": False})
    engine = create_engine(database_url, **kwargs)
    audit_path = sqlite_audit_path(url.database)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Turn off pysqlite's own implicit BEGIN (SQLAlchemy's documented recipe): the
        # "begin" listener below makes SQLAlchemy's transactions the only ones.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("ATTACH DATABASE ? AS " + AUDIT_SCHEMA, (audit_path,))
        if not in_memory:
            # WAL: lookups keep reading while an import writes.
            for schema in ("main", AUDIT_SCHEMA):
                cursor.execute(f"PRAGMA {schema}.journal_mode = WAL")
                cursor.execute(f"PRAGMA {schema}.synchronous = NORMAL")
            if wal_autocheckpoint_pages is not None:
                # One setting for the connection, every attached file.
                cursor.execute(f"PRAGMA wal_autocheckpoint = {int(wal_autocheckpoint_pages)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # `sqlite_begin="IMMEDIATE"` (an execution option): the write lock at once, for a
        # transaction that reads before it writes and must not find its snapshot stale then.
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "")
        if mode:
            connection.exec_driver_sql(f"BEGIN {mode}")
            return
        # A deferred BEGIN takes no lock, so it neither waits nor meets a busy store: it goes to
        # the driver straight, without an execution context of its own (a sixth of a small
        # transaction's CPU: every request runs two). Its errors are SQLAlchemy's all the same.
        try:
            connection.connection.driver_connection.execute("BEGIN")
        except sqlite3.Error as error:
            raise DBAPIError.instance("BEGIN", None, error, sqlite3.Error) from error

    return engine


SQLITE_BEGIN_OPTION = "sqlite_begin"


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
