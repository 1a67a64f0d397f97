"""`python -m bot sync --every 1h`: the sync in a loop, for a Procfile `clock:` process or a
long-lived container.

Each round starts a whole interval after the previous one started (the round's own duration
is not added, so the rounds do not drift); a round that outlasts the interval skips the slots
it ran over rather than starting the next at once. The clock and the wait are passed in: the
command line's wait ends early when SIGTERM or SIGINT asks it to stop, and tests pass their
own and never wait.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from datetime import timedelta

logger = logging.getLogger(__name__)

# More often than this is not a schedule but a busy loop against the sources.
MIN_INTERVAL = timedelta(minutes=1)
# Less often than this is a job for the platform's scheduler (README: Fresh data without a
# person); the data would be stale long before (STALE_AFTER_HOURS).
MAX_INTERVAL = timedelta(days=7)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_INTERVAL = re.compile(r"^(?P<number>\d+(?:\.\d+)?|\.\d+)(?P<unit>[smhd])$")

# Runs one round; returns its one-line summary (it handles its own failures).
Round = Callable[[], str]
# Waits up to `seconds`; True when asked to stop meanwhile.
Wait = Callable[[float], bool]
Clock = Callable[[], float]


def parse_interval(text: str) -> timedelta:
    """`90s`, `30m`, `1h`, `1.5h`, `1d` as a timedelta; ValueError (in words an operator can
    act on) for anything else, and for less than MIN_INTERVAL or more than MAX_INTERVAL."""
    match = _INTERVAL.match(text.strip().lower())
    if match is None:
        raise ValueError(
            f"--every takes a number and a unit, s, m, h or d (90s, 30m, 1h, 1.5h), not {text!r}"
        )
    seconds = float(match["number"]) * _UNITS[match["unit"]]
    if not math.isfinite(seconds) or not (
        MIN_INTERVAL.total_seconds() <= seconds <= MAX_INTERVAL.total_seconds()
    ):
        raise ValueError(
            f"--every {text.strip()}: give at least {describe_interval(MIN_INTERVAL)} and at most "
            f"{describe_interval(MAX_INTERVAL)}"
        )
    return timedelta(seconds=seconds)


def describe_interval(interval: timedelta) -> str:
    """`1h`, `1h30m`, `90s` → `1m30s`: how the log says an interval."""
    total = round(interval.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def run_every(interval: timedelta, run_round: Round, *, wait: Wait, clock: Clock) -> int:
    """Rounds until `wait` says stop; the number of rounds run. One log line per round."""
    period = interval.total_seconds()
    rounds = 0
    while True:
        started = clock()
        summary = run_round()
        rounds += 1
        finished = clock()
        # The next slot on the grid the first round started; slots a long round ran over are
        # skipped, not caught up.
        next_start = started + period
        skipped = 0
        while next_start <= finished:
            next_start += period
            skipped += 1
        remaining = next_start - finished
        logger.info(
            "sync round %d: %s; next round in %s%s",
            rounds,
            summary,
            describe_interval(timedelta(seconds=remaining)),
            f" (this one outlasted the interval: {skipped} skipped)" if skipped else "",
        )
        if wait(remaining):
            return rounds
