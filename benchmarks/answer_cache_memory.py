"""What a worker's kept answers weigh: ANSWER_CACHE_SIZE answers, each a different company's.

    python -m benchmarks.answer_cache_memory --workdir DIR [--answers 256]

On the store and --workdir a `bench_lookup` (or `bench_http`) run filled: the first `--answers`
company names of its licenses file are asked once each (mostly cards, some pick lists), each
answer serialised as it is when sent, and kept. Prints what the kept answers hold (traced
allocations, after a full collection) and the process's peak RSS before and after.
"""

from __future__ import annotations

import argparse
import csv
import gc
import tracemalloc
from collections import Counter
from pathlib import Path

from benchmarks.bench_lookup import peak_rss_mb
from bot import ids
from bot.answers.audited import Requester
from bot.config import Settings
from bot.services import build_services

REQUESTER = Requester("UMEMORY", "T1", channel_id="C1")


def company_names(licenses_csv: Path, count: int) -> list[str]:
    names: dict[str, None] = {}
    with licenses_csv.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["company"]:
                names[row["company"]] = None
            if len(names) > count:
                break
    return list(names)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", required=True, help="a bench_lookup run's --workdir")
    parser.add_argument("--answers", type=int, default=Settings.answer_cache_size)
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'bench.sqlite3'}",
        answer_cache_size=args.answers,
        allowed_user_ids=frozenset({REQUESTER.user_id or ""}),
        lookup_rate_limit_per_hour=0,
    )
    services = build_services(settings)
    lookups = services.lookups
    *names, warm = company_names(workdir / "licenses.csv", args.answers)
    lookups.answer_query(ids.LICENSE_COMMAND, warm, REQUESTER)  # statements compiled
    gc.collect()
    before = peak_rss_mb()
    tracemalloc.start()
    outcomes: Counter[str] = Counter()
    for name in names:
        answer = lookups.answer_query(ids.LICENSE_COMMAND, name, REQUESTER)
        answer.payload()
        outcomes[answer.outcome.value] += 1
    gc.collect()
    traced, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"{len(names)} answers kept ({', '.join(f'{n} {o}' for o, n in outcomes.items())}):"
        f" {traced / 1e6:.1f} MB traced, {traced / len(names) / 1e3:.0f} KB each;"
        f" peak RSS {before:.0f} -> {peak_rss_mb():.0f} MB"
    )
    services.engine.dispose()


if __name__ == "__main__":
    main()
