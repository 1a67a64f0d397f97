"""The PostgreSQL test server (TEST_POSTGRES_URL) and throwaway databases on it."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from bot.store.db import create_store_engine
from bot.store.schema import upgrade

ENGINES = ("sqlite", "postgresql")


def postgres_base_url() -> str | None:
    url = os.environ.get("TEST_POSTGRES_URL")
    if url:
        return url
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            "TEST_POSTGRES_URL is not set in CI: the PostgreSQL half of the suite must run "
            "(.ci/run starts a server with scripts/start-postgres.sh)"
        )
    return None


@contextmanager
def fresh_postgres_database(name: str, *, migrated: bool = True) -> Iterator[str | None]:
    """A new, migrated (or with `migrated=False`, empty) database on the test server (None: no
    server here), dropped afterwards.

    The process id in its name keeps concurrent runs on one server (xdist workers, two
    developers) from dropping each other's databases.
    """
    base = postgres_base_url()
    if base is None:
        yield None
        return
    url = make_url(base)
    database = f"{url.database}_{name}_{os.getpid()}"
    admin = create_store_engine(
        url.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    database_url = url.set(database=database).render_as_string(hide_password=False)
    if migrated:
        engine = create_store_engine(database_url)
        upgrade(engine)
        engine.dispose()
    try:
        yield database_url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def wait_until_blocked(engine: Engine, thread: threading.Thread, what: object = "") -> None:
    """Until `thread`'s transaction waits on a lock another holds: PostgreSQL shows the wait;
    SQLite's busy wait shows nothing, so the thread is given a second to reach its lock. Fails
    when the thread ends first (it did not wait), saying `what` it got."""
    if engine.dialect.name != "postgresql":
        thread.join(timeout=1)
        assert thread.is_alive(), f"the second did not wait for the first: {what}"
        return
    deadline = time.monotonic() + 30  # a loaded CI machine may take a while to start it
    with engine.connect() as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            )
            # pg_stat_activity is read once per transaction: end it, or every poll repeats
            # the first one's answer.
            watcher.rollback()
            if waiting:
                return
            assert thread.is_alive(), f"the second did not wait for the first: {what}"
            time.sleep(0.025)
    raise AssertionError("the second did not wait for the first")
