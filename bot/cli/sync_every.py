"""`python -m bot sync --every 1h`: the rounds and the signals around bot/sync/schedule.py's loop.

A round is a one-off sync; whatever it meets (a failed kind, another sync holding the lease, a
store that does not answer) is its one log line, and the next round comes. SIGTERM or SIGINT
stops the loop with exit 0: during the wait at once; during a round by ending the round there
(an import under way rolls back, leaving its kind's last good data, and the lease is released
so the next sync need not wait for it to expire).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from bot.sync.schedule import describe_interval, run_every

if TYPE_CHECKING:
    from bot.sync.run import SyncRun

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class SyncStopped(BaseException):
    """Raised into a round by SIGTERM or SIGINT. A BaseException, as KeyboardInterrupt is, so
    no `except Exception` on the way swallows it."""


class StopSignals:
    """SIGTERM and SIGINT while it is entered: `wait` returns True once one came, and one that
    comes during `round()` raises SyncStopped there."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._in_round = False
        self.received: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        for number in STOP_SIGNALS:
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)

    def _handle(self, number: int, _frame: FrameType | None) -> None:
        self.received = signal.Signals(number).name
        self._stop.set()
        if self._in_round:
            self._in_round = False  # a second signal while the round unwinds changes nothing
            raise SyncStopped(self.received)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when a stop signal came (before or meanwhile)."""
        return self._stop.wait(max(seconds, 0.0))

    @contextmanager
    def round(self) -> Iterator[None]:
        self._in_round = True
        try:
            yield
        finally:
            self._in_round = False


def sync_every(
    interval: timedelta,
    sync_once: Callable[[], SyncRun],
    *,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Rounds of `sync_once` every `interval` until SIGTERM or SIGINT; 0 then."""
    with StopSignals() as signals:

        def run_round() -> str:
            if signals.stopping:
                raise SyncStopped(signals.received)
            with signals.round():
                try:
                    return round_summary(sync_once())
                except Exception as error:
                    return _failed_round(error)

        logger.info("sync every %s: the first round starts now", describe_interval(interval))
        try:
            rounds = run_every(interval, run_round, wait=signals.wait, clock=clock)
        except SyncStopped:
            logger.warning(
                "sync every %s: stopped by %s during a round; the kind under way keeps its "
                "last good data",
                describe_interval(interval),
                signals.received,
            )
            return 0
    logger.info(
        "sync every %s: stopped%s after %d rounds",
        describe_interval(interval),
        f" by {signals.received}" if signals.received else "",
        rounds,
    )
    return 0


def round_summary(run: SyncRun) -> str:
    """`3 kinds synced`, `1 synced, 1 failed (licenses)`, or why nothing was."""
    if not run.leased:
        return "another sync holds the sync lease: nothing synced this round"
    failed = [result.kind.value for result in run.results if not result.succeeded]
    synced = len(run.results) - len(failed)
    summary = f"{synced} {'kind' if synced == 1 else 'kinds'} synced"
    if failed:
        summary += f", {len(failed)} failed ({', '.join(failed)})"
    if run.stopped_before is not None:
        summary += f"; lost the sync lease to another sync before {run.stopped_before.value}"
    return summary


def _failed_round(error: Exception) -> str:
    """A round that could not run (the store did not answer, …): its summary, one line for
    what an operator can fix; a bug's traceback is logged too."""
    from bot.cli import operator_problem

    problem = operator_problem(error)
    if problem is None:
        logger.error("sync round failed unexpectedly", exc_info=error)
        return f"failed: {type(error).__name__} (the traceback is above)"
    return f"failed: {problem}"
