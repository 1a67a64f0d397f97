"""Installing the app: Bolt's OAuth flow, its settings, and the page a refused installer sees.

With SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_SCOPES set the bot is installable into any
number of workspaces (and Enterprise Grid organisations). Bolt's OAuth flow serves
/slack/install and /slack/oauth_redirect, and slack_sdk's SQLAlchemy installation and state
stores keep what it learns in our own store (bot.slack.installation_store), in tables our
Alembic migrations create (0004).

Only the organisations in ALLOWED_TEAM_IDS / ALLOWED_ENTERPRISE_IDS (bot.organisations) may
install: `OrganisationOAuthFlow` refuses any other installation after Slack's consent screen,
before anything is stored, with a page that says why.
"""

from __future__ import annotations

import html
import logging

from slack_bolt.error import BoltError
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Engine

from bot.config import ConfigError, Settings
from bot.organisations import OrganisationAllowlist
from bot.slack.installation_store import EncryptedInstallationStore

logger = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_URI_PATH = "/slack/oauth_redirect"
# Refresh a rotating token this long before it expires (Slack issues them for 12 hours).
TOKEN_ROTATION_MINUTES = 120
OAUTH_STATE_SECONDS = 600
INSTALL_REFUSED_STATUS = 403


class InstallationRefused(BoltError):
    """An installation into a workspace or organisation the app does not serve."""

    def __init__(self, team_id: str | None, enterprise_id: str | None) -> None:
        super().__init__(f"installation refused: team={team_id} enterprise={enterprise_id}")
        self.team_id = team_id
        self.enterprise_id = enterprise_id


class OrganisationOAuthFlow(OAuthFlow):
    """Bolt's OAuth flow, storing only installations into an allowed organisation.

    Slack has already granted the token by the time the redirect arrives; refusing here keeps it
    out of the store, so no request from that workspace is ever authorized, and the app is
    uninstalled from it again (apps.uninstall) so it does not linger there, unusable."""

    def __init__(
        self,
        *,
        organisations: OrganisationAllowlist,
        client: WebClient | None = None,
        settings: OAuthSettings,
    ) -> None:
        super().__init__(client=client, logger=logger, settings=settings)
        self.organisations = organisations

    def store_installation(self, request: BoltRequest, installation: Installation) -> None:
        team_id = None if installation.is_enterprise_install else installation.team_id
        if not self.organisations.allows(team_id, installation.enterprise_id):
            logger.warning(
                "refused an installation into team=%s enterprise=%s: not in ALLOWED_TEAM_IDS or "
                "ALLOWED_ENTERPRISE_IDS",
                installation.team_id,
                installation.enterprise_id,
            )
            self._uninstall(installation)
            raise InstallationRefused(installation.team_id, installation.enterprise_id)
        super().store_installation(request, installation)

    def _uninstall(self, installation: Installation) -> None:
        try:
            self.client.apps_uninstall(
                token=installation.bot_token,
                client_id=self.settings.client_id,
                client_secret=self.settings.client_secret,
            )
        except Exception as error:  # the refusal stands; the token was never stored
            logger.warning(
                "apps.uninstall after a refused install failed: %s", type(error).__name__
            )


def refused_installation_page(error: InstallationRefused) -> str:
    """The page an installer from another organisation sees: what happened, and what to do."""
    where = html.escape(str(error.team_id or error.enterprise_id or "unknown"))
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        "<title>CustomersDot was not installed</title></head><body>"
        "<h1>CustomersDot was not installed</h1>"
        f"<p>This app serves only its own organisation, and this workspace ({where}) is not "
        "one of the workspaces or Enterprise Grid organisations it is set up for. Nothing was "
        "stored.</p>"
        "<p>If you think it should be, ask the team that runs CustomersDot to add the workspace "
        "to <code>ALLOWED_TEAM_IDS</code> (or its organisation to "
        "<code>ALLOWED_ENTERPRISE_IDS</code>), then install again. You can remove the app "
        "from this workspace in its settings.</p></body></html>"
    )


def _install_succeeded(args: SuccessArgs) -> BoltResponse:
    return args.default.success(args)


def _install_failed(args: FailureArgs) -> BoltResponse:
    if isinstance(args.error, InstallationRefused):
        return BoltResponse(
            status=INSTALL_REFUSED_STATUS,
            body=refused_installation_page(args.error),
            headers={"Content-Type": "text/html; charset=utf-8"},
        )
    return args.default.failure(args)


def build_oauth_flow(
    settings: Settings, oauth_settings: OAuthSettings, client: WebClient
) -> OrganisationOAuthFlow:
    return OrganisationOAuthFlow(
        organisations=settings.organisations, client=client, settings=oauth_settings
    )


def build_oauth_settings(
    settings: Settings,
    engine: Engine,
    installation_store: EncryptedInstallationStore,
) -> OAuthSettings:
    if settings.slack_client_id is None or settings.slack_client_secret is None:
        raise ConfigError("SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are needed for OAuth installs")
    return OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        scopes=list(settings.slack_scopes),
        # Slack's scopes for a user token: none; the bot acts only as itself.
        user_scopes=[],
        redirect_uri=settings.slack_redirect_uri,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_URI_PATH,
        # /slack/install sends the installer straight to Slack's consent screen.
        install_page_rendering_enabled=False,
        installation_store=installation_store,
        # Only the bot token is ever used; installers' user tokens are not requested.
        installation_store_bot_only=True,
        token_rotation_expiration_minutes=TOKEN_ROTATION_MINUTES,
        state_store=SQLAlchemyOAuthStateStore(
            expiration_seconds=OAUTH_STATE_SECONDS, engine=engine, logger=logger
        ),
        state_expiration_seconds=OAUTH_STATE_SECONDS,
        # An installation outside the allowed organisations gets a page saying so.
        callback_options=CallbackOptions(success=_install_succeeded, failure=_install_failed),
        logger=logger,
    )
