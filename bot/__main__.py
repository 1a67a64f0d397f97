"""python -m bot <command>: serve, shell, import, demo, audit, db, check, manifest."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import ConfigError, Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

HTTP_MODE_COMMAND = "gunicorn bot.wsgi:app --config gunicorn.conf.py"
STORE_ENVIRONMENT = (
    "The store is DATABASE_URL (default sqlite:///customersdot.sqlite3; on a server "
    "postgresql://user:password@host/db)."
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        return int(args.run(settings, args) or 0)
    except Exception as error:
        problem = operator_problem(error)
        if problem is None or args.debug:
            raise
        # One line an operator can act on; `--debug` shows the traceback.
        print(f"{args.command_name}: {problem}", file=sys.stderr)
        return 2


def operator_problem(error: BaseException) -> str | None:
    """What is wrong and what to do, in one line, for the failures an operator can fix (the
    configuration, the store); None for anything else (a bug: the traceback is wanted)."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.store.failures import StoreNotMigrated, store_failure_advice

    if isinstance(error, ConfigError):
        return f"configuration error: {error}"
    if isinstance(error, SQLAlchemyError | StoreNotMigrated):
        return store_failure_advice(error)
    return None


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    example: str,
    *,
    details: str = "",
) -> argparse.ArgumentParser:
    """A subcommand whose --help says what it does, with an example."""
    command = commands.add_parser(
        name,
        help=summary,
        description=textwrap.fill(
            f"{summary[0].upper()}{summary[1:]}.{' ' + details if details else ''}", width=78
        ),
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the traceback of an error instead of one line",
    )
    command.set_defaults(command_name=command.prog.removeprefix("python -m bot "))
    return command


def cli_command() -> str:
    """This CLI as the operator can type it here, for the hints it prints: `python -m bot`
    outside an activated virtualenv would name another Python, without the dependencies."""
    return command_for(Path(sys.executable), Path.cwd(), shutil.which("python"))


def command_for(executable: Path, cwd: Path, python_on_path: str | None) -> str:
    """`python -m bot` when `python` on PATH is `executable` (an activated virtualenv), else
    `executable` itself: relative to `cwd` when under it (`.venv/bin/python -m bot`)."""
    if python_on_path is not None and _same_directory(
        Path(python_on_path).parent, executable.parent
    ):
        return "python -m bot"
    try:
        shown = executable.relative_to(cwd)
    except ValueError:
        shown = executable
    return f"{shlex.quote(str(shown))} -m bot"


