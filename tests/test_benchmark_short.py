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
