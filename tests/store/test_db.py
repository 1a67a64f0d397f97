"""The SQLite engine's transactions (bot/store/db.py): SQLAlchemy's own, begun by the engine's
"begin" listener, a deferred BEGIN sent to the driver straight."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.store.db import SQLITE_BEGIN_OPTION, create_store_engine


def test_a_transaction_is_begun_and_committed(tmp_path: Path):
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        assert connection.connection.driver_connection.in_transaction
        connection.execute(text("INSERT INTO t VALUES (1)"))
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM t")) == 1
        connection.rollback()
    engine.dispose()


def test_a_deferred_begin_that_fails_is_sqlalchemys_error(tmp_path: Path):
    # Callers fail closed on SQLAlchemyError (the audit, the claims): a BEGIN sent to the driver
    # straight must raise one too, not the driver's own.
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    with engine.connect() as connection:
        connection.connection.driver_connection.execute("BEGIN")  # already in a transaction
        with pytest.raises(OperationalError):
            connection.begin()
    engine.dispose()


def test_an_immediate_begin_takes_the_write_lock(tmp_path: Path):
    path = tmp_path / "store.sqlite3"
    engine = create_store_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    immediate = engine.connect().execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
    with immediate, immediate.begin():
        other = engine.connect().execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        other.connection.driver_connection.execute("PRAGMA busy_timeout = 0")  # fail at once
        with other, pytest.raises(OperationalError, match="locked"):
            other.begin()
    engine.dispose()