def _same_directory(first: Path, second: Path) -> bool:
    # Not resolve(): a virtualenv's python is a symlink to the base interpreter it was made from.
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=cli_command(),
        description=__doc__,
        epilog=f"Settings come from the environment or .env (README: Configuration). "
        f"{STORE_ENVIRONMENT}",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error instead of one line"
    )
    commands = parser.add_subparsers(required=True, metavar="command")

    _command(
        commands,
        "serve",
        "run in Socket Mode (needs SLACK_APP_TOKEN, SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET)",
        "python -m bot serve",
        details=f"For HTTP mode run: {HTTP_MODE_COMMAND}",
    ).set_defaults(run=_serve)

    _command(
        commands,
        "shell",
        "type /license and /recon in a terminal, no Slack needed",
        "echo '/license initech' | python -m bot shell",
        details=STORE_ENVIRONMENT,
    ).set_defaults(run=_shell)

    kinds = ["licenses", "reconciliations", "hosts", "subscriptions"]
    imports = _command(
        commands,
        "import",
        "load a CSV or JSON-lines export into the store",
        "python -m bot import licenses licenses.csv --full",
        details=(
            f"Kinds: {', '.join(kinds)}. Formats: CSV with a header row (UTF-8), or JSON lines "
            "(one object per line; .jsonl/.ndjson, or a first line starting with '{'). The "
            "columns of each kind, ours and the source systems' own, are in DESIGN.md "
            '("Import files"). All or nothing: one bad row leaves the store unchanged. '
            f"{STORE_ENVIRONMENT}"
        ),
    )
    imports.add_argument("kind", choices=kinds, help="what the file holds")
    imports.add_argument("file", type=Path, help="the export: CSV or JSON lines")
    imports.add_argument(
        "--full", action="store_true", help="the file is the complete export: remove rows not in it"
    )
    imports.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="with --full, allow removing more than 10%% of the rows",
    )
    imports.set_defaults(run=_import)

    _command(
        commands,
        "demo",
        "load a synthetic demo dataset into the store",
        "python -m bot demo && python -m bot shell",
        details=STORE_ENVIRONMENT,
    ).set_defaults(run=_demo)

    audit = _command(
        commands,
        "audit",
        "export or purge the audit trail",
        "python -m bot audit export --since 2026-11-01 --until 2026-11-30",
    )
    audit_commands = audit.add_subparsers(required=True, metavar="action")
    export = _command(
        audit_commands,
        "export",
        "write the audit rows of a date range (UTC days) as CSV",
        "python -m bot audit export --since 2026-11-01 --until 2026-11-30 --output audit.csv",
        details=STORE_ENVIRONMENT,
    )
    export.add_argument("--since", type=_day, required=True, help="first day, YYYY-MM-DD")
    export.add_argument("--until", type=_day, required=True, help="last day (included)")
    export.add_argument("--output", type=Path, help="CSV file to write (default: stdout)")
    export.set_defaults(run=_audit_export)
    _command(
        audit_commands,
        "purge",
        "delete audit rows older than AUDIT_RETENTION_DAYS (default 400)",
        "AUDIT_RETENTION_DAYS=365 python -m bot audit purge",
        details=STORE_ENVIRONMENT,
    ).set_defaults(run=_audit_purge)

    db = _command(
        commands,
        "db",
        "migrate the store's schema, or show its revision",
        "python -m bot db upgrade",
    )
    db_commands = db.add_subparsers(required=True, metavar="action")
    _command(
        db_commands,
        "upgrade",
        "migrate the store to the latest schema (idempotent; run once per release)",
        "DATABASE_URL=postgresql://user:password@host/db python -m bot db upgrade",
        details=STORE_ENVIRONMENT,
    ).set_defaults(run=_db_upgrade)
    _command(
        db_commands,
        "current",
        "print the store's schema revision (exit 1 when it is not the latest)",
        "python -m bot db current",
        details=STORE_ENVIRONMENT,
    ).set_defaults(run=_db_current)

    _command(
        commands,
        "check",
        "preflight a deployment: settings, store, Slack token and scopes, allowlist",
        "python -m bot check",
        details=(
            "One line per check, ok or FAIL with what to do; exit 0 only when all pass, 2 "
            f"otherwise. Calls Slack's auth.test with SLACK_BOT_TOKEN. {STORE_ENVIRONMENT}"
        ),
    ).set_defaults(run=_check)

    manifest = _command(
        commands,
        "manifest",
        "print the Slack app manifest (YAML) for Socket Mode, or for HTTP mode with --http",
        "python -m bot manifest --http https://customersdot.example.com",
        details=(
            "Paste it at api.slack.com/apps (Create New App, From an app manifest, or the app's "
            "App Manifest page). With OAuth configured (SLACK_CLIENT_ID, …) the HTTP manifest "
            "also lists the OAuth redirect URL."
        ),
    )
    manifest.add_argument(
        "--http",
        metavar="https://HOST",
        help="the bot's public base URL: every request URL of the manifest points there",
    )
    manifest.set_defaults(run=_manifest)
    return parser


def _day(raw: str) -> datetime:
    try:
        return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {raw!r}") from None


