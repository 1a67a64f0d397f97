"""`python -m bot serve` (Socket Mode) and `python -m bot shell` (the bot at a terminal)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from bot.cli import STORE_ENVIRONMENT, subcommand
from bot.command_line import cli_command
from bot.config import Settings

HTTP_MODE_COMMAND = "gunicorn bot.asgi:app --config gunicorn.conf.py"


def add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    subcommand(
        commands,
        "serve",
        "run in Socket Mode (needs SLACK_APP_TOKEN, SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET)",
        "python -m bot serve",
        details=f"For HTTP mode run: {HTTP_MODE_COMMAND}",
    ).set_defaults(run=serve)


def add_shell(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subcommand(
        commands,
        "shell",
        "type /license and /recon in a terminal, no Slack needed",
        "echo '/license initech' | python -m bot shell",
        details=STORE_ENVIRONMENT,
    )
    parser.add_argument(
        "--demo", action="store_true", help="load the demo data set first (python -m bot demo)"
    )
    parser.set_defaults(run=shell)


def serve(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.app import configure_logging, create_app, freeze_startup_objects
    from bot.slack.socket_mode import ShapeCheckingSocketModeHandler

    if not settings.slack_app_token:
        print(
            "Socket Mode needs SLACK_APP_TOKEN (xapp-…), SLACK_BOT_TOKEN and "
            f"SLACK_SIGNING_SECRET.\nFor HTTP mode run: {HTTP_MODE_COMMAND}\n"
            f"To try it without Slack: {cli_command()} shell",
            file=sys.stderr,
        )
        return 2
    from bot.config import ConfigError
    from bot.services import build_services

    configure_logging(settings)
    # What create_app refuses, refused before the store is opened: one line, no migration logs.
    if problem := settings.slack_credentials_problem():
        raise ConfigError(problem)
    settings.check_organisations()
    # Serving: a SQLite store's WAL is checkpointed on a thread, not in a request's commit.
    app = create_app(settings, services=build_services(settings, checkpoint_in_background=True))
    freeze_startup_objects()
    # slack_bolt leaves `start` unannotated (it blocks until the process is stopped).
    ShapeCheckingSocketModeHandler(app, settings.slack_app_token).start()  # type: ignore[no-untyped-call]
    return 0


def shell(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import create_local_app
    from bot.cli.shell import run_shell
    from bot.cli.store import open_store
    from bot.services import build_services

    if args.demo:
        from bot.cli.store import load_demo_data

        load_demo_data(settings)
    services = build_services(settings, engine=open_store(settings, serving=True))
    return run_shell(
        lambda api_url: create_local_app(
            replace(settings, slack_api_url=api_url), services=services
        ),
        sys.stdin,
        sys.stdout,
    )
