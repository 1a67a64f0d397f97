"""Many workspaces (OAuth): one identity resolver, and identity cache, per installation.

A workspace's resolver is dropped when it is uninstalled or its tokens are revoked
(handlers/lifecycle.py), and its cached decisions with it.
"""

from __future__ import annotations

import threading

from slack_bolt.context import BoltContext
from slack_sdk import WebClient

from bot.config import Settings
from bot.slack.client import ClientFactory
from bot.slack.identity import AccessResolver, IdentityResolver, OwnerClient


class WorkspaceResolvers:
    """`context -> IdentityResolver`: one resolver (and identity cache) per installation.

    Each workspace's users are read with that workspace's bot token; user groups
    (`T0123:S0456`) with the token of the allowed workspace that owns them (`owner_client`).
    The resolver's client follows the token Bolt authorized the request with, so a rotated
    token replaces the old one on the next request.
    """

    def __init__(
        self,
        settings: Settings,
        client_factory: ClientFactory,
        *,
        owner_client: OwnerClient | None = None,
    ) -> None:
        self._settings = settings
        self._client_factory = client_factory
        self._owner_client = owner_client
        self._lock = threading.Lock()
        self._resolvers: dict[
            tuple[str | None, str | None], tuple[IdentityResolver, WebClient]
        ] = {}

    @staticmethod
    def _key(context: BoltContext) -> tuple[str | None, str | None]:
        # The installation's ids (the authorize result), never the body's.
        result = context.authorize_result
        return (
            result.enterprise_id if result else None,
            result.team_id if result else None,
        )

    def __call__(self, context: BoltContext) -> AccessResolver:
        key = self._key(context)
        token = context.bot_token
        with self._lock:
            entry = self._resolvers.get(key)
            if entry is None:
                client = self._client_factory(token)
                resolver = IdentityResolver(client, self._settings, owner_client=self._owner_client)
                entry = (resolver, client)
                self._resolvers[key] = entry
            resolver, client = entry
            if token and client.token != token:
                client.token = token
        return resolver

    def read_user_groups_with(self, owner_client: OwnerClient) -> None:
        """Wiring (bot.app): the clients of the allowed installations that own user groups
        exist only once the OAuth app is built, after these resolvers."""
        with self._lock:
            self._owner_client = owner_client
            self._resolvers.clear()

    def forget(self, enterprise_id: str | None, team_id: str | None) -> None:
        """Drop a workspace's resolver and its cached decisions (it was uninstalled)."""
        with self._lock:
            self._resolvers.pop((enterprise_id, team_id), None)

    def forget_workspace_of(self, context: BoltContext) -> None:
        """The uninstall cleanup (handlers/lifecycle.py): drop the resolver of the workspace
        an `app_uninstalled` or `tokens_revoked` event names; an org-wide install, every
        resolver of its enterprise."""
        # A lifecycle event may come when its installation is already gone: then the body's ids
        # say whose cache to drop (dropping a cache grants nothing).
        enterprise_id, team_id = (
            self._key(context)
            if context.authorize_result is not None
            else (context.enterprise_id, context.team_id)
        )
        if context.is_enterprise_install and enterprise_id is not None:
            with self._lock:
                for key in [key for key in self._resolvers if key[0] == enterprise_id]:
                    del self._resolvers[key]
        self.forget(enterprise_id, team_id)

    def __len__(self) -> int:
        return len(self._resolvers)
