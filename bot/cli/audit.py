"""`python -m bot audit export|purge`: the audit trail for the people who review it."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.cli import STORE_ENVIRONMENT, subcommand
from bot.config import Settings


def add_audit(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = subcommand(
        commands,
        "audit",
        "export or purge the audit trail",
        "python -m bot audit export --since 2026-11-01 --until 2026-11-30",
    )
    audit_commands = audit.add_subparsers(required=True, metavar="action")
    export = subcommand(
        audit_commands,
        "export",
        "write the audit rows of a date range (UTC days) as CSV",
        "python -m bot audit export --since 2026-11-01 --until 2026-11-30 --output audit.csv",
        details=STORE_ENVIRONMENT,
    )
    export.add_argument("--since", type=_day, required=True, help="first day, YYYY-MM-DD")
    export.add_argument("--until", type=_day, required=True, help="last day (included)")
    export.add_argument("--output", type=Path, help="CSV file to write (default: stdout)")
    export.set_defaults(run=audit_export)
    subcommand(
        audit_commands,
        "purge",
        "delete audit rows older than AUDIT_RETENTION_DAYS "
        f"(default {Settings().audit_retention_days})",
        "AUDIT_RETENTION_DAYS=365 python -m bot audit purge",
        details=STORE_ENVIRONMENT,
    ).set_defaults(run=audit_purge)


def _day(raw: str) -> datetime:
    try:
        return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {raw!r}") from None


def audit_export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.cli.store import open_store
    from bot.store.audit import export_audit_csv
    from bot.store.db import make_session_factory

    if args.until < args.since:
        print("audit export: --until is before --since", file=sys.stderr)
        return 2
    engine = open_store(settings)
    # --until names a whole day: rows up to its end are included.
    bounds = {"since": args.since, "until": args.until + timedelta(days=1)}
    try:
        with make_session_factory(engine)() as session:
            if args.output is None:
                rows = export_audit_csv(session, sys.stdout, **bounds)
            else:
                with args.output.open("w", newline="", encoding="utf-8") as out:
                    rows = export_audit_csv(session, out, **bounds)
    finally:
        engine.dispose()
    print(f"audit export: {rows:,} rows", file=sys.stderr)
    return 0


def audit_purge(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.cli.store import open_store
    from bot.store.audit import purge_audit
    from bot.store.db import make_session_factory, session_scope

    engine = open_store(settings)
    try:
        with session_scope(make_session_factory(engine)) as session:
            deleted = purge_audit(
                session, now=datetime.now(UTC), retention_days=settings.audit_retention_days
            )
    finally:
        engine.dispose()
    print(f"audit purge: {deleted:,} rows older than {settings.audit_retention_days} days deleted")
    return 0
