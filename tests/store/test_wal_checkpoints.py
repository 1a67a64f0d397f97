"""SQLite's WAL checkpoints off the request path (bot/store/wal_checkpoints.py): a serving
engine's commits leave the WAL to the checkpoint thread, which copies it and starts it again."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import Engine, text

from bot.store.db import create_store_engine, sqlite_audit_path
from bot.store.wal_checkpoints import (
    BACKSTOP_AUTOCHECKPOINT_PAGES,
    WalCheckpointer,
    start_wal_checkpoints,
)

# Separate commits, as requests make them: two pages each at least (the row, its key's index),
# so well past SQLite's automatic checkpoint at 1000 pages.
COMMITS = 700


def write_claims(engine: Engine, commits: int = COMMITS, start: int = 0) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS audit.claim (key TEXT PRIMARY KEY)"))
    for number in range(start, start + commits):
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO audit.claim VALUES (:key)"), {"key": f"sig:{number:060d}"}
            )


def serving_store(tmp_path: Path) -> tuple[str, Engine]:
    """A SQLite store's path and an engine on it as a serving process opens it (the backstop)."""
    database = str(tmp_path / "store.sqlite3")
    engine = create_store_engine(
        f"sqlite:///{database}", wal_autocheckpoint_pages=BACKSTOP_AUTOCHECKPOINT_PAGES
    )
    return database, engine


def wal_frames(path: str) -> int:
    """The frames in `path`'s WAL while the engine holds it open (the last connection to close
    checkpoints it and removes it). A PASSIVE checkpoint reports them and copies what it may."""
    with sqlite3.connect(path) as connection:
        _busy, frames, _copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(frames)


def test_a_serving_engines_commits_do_not_checkpoint(tmp_path: Path):
    database, serving = serving_store(tmp_path)
    write_claims(serving)
    # Every frame still there: no commit copied the WAL and started it again.
    assert wal_frames(sqlite_audit_path(database)) >= 2 * COMMITS
    serving.dispose()


def test_any_other_engines_commits_checkpoint_as_sqlite_does(tmp_path: Path):
    # Imports, the CLI, the tests: SQLite's own checkpoint at 1000 pages, no thread to do it.
    database = str(tmp_path / "store.sqlite3")
    engine = create_store_engine(f"sqlite:///{database}")
    write_claims(engine)
    assert wal_frames(sqlite_audit_path(database)) < 1000
    engine.dispose()


def test_the_checkpointer_copies_each_wal_and_starts_it_again(tmp_path: Path):
    database, serving = serving_store(tmp_path)
    write_claims(serving)
    checkpointer = WalCheckpointer(database)
    main, audit = checkpointer.checkpoint()
    checkpointer.stop()
    assert (main.path, audit.path) == (database, sqlite_audit_path(database))
    assert not audit.busy and audit.wal_frames >= 2 * COMMITS
    assert audit.copied_frames == audit.wal_frames and audit.restarted
    # Its own write began the WAL anew, so a request's next write finds it begun (its header
    # written and synced) and appends: no request pays for the restart.
    assert wal_frames(sqlite_audit_path(database)) == 1
    write_claims(serving, commits=1, start=COMMITS)
    assert wal_frames(sqlite_audit_path(database)) <= 4
    with serving.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM audit.claim")) == COMMITS + 1
        assert connection.scalar(text("PRAGMA audit.user_version")) == 0
    serving.dispose()


def test_an_idle_store_is_not_written_to_round_after_round(tmp_path: Path):
    # Its own restarting write is the WAL's one frame: with no request writing, the next rounds
    # copy nothing and write nothing (they once restarted it every 50 ms, for ever).
    database, serving = serving_store(tmp_path)
    write_claims(serving, commits=10)
    checkpointer = WalCheckpointer(database)
    _main, audit = checkpointer.checkpoint()
    assert audit.restarted
    rounds = [checkpointer.checkpoint() for _ in range(5)]
    assert not any(each.restarted for checkpoints in rounds for each in checkpoints)
    assert wal_frames(sqlite_audit_path(database)) == 1
    # A request's write is again the thread's to copy and restart.
    write_claims(serving, commits=1, start=10)
    _main, audit = checkpointer.checkpoint()
    checkpointer.stop()
    assert audit.restarted
    serving.dispose()


def test_the_checkpointer_leaves_the_wal_to_a_request_holding_the_write_lock(tmp_path: Path):
    database, serving = serving_store(tmp_path)
    write_claims(serving, commits=10)
    checkpointer = WalCheckpointer(database)
    with serving.connect() as request:
        request.connection.driver_connection.execute("BEGIN IMMEDIATE")
        _main, audit = checkpointer.checkpoint()
        request.connection.driver_connection.execute("ROLLBACK")
    checkpointer.stop()
    # Copied all the same (a checkpoint waits for no writer), not begun anew: it did not wait.
    assert audit.copied_frames == audit.wal_frames > 0 and not audit.restarted
    serving.dispose()


def test_the_thread_checkpoints_while_requests_write(tmp_path: Path):
    database, serving = serving_store(tmp_path)
    checkpointer = WalCheckpointer(database, every_seconds=0.01)
    checkpointer.start()
    assert checkpointer.running
    try:
        write_claims(serving, commits=5)
        deadline = time.monotonic() + 30
        while wal_frames(sqlite_audit_path(database)) > 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert wal_frames(sqlite_audit_path(database)) <= 1
    finally:
        checkpointer.stop()
    assert not checkpointer.running
    serving.dispose()


def test_only_a_sqlite_file_gets_a_checkpointer(tmp_path: Path):
    file_engine = create_store_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    checkpointer = start_wal_checkpoints(file_engine)
    assert checkpointer is not None and checkpointer.running
    checkpointer.stop()
    assert start_wal_checkpoints(create_store_engine("sqlite://")) is None
    assert (
        start_wal_checkpoints(create_store_engine("postgresql+psycopg://u@127.0.0.1:1/x")) is None
    )
    file_engine.dispose()
