"""Many workspaces (OAuth): each request authorized with its workspace's stored installation.

The OAuth counterpart of bot.slack.authorization (one workspace, SLACK_BOT_TOKEN): Bolt's
installation-store authorize, refreshing rotating tokens through our Web API client, and
answering a request from a workspace without an installation itself (a refusal by the
allowlist, not a Bolt error).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize, InstallationStoreAuthorize
from slack_bolt.context import BoltContext
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient

from bot.slack.identity import NO_INSTALLATION_CONTEXT_KEY

logger = logging.getLogger(__name__)


class InstalledWorkspacesAuthorize(Authorize):
    """Bolt's installation-store authorize, for a workspace without an installation too.

    Bolt logs an ERROR for every request from a workspace with none ("the AuthorizeResult ...
    was not found") and answers it itself, before the allowlist: nothing audited, and a line
    an on-call engineer must read for what is a stranger's or an uninstalled workspace's
    request. Here such a request goes on without a token, flagged in its context
    (NO_INSTALLATION_CONTEXT_KEY), and the allowlist refuses it like any other refusal: one
    INFO line, an audit row (`not_installed`), a polite answer, no Slack call."""

    def __init__(self, installed: InstallationStoreAuthorize) -> None:
        self.installed = installed

    def __call__(
        self,
        *,
        context: BoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        **actor: Any,
    ) -> AuthorizeResult | None:
        found = self.installed(
            context=context,
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            **actor,
        )
        if found is not None:
            return found
        context[NO_INSTALLATION_CONTEXT_KEY] = True
        # The request's own ids, for the audit row and the log line only: nothing vouches for
        # them, and the request is refused whatever they say.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)


def build_authorize(oauth_settings: OAuthSettings, client: WebClient) -> InstallationStoreAuthorize:
    """Bolt's installation-store authorize, with its token rotator on our Web API client.

    OAuthSettings' own authorize would refresh tokens through a default client (slack.com,
    whatever SLACK_API_URL says); this one honours it.
    """
    return InstallationStoreAuthorize(
        logger=logger,
        installation_store=oauth_settings.installation_store,
        client_id=oauth_settings.client_id,
        client_secret=oauth_settings.client_secret,
        token_rotation_expiration_minutes=oauth_settings.token_rotation_expiration_minutes,
        bot_only=oauth_settings.installation_store_bot_only,
        # auth.test once per token, not once per request; a deleted installation is never
        # found in the store, so a cached result cannot outlive an uninstall.
        cache_enabled=True,
        client=client,
    )
