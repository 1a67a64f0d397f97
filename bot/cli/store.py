"""`python -m bot db upgrade|current`, `python -m bot import` and `python -m bot demo`: the
commands that migrate the store or load data into it, and the store engine every command
opens (`open_store`)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli import STORE_ENVIRONMENT, subcommand
from bot.command_line import cli_command
from bot.config import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

IMPORT_KINDS = ["licenses", "reconciliations", "hosts", "subscriptions"]


def add_import(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imports = subcommand(
        commands,
        "import",
        "load a CSV or JSON-lines export into the store",
        "python -m bot import licenses licenses.csv --full",
        details=(
            f"Kinds: {', '.join(IMPORT_KINDS)}. Formats: CSV with a header row (UTF-8), or JSON "
            "lines (one object per line; .jsonl/.ndjson, or a first line starting with '{'). The "
            "columns of each kind, ours and the source systems' own, are in "
            "docs/import-formats.md. All or nothing: one bad row leaves the store unchanged. "
            f"{STORE_ENVIRONMENT}"
        ),
    )
    imports.add_argument("kind", choices=IMPORT_KINDS, help="what the file holds")
    imports.add_argument("file", type=Path, help="the export: CSV or JSON lines")
    imports.add_argument(
        "--full", action="store_true", help="the file is the complete export: remove rows not in it"
    )
    imports.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="with --full, allow removing more than 10%% of the rows",
    )
    imports.set_defaults(run=run_import)


def add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    subcommand(
        commands,
        "demo",
        "load a synthetic demo dataset into the store",
        "python -m bot demo && python -m bot shell",
        details=STORE_ENVIRONMENT,
    ).set_defaults(run=demo)


def add_db(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = subcommand(
        commands,
        "db",
        "migrate the store's schema, or show its revision",
        "python -m bot db upgrade",
    )
    db_commands = db.add_subparsers(required=True, metavar="action")
    subcommand(
        db_commands,
        "upgrade",
        "migrate the store to the latest schema (idempotent; run once per release)",
        "DATABASE_URL=postgresql://user:password@host/db python -m bot db upgrade",
        details=STORE_ENVIRONMENT,
    ).set_defaults(run=db_upgrade)
    subcommand(
        db_commands,
        "current",
        "print the store's schema revision (exit 1 when it is not the latest)",
        "python -m bot db current",
        details=STORE_ENVIRONMENT,
    ).set_defaults(run=db_current)


def run_import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.store.db import make_session_factory
    from bot.store.importing import ImportFailed, import_file

    if not args.file.is_file():
        print(f"import failed: no such file: {args.file}", file=sys.stderr)
        return 1
    engine = open_store(settings)
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
            public_email_domains=settings.public_email_domains,
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


def demo(settings: Settings, _args: argparse.Namespace) -> int:
    load_demo_data(settings)
    print(f"Try it: {cli_command()} shell, then type /license initech")
    return 0


def load_demo_data(settings: Settings) -> None:
    """The demo data set into the store, a line per file (`demo`, and `shell --demo`)."""
    from bot.cli.demo import load_demo
    from bot.store.db import make_session_factory

    engine = open_store(settings)
    try:
        summaries = load_demo(
            make_session_factory(engine),
            datetime.now(UTC).date(),
            public_email_domains=settings.public_email_domains,
        )
    finally:
        engine.dispose()
    for summary in summaries:
        print(f"demo {summary.kind}: {summary.rows:,} rows loaded")


def db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.store.schema import current_revision, upgrade

    engine = command_engine(settings)
    try:
        upgrade(engine, public_email_domains=settings.public_email_domains)
        print(f"store schema at revision {current_revision(engine)}")
    finally:
        engine.dispose()
    return 0


def db_current(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.store.schema import current_revision, head_revision

    engine = command_engine(settings)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    print(f"current: {current or 'none (empty store)'}; latest: {head_revision()}")
    return 0 if current == head_revision() else 1


def open_store(settings: Settings, *, serving: bool = False) -> Engine:
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
        engine = command_engine(settings)
    try:
        require_schema(engine, public_email_domains=settings.public_email_domains)
    except Exception:
        engine.dispose()
        raise
    return engine


def command_engine(settings: Settings) -> Engine:
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
