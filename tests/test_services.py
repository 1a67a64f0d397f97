"""The long-lived objects of a process (bot/services.py): a serving process's store checkpoints
its WAL on a thread of its own (bot/store/wal_checkpoints.py), any other process as SQLite does."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from bot.app import create_wsgi_app
from bot.config import Settings
from bot.services import Services, build_services
from bot.store.wal_checkpoints import BACKSTOP_AUTOCHECKPOINT_PAGES

SQLITE_DEFAULT_AUTOCHECKPOINT_PAGES = 1000


def autocheckpoint_pages(services: Services) -> int:
    with services.engine.connect() as connection:
        return int(connection.scalar(text("PRAGMA wal_autocheckpoint")))


def test_a_serving_process_checkpoints_off_the_request_path(tmp_path: Path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'store.sqlite3'}")
    services = build_services(settings, checkpoint_in_background=True)
    try:
        assert services.wal_checkpointer is not None and services.wal_checkpointer.running
        # A request's commit checkpoints only if the thread fell far behind.
        assert autocheckpoint_pages(services) == BACKSTOP_AUTOCHECKPOINT_PAGES
    finally:
        if services.wal_checkpointer is not None:
            services.wal_checkpointer.stop()
        services.engine.dispose()


def test_any_other_process_checkpoints_as_sqlite_does(tmp_path: Path):
    # The shell, Socket Mode's tests, the CLI: no thread, SQLite's own checkpoint.
    services = build_services(Settings(database_url=f"sqlite:///{tmp_path / 'store.sqlite3'}"))
    assert services.wal_checkpointer is None
    assert autocheckpoint_pages(services) == SQLITE_DEFAULT_AUTOCHECKPOINT_PAGES
    services.engine.dispose()


def test_the_http_app_is_a_serving_process(tmp_path: Path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'store.sqlite3'}",
        slack_bot_token="xoxb-services-test",
        slack_signing_secret="services-test-secret",
    )
    app = create_wsgi_app(settings)
    checkpointer = app._services.wal_checkpointer
    try:
        assert checkpointer is not None and checkpointer.running
    finally:
        if checkpointer is not None:
            checkpointer.stop()
        app._services.engine.dispose()
