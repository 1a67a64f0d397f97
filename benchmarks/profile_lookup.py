"""Where a lookup's time goes: the in-process dispatch of benchmark 1, cut into its stages.

    python -m benchmarks.profile_lookup --workdir DIR [--database-url URL] [--runs 200]

On the store and `--workdir` a run of `benchmarks.bench_lookup` filled (or
`--licenses N` to fill a new one first), each query kind of benchmark 1 is dispatched through the
real Bolt app as there, with timers around the stages of the request path (docs/ARCHITECTURE.md):
the replay claim (`claim_event`, or `insert_claim` inside the audited transaction for a lookup
command), identity (the allowlist's decision), the audited transaction
less its work (session, rate-limit lock and check, audit row, commit), the search
(`find_customers`), the card load (`load_customer_licenses` / `load_customer_reconciliations`),
building the Block Kit objects, and serialising the answer (`Answer.payload` and Bolt's ack). What
remains of the dispatch is Bolt's own work (signature, parsing, routing, the request's context)
with the handler's glue; the fixed-text floor app's dispatch is printed beside it. Medians per
stage and kind, in ms (so the total's median need not be the sum of the stages'), and the 99th
percentile of the total; the timers' own cost (a few microseconds a stage) is not subtracted.
`--clock cpu` times each stage in this thread's CPU time instead of wall time: on a machine
shared with other work, a stage's CPU time does not grow when the process waits for a core (but a
PostgreSQL server's work is then not counted). `--cprofile KIND` prints the functions that cost
most for one kind instead.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from slack_bolt.context.ack.ack import Ack

from benchmarks.bench_lookup import (
    SECRET,
    bench_app,
    floor_app,
    generate,
    in_fresh_process,
    lookup_queries,
    percentile,
    timed_dispatch,
    timed_import,
)
from bot.answers import audited, slash
from bot.slack import allowlist, request_claims
from bot.store.db import create_store_engine
from bot.store.schema import upgrade
from tests.helpers.slack_requests import bolt_request, slash_command_body, with_fresh_trigger_id
from tests.helpers.slack_standin import SlackStandIn

STAGES = (
    "replay claim",
    "identity",
    "rate limit + audit",
    "search",
    "card load",
    "Block Kit build",
    "serialise",
    "Bolt and the rest",
)
BUILDERS = (
    "build_license_card",
    "build_recon_card",
    "build_pick_list",
    "build_not_found",
    "also_matching_blocks",
)


class StageTimers:
    """Wraps the request path's functions with timers; `spent` holds this request's ms by stage."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.spent: dict[str, float] = defaultdict(float)
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, attribute: str, stage: str) -> None:
        original = getattr(owner, attribute)
        spent = self.spent
        clock = self.clock

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return original(*args, **kwargs)
            finally:
                spent[stage] += (clock() - started) * 1000

        setattr(owner, attribute, timed)
        self._undo.append(lambda: setattr(owner, attribute, original))

    def install(self) -> None:
        self.wrap(request_claims, "claim_event", "replay claim")
        # A lookup command's claim is made inside its audited transaction (bot/request_claim.py).
        self.wrap(audited, "insert_claim", "claim in the transaction")
        self.wrap(allowlist.AllowlistMiddleware, "_decide", "identity")
        self.wrap(slash, "find_customers", "search")
        self.wrap(slash, "load_customer_licenses", "card load")
        self.wrap(slash, "load_customer_reconciliations", "card load")
        for builder in BUILDERS:
            self.wrap(slash, builder, "Block Kit build")
        self.wrap(audited.Answer, "payload", "serialise")
        self.wrap(Ack, "__call__", "serialise")
        # The transaction less its work: the work's own stages are timed above.
        original_run = audited.AuditedTransaction.run
        spent = self.spent
        clock = self.clock

        def run(self_: Any, *args: Any, work: Callable[..., Any], **kwargs: Any) -> Any:
            def timed_work(*work_args: Any) -> Any:
                started = clock()
                try:
                    return work(*work_args)
                finally:
                    spent["work"] += (clock() - started) * 1000

            started = clock()
            try:
                return original_run(self_, *args, work=timed_work, **kwargs)
            finally:
                spent["transaction"] += (clock() - started) * 1000

        audited.AuditedTransaction.run = run  # type: ignore[method-assign]
        self._undo.append(lambda: setattr(audited.AuditedTransaction, "run", original_run))

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()

    @contextmanager
    def request(self) -> Iterator[dict[str, float]]:
        self.spent.clear()
        stages: dict[str, float] = {}
        started = self.clock()
        yield stages
        total = (self.clock() - started) * 1000
        spent = self.spent
        stages["total"] = total
        for stage in STAGES[:-1]:
            stages[stage] = spent.get(stage, 0.0)
        in_transaction = spent.get("claim in the transaction", 0.0)
        stages["replay claim"] += in_transaction
        stages["rate limit + audit"] = (
            spent.get("transaction", 0.0) - spent.get("work", 0.0) - in_transaction
        )
        stages["Bolt and the rest"] = total - sum(stages[stage] for stage in STAGES[:-1])


