"""python -m bot <command>: serve, shell, import, demo, audit, db."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import ConfigError, Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    return int(args.run(settings, args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="command")

    serve = commands.add_parser("serve", help="run in Socket Mode (needs SLACK_APP_TOKEN)")
    serve.set_defaults(run=_serve)

    shell = commands.add_parser("shell", help="type /license and /recon in a terminal")
    shell.set_defaults(run=_shell)

    imports = commands.add_parser("import", help="load a CSV or JSON-lines export into the store")
    imports.add_argument("kind", choices=["licenses", "reconciliations", "hosts", "subscriptions"])
    imports.add_argument("file", type=Path)
    imports.add_argument(
        "--full", action="store_true", help="the file is the complete export: remove rows not in it"
    )
    imports.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="with --full, allow removing more than 10%% of the rows",
    )
    imports.set_defaults(run=_import)

    demo = commands.add_parser("demo", help="load a synthetic demo dataset into the store")
    demo.set_defaults(run=_demo)

    audit = commands.add_parser("audit", help="export or purge the audit trail")
    audit_commands = audit.add_subparsers(required=True, metavar="action")
    export = audit_commands.add_parser(
        "export", help="write the audit rows of a date range (UTC days) as CSV"
    )
    export.add_argument("--since", type=_day, required=True, help="first day, YYYY-MM-DD")
    export.add_argument("--until", type=_day, required=True, help="last day (included)")
    export.add_argument("--output", type=Path, help="CSV file to write (default: stdout)")
    export.set_defaults(run=_audit_export)
    audit_commands.add_parser(
        "purge", help="delete audit rows older than AUDIT_RETENTION_DAYS (default 400)"
    ).set_defaults(run=_audit_purge)

    db = commands.add_parser("db", help="schema migrations")
    db_commands = db.add_subparsers(required=True, metavar="action")
    db_commands.add_parser("upgrade", help="migrate the store to the latest schema").set_defaults(
        run=_db_upgrade
    )
    db_commands.add_parser("current", help="print the store's schema revision").set_defaults(
        run=_db_current
    )
    return parser


def _day(raw: str) -> datetime:
    try:
        return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {raw!r}") from None


def _audit_export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.audit import export_audit_csv
    from bot.store.db import create_store_engine, make_session_factory
    from bot.store.schema import ensure_schema

    if args.until < args.since:
        print("audit export: --until is before --since", file=sys.stderr)
        return 2
    engine = create_store_engine(settings.database_url)
    ensure_schema(engine)
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


def _audit_purge(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.audit import purge_audit
    from bot.store.db import create_store_engine, make_session_factory, session_scope
    from bot.store.schema import ensure_schema

    engine = create_store_engine(settings.database_url)
    ensure_schema(engine)
    try:
        with session_scope(make_session_factory(engine)) as session:
            deleted = purge_audit(
                session, now=datetime.now(UTC), retention_days=settings.audit_retention_days
            )
    finally:
        engine.dispose()
    print(f"audit purge: {deleted:,} rows older than {settings.audit_retention_days} days deleted")
    return 0


def _serve(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.app import configure_logging, create_app
    from bot.socket_mode import ShapeCheckingSocketModeHandler

    if not settings.slack_app_token:
        print(
            "Socket Mode needs SLACK_APP_TOKEN (xapp-…), SLACK_BOT_TOKEN and "
            "SLACK_SIGNING_SECRET.\nFor HTTP mode run: gunicorn bot.wsgi:app\n"
            "To try it without Slack: python -m bot shell",
            file=sys.stderr,
        )
        return 2
    configure_logging(settings)
    app = create_app(settings)
    ShapeCheckingSocketModeHandler(app, settings.slack_app_token).start()
    return 0


def _shell(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.app import create_local_app
    from bot.shell import run_shell

    return run_shell(create_local_app(settings), sys.stdin, sys.stdout)


def _import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.store.db import create_store_engine, make_session_factory
    from bot.store.importer import ImportFailed, import_file
    from bot.store.schema import ensure_schema

    if not args.file.is_file():
        print(f"import failed: no such file: {args.file}", file=sys.stderr)
        return 1
    engine = create_store_engine(settings.database_url)
    ensure_schema(engine)
    started = datetime.now(UTC)

    def show_progress(rows: int) -> None:
        print(f"\r{args.kind}: {rows:,} rows…", end="", file=sys.stderr, flush=True)

    try:
        summary = import_file(
            make_session_factory(engine),
            args.kind,
            args.file,
            full=args.full,
            allow_mass_delete=args.allow_mass_delete,
            on_progress=show_progress,
        )
    except ImportFailed as error:
        print(f"\nimport failed, the store is unchanged: {error}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    seconds = (datetime.now(UTC) - started).total_seconds()
    print(file=sys.stderr)
    for warning in summary.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{summary.describe()} in {seconds:.1f}s")
    return 0


def _demo(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.demo import load_demo
    from bot.store.db import create_store_engine, make_session_factory
    from bot.store.schema import ensure_schema

    engine = create_store_engine(settings.database_url)
    ensure_schema(engine)
    summaries = load_demo(make_session_factory(engine), datetime.now(UTC).date())
    engine.dispose()
    for summary in summaries:
        print(f"demo {summary.kind}: {summary.rows:,} rows loaded")
    print("Try it: python -m bot shell, then type /license initech")
    return 0


def _db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.store.db import create_store_engine
    from bot.store.schema import current_revision, upgrade

    engine = create_store_engine(settings.database_url)
    upgrade(engine)
    print(f"store schema at revision {current_revision(engine)}")
    engine.dispose()
    return 0


def _db_current(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.store.db import create_store_engine
    from bot.store.schema import current_revision, head_revision

    engine = create_store_engine(settings.database_url)
    current = current_revision(engine)
    engine.dispose()
    print(f"current: {current or 'none (empty store)'}; latest: {head_revision()}")
    return 0 if current == head_revision() else 1


if __name__ == "__main__":
    sys.exit(main())
