"""Turns at the audit file (bot/store/write_turns.py): writers wait in the kernel, in line, not in
SQLite's busy handler; a process's turn excludes another's, forked or not; a stuck turn is
given up after the busy timeout; PostgreSQL has none."""

from __future__ import annotations

import multiprocessing
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot import ids
from bot.answers.audited import Requester
from bot.answers.lookups import LookupService
from bot.config import Settings
from bot.links import Links
from bot.store import write_turns
from bot.store.db import create_store_engine
from bot.store.write_turns import TURN_SUFFIX, WriteTurn, write_turn
from tests.helpers.e2e_dataset import load_dataset

ALICE = Requester("UALICE", "T1", channel_id="C1")


def _held_elsewhere(path: str) -> WriteTurn:
    """The same file's turn as another process has it: its own descriptor, its own thread lock."""
    return WriteTurn(path)


def test_another_processes_turn_is_waited_for(tmp_path: Path) -> None:
    path = str(tmp_path / "x.audit.sqlite3.turn")
    mine, theirs = WriteTurn(path), _held_elsewhere(path)
    entered = threading.Event()

    def take_mine() -> None:
        with mine.held():
            entered.set()

    with theirs.held():
        waiter = threading.Thread(target=take_mine)
        waiter.start()
        assert not entered.wait(0.3)
    assert entered.wait(5)
    waiter.join()


def _hold_in_child(turn: WriteTurn, spans: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    with turn.held():
        entered = time.monotonic()
        time.sleep(0.3)
        spans.put((entered, time.monotonic()))


def test_forked_workers_each_open_their_own_descriptor(tmp_path: Path) -> None:
    """gunicorn forks its workers from one process: a descriptor opened before the fork would be
    one open file in all of them, whose flock each would hold at once."""
    turn = WriteTurn(str(tmp_path / "x.audit.sqlite3.turn"))
    with turn.held():  # opened here, before the fork
        pass
    context = multiprocessing.get_context("fork")
    spans = context.Queue()
    workers = [context.Process(target=_hold_in_child, args=(turn, spans)) for _ in range(2)]
    for worker in workers:
        worker.start()
    (_, first_out), (second_in, _) = sorted(spans.get(timeout=10) for _ in workers)
    for worker in workers:
        worker.join(10)
        assert worker.exitcode == 0
    assert second_in >= first_out, "both workers held the turn at once"


def test_a_stuck_turn_is_given_up_after_the_busy_timeout(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(write_turns, "SQLITE_BUSY_TIMEOUT_MS", 200)
    turn = WriteTurn(str(tmp_path / "x.audit.sqlite3.turn"))
    done = threading.Event()

    def take() -> None:
        with turn.held():
            done.set()

    with turn.held():
        started = time.monotonic()
        waiter = threading.Thread(target=take)
        waiter.start()
        assert done.wait(5)
        assert 0.15 < time.monotonic() - started < 3
    waiter.join()


def test_a_turn_file_that_cannot_be_made_does_not_stop_the_write(tmp_path, caplog) -> None:
    """A store in a directory the process may not write to (or a file gone): the write goes on
    without the processes' turn, and the operator is told once."""
    turn = WriteTurn(str(tmp_path / "missing-directory" / "x.audit.sqlite3.turn"))
    with caplog.at_level("WARNING", logger="bot.store.write_turns"):
        for _ in range(2):
            with turn.held():
                pass
    [warning] = [record.getMessage() for record in caplog.records]
    assert "turn file" in warning and "missing-directory" not in warning


def test_one_turn_per_audit_file_in_a_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    first, second = create_store_engine(url), create_store_engine(url)
    try:
        assert write_turn(first) is write_turn(second)
        assert write_turn(first).lock_path == str(tmp_path / "store.audit.sqlite3") + TURN_SUFFIX
    finally:
        first.dispose()
        second.dispose()
    memory = create_store_engine("sqlite://")
    try:
        assert write_turn(memory).lock_path is None
    finally:
        memory.dispose()


def test_postgresql_has_no_turn_file(postgres_url) -> None:
    if postgres_url is None:
        pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL (scripts/start-postgres.sh)")
    engine = create_store_engine(postgres_url)
    try:
        assert write_turn(engine).lock_path is None
    finally:
        engine.dispose()


def test_a_lookup_writes_its_audit_row_in_turn(
    session_factory: sessionmaker[Session], engine, tmp_path: Path
) -> None:
    """While another process has the turn, a lookup waits for it (not SQLite's busy handler),
    then answers and is audited."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the turn is at a SQLite store's audit file")
    load_dataset(session_factory, tmp_path, datetime.now(UTC).date())
    lookups = LookupService(session_factory, Links.from_settings(Settings()), rate_limit_per_hour=5)
    answers: list[str] = []

    def look_up() -> None:
        answers.append(lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE).outcome)

    elsewhere = _held_elsewhere(write_turn(engine).lock_path or "")
    with elsewhere.held():
        asking = threading.Thread(target=look_up)
        asking.start()
        asking.join(0.5)
        assert asking.is_alive() and not answers
    asking.join(10)
    assert answers == ["ok"]
