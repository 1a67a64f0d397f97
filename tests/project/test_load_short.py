"""The load script's short form: a few seconds of concurrent commands and shares under gunicorn."""

from __future__ import annotations

import pytest

from benchmarks.load import HOSTILE_BODY_BYTES, HOSTILE_KINDS, SLACK_ACK_SECONDS, run_load

pytestmark = pytest.mark.slow


def test_a_short_load_has_no_server_errors_and_no_lost_or_duplicated_posts(tmp_path):
    report = run_load(seconds=4, concurrency=8)
    assert report.requests > 0 and report.shares_sent > 0, report.lines()
    assert report.server_errors == 0, report.lines()
    assert report.lost_posts == 0 and report.duplicated_posts == 0, report.lines()
    assert report.ok, report.lines()


def test_hostile_unsigned_bodies_do_not_delay_signed_lookups_or_swell_the_worker():
    """Issue 10: one worker, 200 MiB bodies (declared and chunked), 100 KB runs of letters and
    junk in flight, all unsigned: each is refused with a 4xx, every signed lookup is answered
    within Slack's 3 seconds, and the worker's peak RSS grows by far less than one body."""
    report = run_load(seconds=6, concurrency=4, hostile=True)
    assert report.requests > 0 and report.server_errors == 0, report.lines()
    assert set(report.hostile) == set(HOSTILE_KINDS), report.lines()
    assert report.hostile_ok, report.lines()
    assert report.hostile["oversized"]["413"] > 0, report.lines()
    assert report.slowest_ack_ms < SLACK_ACK_SECONDS * 1000, report.lines()
    assert report.worker_peak_rss_growth_mib is not None
    assert report.worker_peak_rss_growth_mib < HOSTILE_BODY_BYTES / 2**20 / 4, report.lines()
    assert report.ok, report.lines()
