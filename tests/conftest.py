"""Shared fixtures. Store tests run on both engines: SQLite files and a real PostgreSQL server.

PostgreSQL comes from TEST_POSTGRES_URL (`eval "$(scripts/start-postgres.sh)"` sets it). Without
it the PostgreSQL half is skipped on a developer's machine, and fails in CI (CI=true), where a
silent skip would hide that half of the suite.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot.app import SlackWsgiApp, create_app
from bot.config import Settings
from bot.services import build_services
from bot.store.db import create_store_engine, make_session_factory, sqlite_audit_path
from bot.store.models import AUDIT_SCHEMA, Base
from bot.store.schema import upgrade
from tests.helpers import log_guard
from tests.helpers.e2e_dataset import load_dataset
from tests.helpers.http_bot import ACCESS_URL, ALLOWED, SECRET, Bot
from tests.helpers.postgres import ENGINES, fresh_postgres_database
from tests.helpers.slack_standin import SlackStandIn
from tests.helpers.sync_commands import command_logging_kept, quick_retries


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite store, copied for each test (cheaper than migrating every time)."""
    path = tmp_path_factory.mktemp("template") / "store.sqlite3"
    engine = create_store_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA main.wal_checkpoint(TRUNCATE)")
        connection.exec_driver_sql(f"PRAGMA {AUDIT_SCHEMA}.wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url(worker_id: str) -> Iterator[str | None]:
    """This test process's own migrated database, emptied before each test by `store_url`."""
    with fresh_postgres_database(worker_id) as url:
        yield url


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    # pytest-xdist provides this fixture too; this fallback serves plain `pytest`.
    workerinput = getattr(request.config, "workerinput", None)
    return workerinput["workerid"] if workerinput else "main"


# Written by the store's upkeep when `db upgrade` migrates the database (bot/store/upkeep.py):
# reference data, kept across tests as a copied SQLite template keeps it.
_KEPT_TABLES = ("store_meta", "public_email_domain")


def _truncate_postgres(engine: Engine) -> None:
    tables = [
        f"{t.schema}.{t.name}" if t.schema else t.name
        for t in Base.metadata.sorted_tables
        if t.name not in _KEPT_TABLES
    ]
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=ENGINES)
def store_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """An empty, migrated store: a fresh SQLite file, or the worker's PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "store.sqlite3"
        shutil.copy(sqlite_template, path)
        shutil.copy(sqlite_audit_path(str(sqlite_template)), sqlite_audit_path(str(path)))
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_url")
    if url is None:
        pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL (scripts/start-postgres.sh)")
    engine = create_store_engine(url)
    _truncate_postgres(engine)
    engine.dispose()
    yield url


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = create_store_engine(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture
def settings(store_url: str) -> Settings:
    """Settings for a test: the store under test, one allowed user, no real Slack."""
    return Settings(
        slack_bot_token="xoxb-test-token",
        slack_signing_secret="test-signing-secret",
        database_url=store_url,
        allowed_user_ids=frozenset({"UALLOWED"}),
        access_request_url="https://access.example.test/request",
    )


def with_settings(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)


@pytest.fixture
def slack_standin() -> Iterator[SlackStandIn]:
    """A running Slack stand-in (tests/helpers/slack_standin.py) for one test."""
    with SlackStandIn() as standin:
        yield standin


@pytest.fixture
def bot(settings: Settings, slack_standin: SlackStandIn, tmp_path: Path) -> Bot:
    """The WSGI app with the shared data set loaded and the stand-in wired, as
    tests/app/test_end_to_end.py drives it (modules that drive the app another way define a `bot`
    of their own)."""
    slack_standin.add_user(ALLOWED, email="ae@sales.example")
    slack_standin.add_user("UNOTLISTED", email="someone@sales.example")
    slack_standin.add_user("UGUEST", email="ae@sales.example", is_restricted=True)
    settings = replace(
        settings,
        slack_signing_secret=SECRET,
        slack_api_url=slack_standin.api_url,
        allowed_user_ids=frozenset({ALLOWED, "UGUEST"}),
        access_request_url=ACCESS_URL,
    )
    services = build_services(settings)
    load_dataset(services.session_factory, tmp_path, datetime.now(UTC).date())
    wsgi = SlackWsgiApp(create_app(settings, services=services), services)
    slack_standin.clear()
    return Bot(wsgi, slack_standin, settings)


@pytest.fixture(autouse=True)
def logs_never_carry_query_text_or_emails() -> Iterator[None]:
    """SECURITY.md: no log line at INFO or above carries what a user typed or a customer email.

    Every test is checked, whatever it exercises: each formatted line is scanned for the texts
    and emails the test fed the bot (tests/helpers/log_guard.py collects them). DEBUG lines are not
    written in production (LOG_LEVEL defaults to INFO) and are not checked.
    """
    log_guard.forget_all()
    lines = log_guard.FormattedLines()
    root = logging.getLogger()
    level = root.level
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)  # production's default level: INFO lines are written
    root.addHandler(lines)
    try:
        yield
    finally:
        root.removeHandler(lines)
        root.setLevel(level)
    leaks = log_guard.leaks(lines.lines)
    if leaks:
        shown = "\n".join(f"  {text!r} in: {line}" for text, line in leaks[:5])
        pytest.fail(f"a log line at INFO or above carries query text or an email:\n{shown}")


@pytest.fixture
def sync_command_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """For tests running `python -m bot sync` in-process: the suite's logging kept, and a
    failing source's retries quick (tests/helpers/sync_commands.py)."""
    quick_retries(monkeypatch)
    with command_logging_kept(monkeypatch):
        yield
