"""Turns at a SQLite store's audit file, taken in the kernel rather than in SQLite's busy handler.

Every lookup writes to the audit file (its replay claim and audit row, one short transaction),
so every request thread of every worker wants its one write lock. SQLite has no queue for it: a
writer that finds it taken sleeps in the busy handler, 1, 2, 5, 10, 15, 20, 25 ms... between
tries, however soon the lock is free. Under load that made the p99 of a lookup 130-140 ms (the
sum of the first nine sleeps is 128 ms) and left the cores idle while requests slept.

A `WriteTurn` puts the writers in line before they ask SQLite: the threads of a process on a
lock, one thread of each process at a time on an exclusive `flock` of a file beside the audit
file (`x.audit.sqlite3.turn`). The kernel wakes the next waiter the moment the holder lets go,
so the write lock is free when it asks. The turn is an optimisation, not what keeps the writes
correct: SQLite's own lock still does that, and a writer that does not take the turn (an
import, `audit purge`, a claim made outside a lookup) only meets the busy handler as before.
A thread that waits longer than the busy timeout for its process's turn goes on without it.
PostgreSQL and in-memory stores have no such file: their turn is held at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.store.db import SQLITE_BUSY_TIMEOUT_MS, is_sqlite, sqlite_audit_path

logger = logging.getLogger(__name__)

TURN_SUFFIX = ".turn"


class WriteTurn:
    def __init__(self, lock_path: str | None) -> None:
        self.lock_path = lock_path
        self._thread_lock = threading.Lock()
        self._file: int | None = None
        self._file_pid: int | None = None
        self._warned = False

    @contextmanager
    def held(self) -> Iterator[None]:
        """This thread's turn at the audit file, for the duration of the block."""
        if self.lock_path is None:
            yield
            return
        if not self._thread_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            yield  # the process's turn is stuck: SQLite's busy handler decides, as before
            return
        try:
            descriptor = self._locked_descriptor()
            try:
                yield
            finally:
                if descriptor is not None:
                    with contextlib.suppress(OSError):
                        fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def _locked_descriptor(self) -> int | None:
        """The turn file's descriptor, its flock taken; None when the file cannot be had (a
        directory this process may not write to): the threads still take turns, the processes
        meet SQLite's busy handler as before, and the lookup goes on."""
        try:
            descriptor = self._descriptor()
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        except OSError as error:
            if not self._warned:
                self._warned = True
                logger.warning(
                    "audit write turns across processes off: the turn file: %s",
                    error.strerror or type(error).__name__,
                )
            return None
        return descriptor

    def _descriptor(self) -> int:
        # Opened in the process that uses it: a descriptor inherited across a fork shares its
        # flock with the parent's, so the two would not wait for each other.
        if self._file is None or self._file_pid != os.getpid():
            assert self.lock_path is not None
            self._file = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._file_pid = os.getpid()
        return self._file


_turns: dict[str, WriteTurn] = {}
_turns_lock = threading.Lock()


def write_turn_of(session_factory: sessionmaker[Session]) -> WriteTurn:
    """The turn of the store `session_factory` is bound to (none when it is bound to none)."""
    bind = session_factory.kw.get("bind")
    return write_turn(bind) if isinstance(bind, Engine) else WriteTurn(None)


def write_turn(engine: Engine) -> WriteTurn:
    """The turn at `engine`'s audit file: one per file in a process, whichever engine asks."""
    if not is_sqlite(engine):
        return WriteTurn(None)
    audit_path = sqlite_audit_path(engine.url.database)
    if audit_path == ":memory:":
        return WriteTurn(None)
    with _turns_lock:
        turn = _turns.get(audit_path)
        if turn is None:
            turn = _turns[audit_path] = WriteTurn(audit_path + TURN_SUFFIX)
        return turn
