"""Benchmark 1 in short (20,000 licenses) proves the benchmark itself still runs.

No timing is asserted: CI machines are shared and noisy; the figures are only printed.
"""

from __future__ import annotations

import pytest

from benchmarks import bench_lookup

pytestmark = pytest.mark.slow


def test_short_benchmark_runs_and_prints_its_figures(capsys, tmp_path):
    bench_lookup.main(["--licenses", "20000", "--runs", "20", "--workdir", str(tmp_path)])
    printed = capsys.readouterr().out
    print(printed)
    for figure in ("import raw driver", "licenses, updates", "floor", "hostname", "recon name"):
        assert figure in printed
    assert "RATE LIMITED" not in printed
    assert "serving process peak RSS" in printed

    # `--lookups-only`: the lookups timed again on the store this run filled, no import.
    capsys.readouterr()  # what this test printed above
    bench_lookup.main(
        ["--licenses", "20000", "--runs", "5", "--workdir", str(tmp_path), "--lookups-only"]
    )
    again = capsys.readouterr().out
    assert "import" not in again
    for figure in ("floor", "exact name", "hostname", "recon name"):
        assert figure in again
    assert "RATE LIMITED" not in again
