"""The log redactor's cost against a line's length: a 1 MB line against a 100 KB one.

    python -m benchmarks.bench_redactor [--small-kb 100] [--factor 10] [--runs 5]

Each kind of line is generated here (what an unsigned request body could carry: a run of
letters, runs broken by `@`, `%40` and `://`, a realistic log line repeated); the ratio of the
best time of the large line to the best time of the small one is printed per kind. A linear
redactor gives about the factor (10); the former start-anchored email pattern gave ~100
(quadratic: one 100 KB run of letters held a worker for 31 s).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from bot.logs import Redactor

LINES: dict[str, Callable[[int], str]] = {
    "letters": lambda size: "a" * size,
    "letters, @": lambda size: ("a" * 999 + "@") * (size // 1000),
    "letters, %40": lambda size: ("b" * 997 + "%40") * (size // 1000),
    "scheme://": lambda size: ("c" * 997 + "://") * (size // 1000),
    "log lines": lambda size: (
        (
            "lookup by jane.doe@initech.example via https://hooks.slack.com/commands/T1/2/abc "
            "xoxb-1-2-3 postgresql://app:pw@db/x DETAIL:  Key (k)=(v)\n"
        )
        * (size // 150)
    ),
}


def best_seconds(redact: Redactor, line: str, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        redact(line)
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-kb", type=int, default=100)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    redact = Redactor(["a-configured-secret"])
    small = args.small_kb * 1000
    large = small * args.factor
    print(f"redactor: {large // 1000:,} KB line against {small // 1000:,} KB (best of {args.runs})")
    for kind, make in LINES.items():
        small_s = best_seconds(redact, make(small), args.runs)
        large_s = best_seconds(redact, make(large), args.runs)
        print(
            f"  {kind:<13} {small_s * 1000:8.2f} ms  {large_s * 1000:8.2f} ms  "
            f"ratio {large_s / small_s:5.1f} (linear: {args.factor})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
