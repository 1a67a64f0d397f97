"""The sync benchmark in short (1,000 licenses) proves the benchmark itself still runs: every
source kind synced, each beside the plain import of the same rows.

No timing is asserted: CI machines are shared and noisy; the figures are only printed.
"""

from __future__ import annotations

import pytest

from benchmarks import bench_sync
from tests.helpers.postgres import postgres_base_url

pytestmark = pytest.mark.slow


def test_short_sync_benchmark_syncs_every_source_kind_beside_its_plain_import(capsys, tmp_path):
    server = postgres_base_url()
    rows = bench_sync.run(tmp_path, 1000, "sqlite", server)
    bench_sync.print_table(rows)
    printed = capsys.readouterr().out
    print(printed)
    by_label = {row.label: row for row in rows}
    expected = [
        "licenses: sync, file source",
        "licenses: sync, HTTP URL",
        "licenses: sync, HTTP URL, gzip",
        "licenses, CustomersDot's table: sync, SQLite source",
        "subscriptions: sync, Zuora Data Query",
    ]
    if server:
        expected.append("licenses, CustomersDot's table: sync, PostgreSQL source")
    for label in expected:
        row = by_label[label]
        assert row.baseline is not None, label
        # Every row of the file, as its plain import loaded them.
        assert row.measured.rows == row.baseline.rows > 0, label
    assert by_label["licenses: plain import of the file"].measured.rows == 1000
    # The second sync of an unchanged URL is a 304: nothing imported.
    assert by_label["licenses: sync again, HTTP URL (304)"].measured.rows == 0
    assert "(304), nothing imported" in printed
