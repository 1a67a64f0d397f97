"""SQLite's WAL checkpoints on a thread of the serving process, not inside a request's commit.

Every signed request writes to the audit file (its replay claim and its audit row, one commit), so
its WAL passes SQLite's automatic checkpoint (1000 pages) every hundred-odd lookups. The commit
that passes it then runs the checkpoint itself: it syncs the WAL, copies the pages into the
file and syncs the file; and the next write, finding the WAL copied, starts it again from the
top and syncs its header. A lookup that met both took 8-15 ms more than its neighbours (over
HTTP at 200,000 licenses: a p50 of 3.5 ms, a p99 of 11-14 ms).

Here a thread of the serving process does that work every CHECKPOINT_EVERY_SECONDS instead: a
PASSIVE checkpoint of each file (it waits for no reader or writer, and no request waits for it),
then, when the WAL is all copied, the first write after it (setting the file's `user_version` to
what it is: one page, nothing read changes), so the WAL starts again from the top and its
header's sync is paid here. A WAL holding only that one page is left as it is: an idle store is
not written to. The serving engine's connections keep an automatic checkpoint, but
at BACKSTOP_AUTOCHECKPOINT_PAGES, ten times SQLite's: a request checkpoints only if this thread
has fallen that far behind (it died, or a long reader kept the WAL from being copied).

Nothing is less durable for it: a commit is what it was (WAL, synchronous=NORMAL: it survives the
process, and the WAL is synced before any checkpoint copies it). Several gunicorn workers each
run a thread: SQLite lets one checkpoint run at a time and the others return at once (busy),
and the restarting write takes the WAL's write lock as any other write does, without waiting
for it (a request holding it goes first). PostgreSQL has no such files: nothing runs there.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass

from sqlalchemy import Engine

from bot.store.db import sqlite_audit_path

logger = logging.getLogger(__name__)

# Often: each checkpoint then syncs little, and the WAL stays short even at a worker that answers
# lookups back to back (there the copy and the restarting write rarely meet an idle WAL; once a
# second, the WAL grew to the backstop within seconds). A round with nothing to copy costs
# microseconds.
CHECKPOINT_EVERY_SECONDS = 0.05
# What the restarting write leaves in a new WAL: `user_version` lives in the file's first page.
OWN_RESTART_FRAMES = 1
# The serving engine's automatic checkpoint (SQLite's default is 1000 pages): only a backstop.
BACKSTOP_AUTOCHECKPOINT_PAGES = 10_000


@dataclass(frozen=True)
class Checkpoint:
    """One file's PASSIVE checkpoint: the WAL's frames, how many are copied into the file, and
    whether the WAL was started again from the top after it (by this thread's write)."""

    path: str
    busy: bool
    wal_frames: int
    copied_frames: int
    restarted: bool


class WalCheckpointer:
    """Checkpoints a SQLite store's two files (the main one and its audit file) every
    `every_seconds` on a daemon thread, on connections of its own (the engine's pool and its
    event listeners never see them)."""

    def __init__(self, database: str, *, every_seconds: float = CHECKPOINT_EVERY_SECONDS) -> None:
        self._paths = (database, sqlite_audit_path(database))
        self._every = every_seconds
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._connections: dict[str, sqlite3.Connection] = {}

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="sqlite-wal-checkpoints", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def checkpoint(self) -> list[Checkpoint]:
        """Checkpoint each file once, and start its WAL again if all of it was copied."""
        return [self._checkpoint(path) for path in self._paths]

    def _run(self) -> None:
        try:
            while not self._stopped.wait(self._every):
                try:
                    self.checkpoint()
                except sqlite3.Error as error:
                    # The backstop checkpoints meanwhile; the next round tries again.
                    logger.warning("WAL checkpoint failed: %s", type(error).__name__)
        finally:
            for connection in self._connections.values():
                connection.close()
            self._connections.clear()

    def _connection(self, path: str) -> sqlite3.Connection:
        connection = self._connections.get(path)
        if connection is None:
            # Autocommit (no implicit BEGIN); no busy wait: a lock held by a request means that
            # request goes first, and the next round comes in a second.
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA busy_timeout = 0")
            # As the store's own connections (bot/store/db.py): a commit in WAL mode needs no sync
            # of its own; the checkpoint syncs what it copies.
            connection.execute("PRAGMA synchronous = NORMAL")
            self._connections[path] = connection
        return connection

    def _checkpoint(self, path: str) -> Checkpoint:
        connection = self._connection(path)
        busy, frames, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        restarted = False
        # More than the one frame of its own restarting write: a WAL holding only that frame
        # has nothing of a request's, and restarting it again would write (and sync) the idle
        # store twenty times a second for ever.
        if not busy and frames > OWN_RESTART_FRAMES and copied == frames:
            restarted = _restart_wal(connection)
        return Checkpoint(path, bool(busy), frames, copied, restarted)


def _restart_wal(connection: sqlite3.Connection) -> bool:
    """Make the first write after a checkpoint that copied the whole WAL, so that SQLite starts
    the WAL again from the top (and syncs its new header) here, not in a request's commit. The
    write sets `user_version` (unused by this store) to its own value. False if a request held
    the write lock (it then restarts the WAL itself)."""
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return False
    try:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        connection.execute(f"PRAGMA user_version = {int(version)}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return True


def start_wal_checkpoints(engine: Engine) -> WalCheckpointer | None:
    """A running checkpointer for `engine`'s store if it is a SQLite file; None otherwise."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    checkpointer = WalCheckpointer(url.database)
    checkpointer.start()
    return checkpointer
