"""`python -m bot notify`: post what followed customers' imports and dates changed
(issue "Deal threads that keep themselves current"); the work is bot/slack/follow_delivery.py's,
this wires it to the settings: the store, a Slack client per workspace and the allowlist."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import TYPE_CHECKING

from bot.cli import STORE_ENVIRONMENT, subcommand
from bot.config import ConfigError, Settings

if TYPE_CHECKING:
    from slack_sdk import WebClient
    from sqlalchemy import Engine

    from bot.slack.follow_delivery import NotifyResult


def add_notify(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    notify = subcommand(
        commands,
        "notify",
        "post followed customers' news into their channels and threads, and run the daily pass",
        "python -m bot notify",
        details=(
            "Run it hourly (`python -m bot sync` runs it after syncing): each change is posted "
            "once into each follow, whichever run or machine gets there first; `--daily` "
            "follows get their digest from the first run after FOLLOW_DIGEST_AT in their "
            f"owner's time zone. {STORE_ENVIRONMENT}"
        ),
    )
    notify.add_argument(
        "--no-daily-pass",
        dest="daily_pass",
        action="store_false",
        help="deliver what is recorded, without looking for expiry and seats events",
    )
    notify.set_defaults(run=run_notify_command)


def run_notify_command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.cli.store import open_store
    from bot.logs import configure_logging

    configure_logging(settings)
    if not (settings.slack_bot_token or settings.oauth_enabled):
        raise ConfigError("notify posts to Slack: set SLACK_BOT_TOKEN (or the OAuth settings)")
    engine = open_store(settings)
    try:
        result = notify(settings, engine, daily_pass=args.daily_pass)
    finally:
        engine.dispose()
    print(result.describe(), flush=True)
    return 0


def notify_after_sync(settings: Settings, engine: Engine) -> None:
    """`python -m bot sync`'s last step: a notify run, when a Slack token is set; its failure
    is one line and never the sync's."""
    import logging

    if not (settings.slack_bot_token or settings.oauth_enabled):
        return
    try:
        result = notify(settings, engine)
    except Exception:
        logging.getLogger(__name__).exception("notify after sync failed")
        return
    if result.messages or result.paused or result.stopped or result.failed or result.given_up:
        print(result.describe(), flush=True)


def notify(settings: Settings, engine: Engine, *, daily_pass: bool = True) -> NotifyResult:
    """One notify run against `engine` (also `python -m bot sync`'s last step)."""
    from bot.access import AccessDecision
    from bot.outcomes import RefusalReason
    from bot.slack.follow_delivery import Notifier
    from bot.slack.identity import IdentityResolver
    from bot.store.db import make_session_factory

    clients: dict[str, WebClient | None] = {}
    resolvers: dict[str, IdentityResolver] = {}

    def client_for(team_id: str) -> WebClient | None:
        if team_id not in clients:
            clients[team_id] = _client_for(settings, engine, team_id)
        return clients[team_id]

    def access(user_id: str, team_id: str | None, enterprise_id: str | None) -> AccessDecision:
        client = client_for(team_id or "")
        if client is None:
            return AccessDecision.refuse(RefusalReason.NOT_INSTALLED)
        resolver = resolvers.setdefault(team_id or "", IdentityResolver(client, settings))
        return resolver.decide(user_id, team_id, enterprise_id)

    notifier = Notifier(
        make_session_factory(engine),
        client_for=client_for,
        access=access,
        digest_at=settings.follow_digest_at,
        show_contact_emails_in_channels=settings.show_contact_emails_in_channels,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    return notifier.run(daily_pass=daily_pass)


def _client_for(settings: Settings, engine: Engine, team_id: str) -> WebClient | None:
    """The bot token's client for the follow's workspace: SLACK_BOT_TOKEN, or in OAuth mode
    that workspace's installation's, a rotating token refreshed first as a request's is (None
    when it has none, or is not one the bot serves)."""
    from bot.slack.client import create_web_client

    if not settings.oauth_enabled:
        return create_web_client(settings) if settings.slack_bot_token else None
    from bot.cli.sync_alerts import installation_client

    client = installation_client(settings, engine, team_id)
    if client is None:
        print(f"notify: no installation for workspace {team_id}", file=sys.stderr)
    return client
