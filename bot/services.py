"""The long-lived objects a process shares between requests, and how they are built.

The wiring module (bot/app.py) builds them once and hands them to every listener (handlers/);
this module imports nothing of either, so a listener depends on what it is given, not on the
wiring that gives it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.answers.lookups import LookupService
from bot.config import Settings
from bot.freshness import FreshnessRule
from bot.links import Links
from bot.slack.client import create_web_client
from bot.slack.installation_store import EncryptedInstallationStore, build_installation_store
from bot.slack.workspace_resolvers import WorkspaceResolvers
from bot.store.db import create_store_engine, make_session_factory
from bot.store.schema import ensure_schema
from bot.store.wal_checkpoints import (
    BACKSTOP_AUTOCHECKPOINT_PAGES,
    WalCheckpointer,
    start_wal_checkpoints,
)


@dataclass(frozen=True)
class Services:
    """Long-lived objects shared by every request of a process."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    links: Links
    lookups: LookupService
    # OAuth mode only (many workspaces): where installs and their encrypted tokens live.
    installation_store: EncryptedInstallationStore | None = None
    # OAuth mode only: one identity resolver per workspace, forgotten when it uninstalls.
    workspace_resolvers: WorkspaceResolvers | None = None
    # A serving process on SQLite: its WAL checkpoints, off the request path.
    wal_checkpointer: WalCheckpointer | None = None


def build_services(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Callable[[], datetime] | None = None,
    checkpoint_in_background: bool = False,
) -> Services:
    """`checkpoint_in_background`: for a serving process (after gunicorn's fork) on SQLite, a
    thread checkpoints the store's WAL files and a request's commit does so only as a backstop
    (bot/store/wal_checkpoints.py: a checkpoint inside a commit stalled one lookup in a hundred
    by ~10 ms)."""
    engine = engine or create_store_engine(
        settings.database_url,
        statement_timeout_ms=settings.database_statement_timeout_ms,
        connect_timeout_seconds=settings.database_connect_timeout_seconds,
        wal_autocheckpoint_pages=BACKSTOP_AUTOCHECKPOINT_PAGES
        if checkpoint_in_background
        else None,
    )
    ensure_schema(engine, public_email_domains=settings.public_email_domains)
    session_factory = make_session_factory(engine)
    links = Links.from_settings(settings)
    lookups = LookupService(
        session_factory,
        links,
        show_contact_emails_in_channels=settings.show_contact_emails_in_channels,
        clock=clock,
        rate_limit_per_hour=settings.lookup_rate_limit_per_hour,
        freshness=FreshnessRule.from_settings(settings),
        answer_cache_size=settings.answer_cache_size,
    )
    checkpointer = start_wal_checkpoints(engine) if checkpoint_in_background else None
    services = Services(
        settings, engine, session_factory, links, lookups, wal_checkpointer=checkpointer
    )
    return with_oauth_parts(settings, services) if settings.oauth_enabled else services


def with_oauth_parts(settings: Settings, services: Services) -> Services:
    """`services` with what OAuth mode needs, built here only and kept in Services: the
    installation store and the workspace resolvers, which the lifecycle handlers
    (handlers/lifecycle.py) must reach to forget an uninstalled workspace."""
    return replace(
        services,
        installation_store=services.installation_store
        or build_installation_store(settings, services.engine),
        # Not `or`: an empty WorkspaceResolvers is falsy (it has a length).
        workspace_resolvers=services.workspace_resolvers
        if services.workspace_resolvers is not None
        # Each workspace's users are looked up with that workspace's own token.
        else WorkspaceResolvers(settings, lambda token: create_web_client(settings, token)),
    )
