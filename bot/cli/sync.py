"""`python -m bot sync [KIND]` and `python -m bot sync status`: fresh data from the configured
sources without a person (issue 21); the work is bot/sync/run.py's."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.cli import STORE_ENVIRONMENT, subcommand
from bot.config import SYNC_KINDS, ConfigError, Settings

if TYPE_CHECKING:
    from bot.cli.sync_alerts import AlertTarget
    from bot.store.importing import ImportKind
    from bot.store.sync_state import SyncStatus
    from bot.sync.run import Source, SyncRun

STATUS = "status"
# Another sync holds the lease: not a failure of this one's kinds, so not 1.
EXIT_LEASE_HELD = 3
SETTINGS_HINT = (
    "set SYNC_SUBSCRIPTIONS, SYNC_LICENSES, SYNC_HOSTS or SYNC_RECONCILIATIONS to an https URL, "
    "a database URL, a file path or (subscriptions) zuora (docs/configuration.md)"
)


def add_sync(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sync = subcommand(
        commands,
        "sync",
        "fetch and import every configured export, or one kind; `status` shows the last syncs",
        "python -m bot sync && python -m bot sync status",
        details=(
            f"Kinds, in this order: {', '.join(SYNC_KINDS)}. Each comes from SYNC_<KIND>: an "
            "https URL (SYNC_<KIND>_AUTHORIZATION its Authorization header), a database URL "
            "(SYNC_<KIND>_QUERY replacing the default query), a file path, or for "
            "subscriptions zuora (ZUORA_REST_URL, ZUORA_CLIENT_ID, ZUORA_CLIENT_SECRET). A "
            "full source's import deletes what the source no longer has, more than 10% of a "
            "table only with --allow-mass-delete KIND. A kind that fails keeps its last good "
            "data and the others still sync. Exit 0 when every kind synced, 1 when one failed, "
            f"{EXIT_LEASE_HELD} when another sync is running. {STORE_ENVIRONMENT}"
        ),
    )
    sync.add_argument(
        "target",
        nargs="?",
        choices=[*SYNC_KINDS, STATUS],
        help="one kind to sync, or `status`; every configured kind when left out",
    )
    sync.add_argument(
        "--every",
        metavar="INTERVAL",
        help=(
            "sync again and again, each round this long after the last one started (90s, 30m, "
            "1h, 1.5h; at least 1m): for a Procfile clock: process or a long-lived container. "
            "A failed round is logged and the next one comes; SIGTERM or SIGINT stops it (exit 0)"
        ),
    )
    sync.add_argument(
        "--allow-mass-delete",
        action="append",
        choices=SYNC_KINDS,
        default=[],
        metavar="KIND",
        help=(
            "let this run's import of KIND delete more than 10%% of its table (what the source "
            "no longer has); repeat for more kinds"
        ),
    )
    sync.set_defaults(run=run_sync_command)


def run_sync_command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.cli.sync_alerts import alert_target
    from bot.sync.run import configured_sources
    from bot.sync.schedule import parse_interval

    # Read (and refused when unsupported) before the store is opened or the lease taken.
    sources = configured_sources(settings)
    if args.target == STATUS:
        if args.every is not None:
            raise ConfigError("--every is for a sync, not for `sync status`")
        if args.allow_mass_delete:
            raise ConfigError("--allow-mass-delete approves a sync, not `sync status`")
        return _status(settings, set(sources))
    try:
        interval = None if args.every is None else parse_interval(args.every)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    alerts = alert_target(settings)
    if args.target is not None:
        chosen = {kind: source for kind, source in sources.items() if kind.value == args.target}
        if not chosen:
            raise ConfigError(f"SYNC_{args.target.upper()} is not set: nothing to sync")
        sources = chosen
    if not sources:
        raise ConfigError(f"nothing to sync: {SETTINGS_HINT}")
    approved = frozenset(kind for kind in sources if kind.value in args.allow_mass_delete)
    unsynced = sorted(set(args.allow_mass_delete) - {kind.value for kind in approved})
    if unsynced:
        raise ConfigError(
            f"--allow-mass-delete {' '.join(unsynced)}: not synced by this run; it approves "
            "a sync of that kind (python -m bot sync [KIND] --allow-mass-delete KIND)"
        )
    from bot.logs import configure_logging

    # The bot's own logging: redacted lines, and httpx's INFO lines (whole URLs: a signed
    # URL's signature) kept out.
    configure_logging(settings)
    if interval is not None:
        from bot.cli.sync_every import sync_every

        # --allow-mass-delete approves one run: the loop's first round, not every round.
        rounds = iter([approved])

        def one_round() -> SyncRun:
            return _sync_once(settings, sources, alerts, next(rounds, frozenset()))

        return sync_every(interval, one_round)
    return _exit_status(_sync_once(settings, sources, alerts, approved))


def _sync_once(
    settings: Settings,
    sources: dict[ImportKind, Source],
    alerts: AlertTarget | None,
    approved: frozenset[ImportKind] = frozenset(),
) -> SyncRun:
    from bot.cli.notify import notify_after_sync
    from bot.cli.store import open_store
    from bot.cli.sync_alerts import build_sync_alerts
    from bot.store.db import make_session_factory
    from bot.sync.run import KindResult, run_sync

    engine = open_store(settings)
    poster = build_sync_alerts(settings, alerts, engine)

    def show(result: KindResult) -> None:
        print(result.line, file=sys.stdout if result.succeeded else sys.stderr, flush=True)
        for warning in result.warnings:
            print(f"warning: {result.kind.value}: {warning}", file=sys.stderr, flush=True)
        if poster is not None:
            poster.on_result(result)

    try:
        run = run_sync(
            make_session_factory(engine),
            sources,
            settings,
            on_result=show,
            allow_mass_delete=approved,
        )
        if run.leased:  # what the sync recorded for followed customers, posted now
            notify_after_sync(settings, engine)
        return run
    finally:
        engine.dispose()


def _exit_status(run: SyncRun) -> int:
    if not run.leased:
        print(
            "sync: another sync is running (it holds the sync lease); not started", file=sys.stderr
        )
        return EXIT_LEASE_HELD
    if run.stopped_before is not None:
        print(
            f"sync: lost the sync lease to another sync; stopped before {run.stopped_before.value}",
            file=sys.stderr,
        )
    return 0 if run.succeeded else 1


def _status(settings: Settings, configured: set[ImportKind]) -> int:
    """One line per kind; 0 when every configured kind's last attempt succeeded."""
    from bot.cli.store import open_store
    from bot.store.db import make_session_factory, session_scope
    from bot.store.sync_state import current_lease, sync_status
    from bot.sync.run import holder_is_gone

    engine = open_store(settings)
    try:
        with session_scope(make_session_factory(engine)) as session:
            statuses = sync_status(session)
            lease = current_lease(session)
    finally:
        engine.dispose()
    # An attempt still `running` with no live sync holding the lease was killed.
    syncing = (
        lease is not None
        and lease.expires_at > datetime.now(UTC)
        and not holder_is_gone(lease.holder)
    )
    for status in statuses:
        print(status_line(status, configured=status.kind in configured, interrupted=not syncing))
    failing = [
        status
        for status in statuses
        if status.kind in configured and status.last_outcome != "succeeded"
    ]
    return 1 if failing else 0


def status_line(status: SyncStatus, *, configured: bool, interrupted: bool = False) -> str:
    """`licenses: <source> · last attempt … (succeeded) · last success …, 6 rows in 0.2s`.
    The source is as the sync recorded it, credentials already masked. `interrupted`: no sync
    is running now, so an attempt still `running` was killed."""
    parts = [f"{status.kind.value}: {status.source or '(never synced)'}"]
    if not configured:
        parts.append("not configured")
    if status.last_attempt_at is not None:
        outcome: str | None = status.last_outcome
        if outcome == "running" and interrupted:
            outcome = "interrupted"
        parts.append(f"last attempt {_when(status.last_attempt_at)} ({outcome})")
    if status.last_success_at is not None:
        parts.append(
            f"last success {_when(status.last_success_at)}, {status.rows or 0:,} rows"
            f" in {_seconds(status.duration)}"
        )
    elif status.last_attempt_at is not None:
        parts.append("never succeeded")
    if status.last_outcome == "failed" and status.last_error:
        parts.append(f"error: {status.last_error}")
    return " · ".join(parts)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(duration: timedelta | None) -> str:
    return "?" if duration is None else f"{duration.total_seconds():.1f}s"
