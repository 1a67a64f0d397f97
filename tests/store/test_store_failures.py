"""store_failure_cause names each driver's failure for what it is (bot/store/failures.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from bot.store.failures import store_failure_advice, store_failure_cause


def _sqlite_error(message: str) -> DBAPIError:
    return OperationalError("INSERT ...", {}, sqlite3.OperationalError(message))


@pytest.mark.parametrize(
    ("message", "cause"),
    [
        ("database is locked", "busy (locked by another writer)"),
        ("database table is locked", "busy (locked by another writer)"),
        ("database disk image is malformed", "the SQLite file is corrupt"),
        ("file is not a database", "the SQLite file is corrupt"),
        ("unable to open database file", "cannot open the SQLite file"),
        ("no such table: customer", "not migrated"),
    ],
)
def test_sqlite_messages_are_named_for_what_they_are(message, cause):
    assert store_failure_cause(_sqlite_error(message)) == cause


def test_a_real_sqlite_write_lock_is_busy_not_a_missing_database(tmp_path: Path):
    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")  # the write lock, as an import holds it
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with pytest.raises(DBAPIError) as raised, engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
        assert store_failure_cause(raised.value) == "busy (locked by another writer)"
    finally:
        engine.dispose()
        holder.close()


def test_postgresql_names_a_missing_database_and_a_missing_role(postgres_url):
    if postgres_url is None:
        pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL")
    url = make_url(postgres_url)
    for missing, cause in (
        (url.set(database="no_such_database_here"), "database does not exist"),
        (url.set(username="no_such_role_here"), "authentication failed"),
    ):
        engine = create_engine(missing)
        try:
            with pytest.raises(DBAPIError) as raised, engine.connect():
                pass
            assert store_failure_cause(raised.value) == cause
        finally:
            engine.dispose()


def test_a_busy_store_is_not_advised_as_unreachable():
    advice = store_failure_advice(_sqlite_error("database is locked"))
    assert "busy" in advice and "unreachable" not in advice
