"""Many workspaces (OAuth): a client for each allowed installation, to read its user groups.

User groups named `T0123:S0456` are read with the token of that allowed workspace's
installation (`InstallationClients`).
"""

from __future__ import annotations

from slack_bolt.authorization.authorize import InstallationStoreAuthorize
from slack_bolt.context import BoltContext
from slack_sdk import WebClient

from bot.organisations import OrganisationAllowlist
from bot.slack.client import ClientFactory
from bot.slack.installation_store import EncryptedInstallationStore


class InstallationClients:
    """`owner id -> WebClient | None`: a client with the bot token of an allowed installation.

    For reading a user group named `T0123:S0456`: the token is that workspace's own (or, for
    `E…`, its org-wide install's), fetched through Bolt's authorize so an expiring rotating
    token is refreshed first, and only when the installation's team or enterprise is allowed.
    """

    def __init__(
        self,
        store: EncryptedInstallationStore,
        organisations: OrganisationAllowlist,
        client_factory: ClientFactory,
        *,
        authorize: InstallationStoreAuthorize,
        client: WebClient,
    ) -> None:
        self._store = store
        self._organisations = organisations
        self._client_factory = client_factory
        self._authorize = authorize
        self._client = client

    def __call__(self, owner_id: str) -> WebClient | None:
        bot = self._store.find_bot_of_owner(owner_id)
        if bot is None:
            return None
        team_id = None if bot.is_enterprise_install else bot.team_id
        if not self._organisations.allows(team_id, bot.enterprise_id):
            return None
        context = BoltContext(
            {"client": self._client, "is_enterprise_install": bot.is_enterprise_install}
        )
        result = self._authorize(
            context=context, enterprise_id=bot.enterprise_id, team_id=team_id, user_id=None
        )
        if result is None or not result.bot_token:
            return None
        return self._client_factory(result.bot_token)
