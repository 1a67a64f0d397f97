"""The store of OAuth installs: slack_sdk's SQLAlchemy installation store, tokens encrypted.

Bolt's OAuth flow (bot.slack.oauth) stores each installation here, in our own store, in tables
our Alembic migrations create (bot.slack.slack_sdk_tables); every token in them is encrypted
(bot.slack.token_encryption). An uninstalled workspace and a revoked token are forgotten here
(`forget_uninstalled`, `forget_revoked_tokens`: handlers/lifecycle.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from sqlalchemy import Engine, MetaData, desc, select

from bot.config import ConfigError, Settings
from bot.slack.slack_sdk_tables import build_installation_tables
from bot.slack.token_encryption import TokenCipher

logger = logging.getLogger(__name__)


class EncryptedInstallationStore(SQLAlchemyInstallationStore):
    """slack_sdk's SQLAlchemy installation store, unchanged but for encrypted token columns.

    The tables come from migrations, never from `create_tables()`.
    """

    def __init__(self, client_id: str, engine: Engine, cipher: TokenCipher) -> None:
        super().__init__(client_id=client_id, engine=engine, logger=logger)
        self.metadata = MetaData()
        self.installations, self.bots = build_installation_tables(self.metadata, cipher)

    def create_tables(self) -> None:
        raise NotImplementedError(
            "the installation tables are created by `python -m bot db upgrade`"
        )

    def find_bot_of_owner(self, owner_id: str) -> Bot | None:
        """The latest bot installation of a workspace (T…, in or out of a Grid organisation),
        or of an org-wide install (E…); None if there is none."""
        c = self.bots.c
        query = select(self.bots).where(c.client_id == self.client_id, c.bot_token.is_not(None))
        if owner_id.startswith("E"):
            query = query.where(c.enterprise_id == owner_id, c.team_id.is_(None))
        else:
            query = query.where(c.team_id == owner_id)
        with self.engine.connect() as connection:
            row = connection.execute(query.order_by(desc(c.installed_at)).limit(1)).mappings()
            found = row.first()
        return None if found is None else self.build_bot_entity(found)

    def delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """Every installation and bot row of a workspace (or an org-wide install), tokens too."""
        self.delete_bot(enterprise_id=enterprise_id, team_id=team_id)
        self.delete_installation(enterprise_id=enterprise_id, team_id=team_id)
        logger.info("deleted installation enterprise=%s team=%s", enterprise_id, team_id)

    def delete_user_tokens(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str
    ) -> None:
        """Forget one user's tokens, keeping the workspace's bot installation."""
        c = self.installations.c
        with self.engine.begin() as connection:
            connection.execute(
                self.installations.update()
                .where(
                    c.client_id == self.client_id,
                    c.enterprise_id == enterprise_id,
                    c.team_id == team_id,
                    c.user_id == user_id,
                )
                .values(
                    user_token=None,
                    user_refresh_token=None,
                    user_token_expires_at=None,
                    user_scopes=None,
                )
            )


def installation_team(team_id: str | None, is_enterprise_install: bool) -> str | None:
    """The team id an installation is stored under: none for an org-wide (Grid) install."""
    return None if is_enterprise_install else team_id


def forget_uninstalled(
    store: EncryptedInstallationStore,
    *,
    enterprise_id: str | None,
    team_id: str | None,
    is_enterprise_install: bool = False,
) -> None:
    """app_uninstalled: every installation row and token of the workspace or org, at once."""
    store.delete_all(
        enterprise_id=enterprise_id, team_id=installation_team(team_id, is_enterprise_install)
    )


def forget_revoked_tokens(
    store: EncryptedInstallationStore,
    tokens: Mapping[str, Any],
    *,
    enterprise_id: str | None,
    team_id: str | None,
    is_enterprise_install: bool = False,
) -> None:
    """tokens_revoked: `tokens` is the event's {"oauth": [user ids], "bot": [bot user ids]}."""
    team = installation_team(team_id, is_enterprise_install)
    if tokens.get("bot"):
        # The app is bot-only: without its bot token an installation is of no use, and its
        # rows hold copies of that (revoked) token. Forget them all.
        store.delete_all(enterprise_id=enterprise_id, team_id=team)
    for user_id in tokens.get("oauth") or []:
        store.delete_user_tokens(enterprise_id=enterprise_id, team_id=team, user_id=str(user_id))


def build_installation_store(settings: Settings, engine: Engine) -> EncryptedInstallationStore:
    """The store of OAuth installs; a ConfigError without a valid SLACK_TOKEN_ENCRYPTION_KEY."""
    if not settings.oauth_enabled or settings.slack_client_id is None:
        raise ConfigError(
            "SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_SCOPES are needed for OAuth installs"
        )
    cipher = TokenCipher.from_setting(settings.slack_token_encryption_key)
    return EncryptedInstallationStore(settings.slack_client_id, engine, cipher)
