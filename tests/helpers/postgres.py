"""The PostgreSQL test server (TEST_POSTGRES_URL) and throwaway databases on it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

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
