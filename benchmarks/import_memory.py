"""By hand, not in CI: the import's peak memory does not grow with the file's size.

    python -m benchmarks.import_memory --sizes-mb 50 400

Generates license CSVs of roughly each size, imports each into a fresh SQLite store in a child
process (`python -m bot import licenses`), and prints the child's peak RSS next to the size.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.datagen import write_licenses

ROOT = Path(__file__).resolve().parent.parent
# datagen writes about 218 bytes per license row.
BYTES_PER_ROW = 218


def peak_rss_mb_of_import(path: Path, workdir: Path) -> tuple[float, int]:
    """Run the import as a child; its peak RSS (ru_maxrss of waited-for children, in KiB on
    Linux) and the exit code. One child per call: RUSAGE_CHILDREN keeps the maximum so far."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / (path.stem + '.sqlite3')}",
        "PYTHONPATH": str(ROOT),
    }
    code = subprocess.call(
        [sys.executable, "-m", "bot", "import", "licenses", str(path)],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[50, 400])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        # Smallest first: RUSAGE_CHILDREN reports the max over all children so far, so a flat
        # curve shows as the same figure for every size.
        peaks: list[float] = []
        for size in sorted(args.sizes_mb):
            path = workdir / f"licenses-{size}mb.csv"
            rows = size * 1024 * 1024 // BYTES_PER_ROW
            write_licenses(path, rows, max(1, rows // 20), datetime.now(UTC).date())
            actual = path.stat().st_size / 1024 / 1024
            peak, code = peak_rss_mb_of_import(path, workdir)
            print(
                f"{actual:8.1f} MB file, {rows:,} rows: peak RSS so far {peak:.0f} MB (exit {code})"
            )
            path.unlink()
            peaks.append(peak)
    if len(peaks) > 1:
        print(f"peak RSS at the largest size / at the smallest: {peaks[-1] / peaks[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
