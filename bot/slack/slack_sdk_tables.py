"""slack_sdk's tables in our store as the bot uses them: their names, token columns encrypted.

slack_sdk's SQLAlchemy installation and OAuth state stores define these tables, not our models;
our Alembic migrations create them (0004), never the stores' `create_tables()`. Every column
that holds a token is an `EncryptedToken` (bot.slack.token_encryption).
"""

from __future__ import annotations

from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import MetaData, Table

from bot.slack.token_encryption import EncryptedToken, TokenCipher

INSTALLATIONS_TABLE = SQLAlchemyInstallationStore.default_installations_table_name
BOTS_TABLE = SQLAlchemyInstallationStore.default_bots_table_name
OAUTH_STATES_TABLE = SQLAlchemyOAuthStateStore.default_table_name
# Tables (and their indexes, named "<table>_idx") that slack_sdk's stores define, not our models.
SLACK_SDK_TABLES = (INSTALLATIONS_TABLE, BOTS_TABLE, OAUTH_STATES_TABLE)
# Every column of slack_sdk's tables that holds a secret.
TOKEN_COLUMNS = (
    "bot_token",
    "bot_refresh_token",
    "user_token",
    "user_refresh_token",
)


def _with_encrypted_tokens(table: Table, cipher: TokenCipher | None) -> Table:
    for name in TOKEN_COLUMNS:
        if name in table.c:
            table.c[name].type = EncryptedToken(cipher)
    return table


def build_installation_tables(
    metadata: MetaData, cipher: TokenCipher | None = None
) -> tuple[Table, Table]:
    """slack_sdk's installations and bots tables, token columns encrypted; (installations, bots)."""
    installations = SQLAlchemyInstallationStore.build_installations_table(
        metadata, INSTALLATIONS_TABLE
    )
    bots = SQLAlchemyInstallationStore.build_bots_table(metadata, BOTS_TABLE)
    return _with_encrypted_tokens(installations, cipher), _with_encrypted_tokens(bots, cipher)


def slack_sdk_metadata() -> MetaData:
    """The schema of slack_sdk's stores as the bot uses it: what migration 0004 must create."""
    metadata = MetaData()
    build_installation_tables(metadata)
    SQLAlchemyOAuthStateStore.build_oauth_states_table(metadata, OAUTH_STATES_TABLE)
    return metadata
