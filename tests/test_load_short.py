"""The load script's short form: a few seconds of concurrent commands and shares under gunicorn."""

from __future__ import annotations

import pytest

from benchmarks.load import run_load

pytestmark = pytest.mark.slow


def test_a_short_load_has_no_server_errors_and_no_lost_or_duplicated_posts(tmp_path):
    report = run_load(seconds=4, concurrency=8)
    assert report.requests > 0 and report.shares_sent > 0, report.lines()
    assert report.server_errors == 0, report.lines()
    assert report.lost_posts == 0 and report.duplicated_posts == 0, report.lines()
    assert report.ok, report.lines()
