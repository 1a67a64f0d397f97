"""The command line, `python -m bot <command>` (bot/__main__.py only calls `main`).

This module holds the parser, `main` and its one-line answer to the failures an operator can
fix; each family of commands declares its subcommands and runs them in its own module:
bot/cli/serve.py (serve, shell), bot/cli/store.py (import, demo, db upgrade|current), bot/cli/sync.py (sync, sync status), bot/cli/notify.py (notify),
bot/cli/audit.py (audit export|purge), bot/cli/deploy.py (check, manifest). The tools those
commands run live here too: shell.py (the terminal), demo.py (the demo data set),
preflight.py (the checks), manifest.py (the Slack app manifest), sync_alerts.py
(SYNC_ALERT_CHANNEL's messages) and sync_every.py (`sync --every`: the rounds and signals).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence

from bot.command_line import cli_command
from bot.config import ConfigError, Settings

DESCRIPTION = (
    "python -m bot <command>: serve, shell, import, demo, sync, notify, audit, db, check, manifest."
)
STORE_ENVIRONMENT = (
    "The store is DATABASE_URL (default sqlite:///customersdot.sqlite3; on a server "
    "postgresql://user:password@host/db)."
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        # A command that serves nothing (the manifest) needs none of serving's secrets.
        settings = Settings.from_env(serving=getattr(args, "serving", True))
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


def subcommand(
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


def _parser() -> argparse.ArgumentParser:
    # The families import this module's helpers: imported here, once it is whole.
    from bot.cli import audit, deploy, notify, serve, store, sync

    parser = argparse.ArgumentParser(
        prog=cli_command(),
        description=DESCRIPTION,
        epilog=f"Settings come from the environment or .env (README: Configuration). "
        f"{STORE_ENVIRONMENT}",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error instead of one line"
    )
    commands = parser.add_subparsers(required=True, metavar="command")
    # In the order `--help` lists them.
    serve.add_serve(commands)
    serve.add_shell(commands)
    store.add_import(commands)
    store.add_demo(commands)
    sync.add_sync(commands)
    notify.add_notify(commands)
    audit.add_audit(commands)
    store.add_db(commands)
    deploy.add_check(commands)
    deploy.add_manifest(commands)
    return parser
