"""`python -m bot check` (preflight a deployment) and `python -m bot manifest` (the Slack app
manifest): the commands an operator runs while setting the bot up. The work is in
bot/cli/preflight.py and bot/cli/manifest.py; this module only parses and prints."""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit

from bot.cli import STORE_ENVIRONMENT, subcommand
from bot.config import Settings


def add_check(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    subcommand(
        commands,
        "check",
        "preflight a deployment: settings, store, synced data's age, Slack token and scopes, "
        "allowlist",
        "python -m bot check",
        details=(
            "One line per check, ok or FAIL with what to do; exit 0 only when all pass, 2 "
            f"otherwise. Calls Slack's auth.test with SLACK_BOT_TOKEN. {STORE_ENVIRONMENT}"
        ),
    ).set_defaults(run=check)


def add_manifest(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    manifest = subcommand(
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
    manifest.set_defaults(run=print_manifest, serving=False)


def check(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.cli.preflight import run_checks

    results = run_checks(settings)
    for result in results:
        print(result.line())
    return 0 if all(result.ok for result in results) else 2


def print_manifest(settings: Settings, args: argparse.Namespace) -> int:
    from bot.cli.manifest import build_manifest, render_manifest

    if args.http is not None:
        base = urlsplit(args.http)
        if base.scheme != "https" or not base.hostname:
            # Slack takes only HTTPS request URLs (and would refuse the manifest later).
            print(
                "manifest: --http takes the bot's public HTTPS base URL, e.g. https://HOST "
                "(Slack sends requests only to https:// URLs)",
                file=sys.stderr,
            )
            return 2
    print(render_manifest(build_manifest(settings, http_base_url=args.http)), end="")
    return 0
