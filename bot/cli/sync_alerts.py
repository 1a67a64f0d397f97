"""SYNC_ALERT_CHANNEL: `python -m bot sync` says in one Slack message when a kind starts failing
and when it recovers, not every run (the store's sync_state decides which run that is), and
logs the same line whether or not Slack takes it.

Posted with the bot's own Web API client (bot/slack/client.py: SLACK_API_URL, bounded
retries). With one workspace that is SLACK_BOT_TOKEN's; in OAuth mode there is no one token, so
the setting names the workspace too, `T0123:C0456`, and the alert goes with that workspace's
installation's token, as a user group named `T0123:S0456` is read (InstallationClients).

A post Slack refuses (a 429 past the retries, a 500, `channel_not_found`, `not_in_channel`) is
logged in one line and not retried: the sync's exit status stays its own, the alert line is in
the log above it, and the kind's state (`sync status`) already says it is failing. The next
alert of that kind is its next change of state.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from bot.config import ConfigError, Settings
from bot.slack.client import create_web_client
from bot.views.sync_alerts import build_sync_alert

if TYPE_CHECKING:
    from slack_sdk import WebClient
    from sqlalchemy import Engine

    from bot.sync.run import KindResult

logger = logging.getLogger(__name__)

SETTING = "SYNC_ALERT_CHANNEL"
# A public (C…) or private (G…, older ones) channel's id: what its details show at the bottom.
# Its name is not taken: a renamed channel keeps its id.
_CHANNEL_ID = r"[CG][A-Z0-9]{2,}"
CHANNEL_PATTERN = re.compile(rf"^{_CHANNEL_ID}$")
# What Slack's `error` field holds: `channel_not_found`, `not_in_channel`, `ratelimited`.
ERROR_CODE_PATTERN = re.compile(r"^[a-z_]{1,64}$")
WORKSPACE_CHANNEL_PATTERN = re.compile(
    rf"^(?P<owner>[TE][A-Z0-9]{{2,}}):(?P<channel>{_CHANNEL_ID})$"
)


@dataclass(frozen=True)
class AlertTarget:
    channel: str
    # OAuth mode: the workspace (T…) or Grid organisation (E…) whose installation posts.
    owner_id: str | None = None

    def describe(self) -> str:
        return self.channel if self.owner_id is None else f"{self.owner_id}:{self.channel}"


def alert_target(settings: Settings) -> AlertTarget | None:
    """Where alerts go (None: SYNC_ALERT_CHANNEL unset); a ConfigError when they could not be
    posted at all, said before the sync starts rather than at its first failure."""
    if settings.sync_alert_channel is None:
        return None
    value = settings.sync_alert_channel.strip()
    if settings.oauth_enabled:
        match = WORKSPACE_CHANNEL_PATTERN.match(value)
        if match is None:
            raise ConfigError(
                f"In OAuth mode {SETTING} names the channel with the workspace whose "
                "installation posts to it: T0123:C0456 (team or Grid organisation id, colon, "
                "channel id)"
            )
        return AlertTarget(channel=match["channel"], owner_id=match["owner"])
    if not settings.slack_bot_token:
        raise ConfigError(
            f"{SETTING} needs SLACK_BOT_TOKEN: the bot posts the alerts as itself "
            "(or unset it; the sync's exit status and log still say what failed)"
        )
    if CHANNEL_PATTERN.match(value) is None:
        raise ConfigError(
            f"{SETTING} is a channel id, C0123… (the channel's details show it at the bottom), "
            "not its name"
        )
    return AlertTarget(channel=value)


class SyncAlerts:
    """Posts a result's alert, if it has one. The client is made at the first alert, so a run
    without one never calls Slack."""

    def __init__(self, target: AlertTarget, client_for: Callable[[], WebClient | None]) -> None:
        self.target = target
        self._client_for = client_for
        self._client: WebClient | None = None

    def on_result(self, result: KindResult) -> None:
        if result.alert is None:
            return
        # Logged first and whatever Slack says: the log holds every alert.
        log = logger.warning if result.alert == "started_failing" else logger.info
        log("sync alert (%s) for %s: %s", result.alert, self.target.describe(), result.line)
        problem = self._post(result)
        if problem is not None:
            logger.error(
                "sync alert (%s, %s) not posted to %s %s: %s; not retried, the line above is "
                "the alert",
                result.alert,
                result.kind.value,
                SETTING,
                self.target.describe(),
                problem,
            )

    def _post(self, result: KindResult) -> str | None:
        """None once Slack took the message; else why not, in a few words."""
        assert result.alert is not None
        message = build_sync_alert(result.alert, result.line)
        try:
            if self._client is None:
                self._client = self._client_for()
            if self._client is None:
                return (
                    f"no installation of {self.target.owner_id} that the bot serves "
                    "(ALLOWED_TEAM_IDS, ALLOWED_ENTERPRISE_IDS)"
                )
            self._client.chat_postMessage(
                channel=self.target.channel,
                text=message.text,
                blocks=message.blocks_as_dicts(),
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as error:
            return f"Slack answered {_slack_error(error)}"
        except Exception as error:
            # An alert never fails the sync. The class only: a connection error's text could hold the API URL's parts.
            return f"Slack did not answer ({type(error).__name__})"
        return None


def _slack_error(error: SlackApiError) -> str:
    """`channel_not_found`, `HTTP 500`, `HTTP 429 (ratelimited)`: Slack's error code when it
    gave one (never a body it did not mean as one: an error page's HTML)."""
    data = error.response.data
    code = data.get("error") if isinstance(data, dict) else None
    code = code if isinstance(code, str) and ERROR_CODE_PATTERN.match(code) else None
    status = error.response.status_code
    if status == 200:
        return code or "ok: false"
    return f"HTTP {status}" + (f" ({code})" if code else "")


def build_sync_alerts(
    settings: Settings, target: AlertTarget | None, engine: Engine
) -> SyncAlerts | None:
    """The alerts of one sync, their client from SLACK_BOT_TOKEN or (OAuth) `engine`'s store
    of installations."""
    if target is None:
        return None
    owner_id = target.owner_id
    if owner_id is None:
        return SyncAlerts(target, lambda: create_web_client(settings))
    return SyncAlerts(target, lambda: installation_client(settings, engine, owner_id))


def installation_client(settings: Settings, engine: Engine, owner_id: str) -> WebClient | None:
    """A client with the bot token of `owner_id`'s installation, refreshed first if it rotates;
    None when it has none or is not one the bot serves."""
    from bot.slack.installation_authorization import build_authorize
    from bot.slack.installation_clients import InstallationClients
    from bot.slack.installation_store import build_installation_store
    from bot.slack.oauth import build_oauth_settings

    store = build_installation_store(settings, engine)
    # No token of its own: the installation's is fetched through Bolt's authorize.
    client = create_web_client(replace(settings, slack_bot_token=None))
    authorize = build_authorize(build_oauth_settings(settings, engine, store), client)
    clients = InstallationClients(
        store,
        settings.organisations,
        lambda token: create_web_client(settings, token),
        authorize=authorize,
        client=client,
    )
    return clients(owner_id)
