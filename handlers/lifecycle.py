"""app_uninstalled and tokens_revoked: forget the workspace's installation and tokens at once.

These events carry no user; the allowlist lets them through (bot.slack.allowlist). With OAuth
installs the rows and their encrypted tokens are deleted from the store before the event is
acknowledged, and the workspace's identity resolver and its cached access decisions are
forgotten (bot.slack.workspace_resolvers.WorkspaceResolvers); with a single SLACK_BOT_TOKEN there is nothing stored to delete, so the event is
logged for the operator, who should remove the token from the environment.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import BoltContext

from bot.slack.installation_store import forget_revoked_tokens, forget_uninstalled
from handlers.binding import bind

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.services import Services
    from bot.slack.installation_store import EncryptedInstallationStore
    from bot.slack.workspace_resolvers import WorkspaceResolvers

logger = logging.getLogger(__name__)


def handle_app_uninstalled(
    context: BoltContext,
    *,
    installation_store: EncryptedInstallationStore | None,
    workspace_resolvers: WorkspaceResolvers | None,
) -> None:
    logger.info("app_uninstalled enterprise=%s team=%s", context.enterprise_id, context.team_id)
    if installation_store is None:
        logger.warning("the app was uninstalled: SLACK_BOT_TOKEN no longer works")
        return
    forget_uninstalled(
        installation_store,
        enterprise_id=context.enterprise_id,
        team_id=context.team_id,
        is_enterprise_install=bool(context.is_enterprise_install),
    )
    if workspace_resolvers is not None:
        workspace_resolvers.forget_workspace_of(context)


def handle_tokens_revoked(
    event: dict[str, Any],
    context: BoltContext,
    *,
    installation_store: EncryptedInstallationStore | None,
    workspace_resolvers: WorkspaceResolvers | None,
) -> None:
    tokens = event.get("tokens") or {}
    logger.info(
        "tokens_revoked enterprise=%s team=%s bot=%d user=%d",
        context.enterprise_id,
        context.team_id,
        len(tokens.get("bot") or []),
        len(tokens.get("oauth") or []),
    )
    if installation_store is None:
        if tokens.get("bot"):
            logger.warning("the bot token was revoked: SLACK_BOT_TOKEN no longer works")
        return
    forget_revoked_tokens(
        installation_store,
        tokens,
        enterprise_id=context.enterprise_id,
        team_id=context.team_id,
        is_enterprise_install=bool(context.is_enterprise_install),
    )
    if workspace_resolvers is not None and tokens.get("bot"):
        workspace_resolvers.forget_workspace_of(context)


def register(app: App, services: Services) -> None:
    # Both None with a single SLACK_BOT_TOKEN: nothing stored to forget.
    store = services.installation_store
    resolvers = services.workspace_resolvers
    uninstalled = bind(
        handle_app_uninstalled, installation_store=store, workspace_resolvers=resolvers
    )
    revoked = bind(handle_tokens_revoked, installation_store=store, workspace_resolvers=resolvers)
    # Bolt acknowledges events itself; with process_before_response the deletion is done
    # before Slack hears the ack.
    app.event("app_uninstalled")(uninstalled)
    app.event("tokens_revoked")(revoked)
