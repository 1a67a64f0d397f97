"""`sync --every`'s loop on a clock of the test's own: rounds a whole interval apart from start
to start, long rounds skip the slots they ran over, a stop ends it; and the interval's words."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bot.sync.schedule import describe_interval, parse_interval, run_every


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("1h", 3600), ("1.5h", 5400), (" 2H ", 7200), ("1d", 86400)],
)
def test_intervals_are_a_number_and_a_unit(text, seconds):
    assert parse_interval(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text",
    ["0", "0s", "0h", "-1h", "30s", "59s", "1", "1 h", "h", "1hour", "1h30m", "8d", "nan", ""],
)
def test_nothing_else_is_an_interval(text):
    with pytest.raises(ValueError, match="--every"):
        parse_interval(text)


def test_too_short_says_the_bounds():
    with pytest.raises(ValueError, match="at least 1m and at most 7d"):
        parse_interval("30s")


def test_intervals_are_said_as_they_are_written():
    assert describe_interval(timedelta(hours=1.5)) == "1h30m"
    assert describe_interval(timedelta(seconds=90)) == "1m30s"
    assert describe_interval(timedelta(0)) == "0s"


class FakeTime:
    """A monotonic clock that moves only when a round takes time or the loop waits."""

    def __init__(self, round_seconds: list[float], rounds_before_stop: int) -> None:
        self.now = 1000.0
        self.round_seconds = round_seconds
        self.rounds_before_stop = rounds_before_stop
        self.starts: list[float] = []
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def run_round(self) -> str:
        self.starts.append(self.now)
        self.now += self.round_seconds[len(self.starts) - 1]
        return f"round at {self.now}"

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        if len(self.waits) >= self.rounds_before_stop:
            return True
        self.now += seconds
        return False


def test_rounds_start_a_whole_interval_apart_however_long_each_takes(caplog):
    caplog.set_level(logging.INFO)
    time = FakeTime([5, 600, 0.5], rounds_before_stop=3)
    rounds = run_every(timedelta(hours=1), time.run_round, wait=time.wait, clock=time.clock)
    assert rounds == 3
    assert time.starts == [1000, 4600, 8200]  # no drift
    assert time.waits == [3595, 3000, 3599.5]
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.sync.schedule"]
    assert len(lines) == 3
    assert lines[0] == "sync round 1: round at 1005.0; next round in 59m55s"


def test_a_round_longer_than_the_interval_skips_the_slots_it_ran_over(caplog):
    caplog.set_level(logging.INFO)
    time = FakeTime([150, 10], rounds_before_stop=2)
    run_every(timedelta(minutes=1), time.run_round, wait=time.wait, clock=time.clock)
    # Started at 1000, ended at 1150: the slots at 1060 and 1120 are gone, the next is 1180.
    assert time.starts == [1000, 1180]
    assert time.waits[0] == 30
    assert "outlasted the interval: 2 skipped" in caplog.text


def test_a_stop_during_the_first_wait_ends_the_loop_after_one_round():
    time = FakeTime([1], rounds_before_stop=1)
    assert run_every(timedelta(minutes=5), time.run_round, wait=time.wait, clock=time.clock) == 1
    assert time.starts == [1000]