def _median_stages(samples: list[dict[str, float]]) -> dict[str, float]:
    medians = {key: statistics.median(sample[key] for sample in samples) for key in samples[0]}
    medians["p99"] = percentile([sample["total"] for sample in samples], 0.99)
    return medians


def profile(
    database_url: str,
    workdir: Path,
    customers: int,
    runs: int,
    cprofile: str | None,
    clock: Callable[[], float],
) -> None:
    with SlackStandIn() as slack:
        users, app = bench_app(slack, database_url)
        floor = floor_app(slack.api_url)
        floor_bodies = [slash_command_body("/license", "x", user_id=user) for user in users]
        timed_dispatch(floor, floor_bodies, len(users))
        floor_ms = statistics.median(timed_dispatch(floor, floor_bodies, runs))
        for user in users:
            app.dispatch(
                bolt_request(slash_command_body("/license", "12345", user_id=user), SECRET)
            )
        queries = lookup_queries(workdir, customers)
        if cprofile is not None:
            command, query = queries[cprofile]
            bodies = [slash_command_body(command, query, user_id=user) for user in users]
            timed_dispatch(app, bodies, 20)
            profiler = cProfile.Profile()
            profiler.enable()
            timed_dispatch(app, bodies, runs)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
            return
        timers = StageTimers(clock)
        timers.install()
        try:
            by_kind: dict[str, dict[str, float]] = {}
            for label, (command, query) in queries.items():
                bodies = [slash_command_body(command, query, user_id=user) for user in users]
                timed_dispatch(app, bodies, min(runs, 20))  # warm
                samples = []
                for run in range(runs):
                    request = bolt_request(with_fresh_trigger_id(bodies[run % len(bodies)]), SECRET)
                    with timers.request() as stages:
                        response = app.dispatch(request)
                    assert response.status == 200, response.body
                    # A refused lookup would time nothing but the refusal: say so, never a
                    # table of zeros.
                    assert "lookups in the last hour" not in response.body, label
                    samples.append(stages)
                by_kind[label] = _median_stages(samples)
        finally:
            timers.uninstall()
    print(f"floor (fixed-text Bolt app) dispatch, wall time: p50 {floor_ms:.3f} ms")
    columns = ["total", "p99", *STAGES]
    print("| kind | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for label, stages in by_kind.items():
        print(f"| {label} | " + " | ".join(f"{stages[column]:.2f}" for column in columns) + " |")
    means = {column: statistics.fmean(s[column] for s in by_kind.values()) for column in columns}
    print("| mean of the kinds | " + " | ".join(f"{means[c]:.2f}" for c in columns) + " |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", required=True, help="the data and store of a bench_lookup run")
    parser.add_argument("--licenses", type=int, help="generate and import this many first")
    parser.add_argument("--customers", type=int, help="default: licenses / 4 (as bench_lookup)")
    parser.add_argument("--database-url", help="default: the SQLite file in --workdir")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--cprofile", metavar="KIND", help="cProfile one query kind instead")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    if args.licenses:
        workdir.mkdir(parents=True, exist_ok=True)
        licenses = args.licenses
        customers = args.customers or max(1, licenses // 4)
        in_fresh_process(
            generate, str(workdir), licenses, customers, max(1, licenses // 10), licenses // 20
        )
        engine = create_store_engine(database_url)
        upgrade(engine)
        engine.dispose()
        for kind in ("subscriptions", "licenses", "reconciliations", "hosts"):
            in_fresh_process(timed_import, database_url, kind, str(workdir / f"{kind}.csv"))
    else:
        licenses_csv = workdir / "licenses.csv"
        with licenses_csv.open() as handle:
            licenses = sum(1 for _ in handle) - 1
        customers = args.customers or max(1, licenses // 4)
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    profile(database_url, workdir, customers, args.runs, args.cprofile, clock)


if __name__ == "__main__":
    main()