def _audit_export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.store.audit import export_audit_csv
    from bot.store.db import make_session_factory

    if args.until < args.since:
        print("audit export: --until is before --since", file=sys.stderr)
        return 2
    engine = _open_store(settings)
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
    from bot.store.audit import purge_audit
    from bot.store.db import make_session_factory, session_scope

    engine = _open_store(settings)
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
    from bot.slack.socket_mode import ShapeCheckingSocketModeHandler

    if not settings.slack_app_token:
        print(
            "Socket Mode needs SLACK_APP_TOKEN (xapp-…), SLACK_BOT_TOKEN and "
            f"SLACK_SIGNING_SECRET.\nFor HTTP mode run: {HTTP_MODE_COMMAND}\n"
            f"To try it without Slack: {cli_command()} shell",
            file=sys.stderr,
        )
        return 2
    configure_logging(settings)
    app = create_app(settings)
    ShapeCheckingSocketModeHandler(app, settings.slack_app_token).start()
    return 0


def _shell(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.app import build_services, create_local_app
    from bot.shell import run_shell

    services = build_services(settings, engine=_open_store(settings, serving=True))
    return run_shell(create_local_app(settings, services=services), sys.stdin, sys.stdout)


def _import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.store.db import make_session_factory
    from bot.store.importer import ImportFailed, import_file

    if not args.file.is_file():
        print(f"import failed: no such file: {args.file}", file=sys.stderr)
        return 1
    engine = _open_store(settings)
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
    from bot.store.db import make_session_factory

    engine = _open_store(settings)
    try:
        summaries = load_demo(make_session_factory(engine), datetime.now(UTC).date())
    finally:
        engine.dispose()
    for summary in summaries:
        print(f"demo {summary.kind}: {summary.rows:,} rows loaded")
    print(f"Try it: {cli_command()} shell, then type /license initech")
    return 0


def _db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.store.schema import current_revision, upgrade

    engine = _command_engine(settings)
    try:
        upgrade(engine)
        print(f"store schema at revision {current_revision(engine)}")
    finally:
        engine.dispose()
    return 0


def _db_current(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.store.schema import current_revision, head_revision

    engine = _command_engine(settings)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    print(f"current: {current or 'none (empty store)'}; latest: {head_revision()}")
    return 0 if current == head_revision() else 1


def _open_store(settings: Settings, *, serving: bool = False) -> Engine:
    """The store's engine, for a command that needs its tables: a SQLite store is created or
    migrated on first use; a server database that is not migrated is refused (StoreNotMigrated,
    one line from main) instead of failing on its first missing table. `serving`: with the
    serving path's timeouts (the shell answers as the bot does)."""
    from bot.store.db import create_store_engine
    from bot.store.schema import require_schema

    if serving:
        engine = create_store_engine(
            settings.database_url,
            statement_timeout_ms=settings.database_statement_timeout_ms,
            connect_timeout_seconds=settings.database_connect_timeout_seconds,
        )
    else:
        engine = _command_engine(settings)
    try:
        require_schema(engine)
    except Exception:
        engine.dispose()
        raise
    return engine


def _command_engine(settings: Settings) -> Engine:
    """The engine of a command that is not serving (migrations, imports): no statement timeout,
    but a store that does not answer fails within DATABASE_CONNECT_TIMEOUT_SECONDS instead of
    hanging the deploy step."""
    from bot.store.db import create_store_engine, is_sqlite

    if is_sqlite(settings.database_url):
        return create_store_engine(settings.database_url)
    return create_store_engine(
        settings.database_url,
        connect_args={"connect_timeout": settings.database_connect_timeout_seconds},
    )


def _check(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.preflight import run_checks

    results = run_checks(settings)
    for result in results:
        print(result.line())
    return 0 if all(result.ok for result in results) else 2


def _manifest(settings: Settings, args: argparse.Namespace) -> int:
    from bot.manifest import build_manifest, render_manifest

    if args.http is not None and not args.http.startswith(("https://", "http://")):
        print("manifest: --http takes the bot's base URL, e.g. https://HOST", file=sys.stderr)
        return 2
    print(render_manifest(build_manifest(settings, http_base_url=args.http)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
