"""Schema migrations (Alembic), run programmatically against an engine, followed at the head
by the store's upkeep (bot/store/upkeep.py: what today's code computes from the data)."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Table, inspect, text

from bot.store.data_generation import bump_data_generation
from bot.store.db import SQLITE_BEGIN_OPTION, is_sqlite
from bot.store.failures import StoreNotMigrated

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_log = logging.getLogger(__name__)


# The name search indexes are engine-specific and live only in migrations 0009 (over
# `customer_name`, one set for companies' names and one for people's: FTS5 tables, their
# triggers and partial B-trees on SQLite, partial pg_trgm GIN indexes and C-collated B-trees
# for prefixes on PostgreSQL; 0008 built one set, 0002 and 0005 over `customer`) and 0006 (the
# word vocabulary's FTS5 table and triggers on SQLite, a pg_trgm GIN index on PostgreSQL), not
# in the models.
SEARCH_INDEX_OBJECTS = (
    "customer_name_search",
    "contact_name_search",
    "ix_customer_name_company_key",
    "ix_customer_name_contact_key",
    "search_word_trigram",
    "ix_search_word_trgm",
)
# slack_sdk's installation and OAuth state tables (migration 0004) are described by slack_sdk,
# not by our models; their indexes are named "<table>_idx". tests/slack/test_installations.py compares
# them with bot.slack.slack_sdk_tables.slack_sdk_metadata() instead.
SLACK_SDK_OBJECTS = ("slack_installations", "slack_bots", "slack_oauth_states")


# Tables a migration moved but left in place for the code still running during a rolling
# deploy (the old workers keep writing there until they stop): dropped by a later release.
# processed_event: moved to the audit schema by 0010.
RETIRED_TABLES = frozenset({"processed_event"})


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Autogenerate filter: leave the search index, slack_sdk's tables and the retired tables
    of the default schema alone."""
    if name and name.startswith(SEARCH_INDEX_OBJECTS + SLACK_SDK_OBJECTS):
        return False
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return not (
        reflected
        and getattr(table, "name", None) in RETIRED_TABLES
        and getattr(table, "schema", None) is None
    )


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@functools.cache
def head_revision() -> str | None:
    # Cached: /readyz asks on every probe, and the migration scripts do not change at run time.
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


# Alembic logs "Context impl …" and "Will assume … DDL" at INFO whenever a migration context
# is made: useful before `db upgrade` runs migrations, noise on every /readyz probe.
_ALEMBIC_MIGRATION_LOGGER = "alembic.runtime.migration"
_reading_revision: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "customersdot_reading_revision", default=False
)


class _WhileReadingRevision(logging.Filter):
    """Drops Alembic's context lines logged while only the current revision is being read."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _reading_revision.get()


@functools.cache
def _quiet_alembic_filter() -> _WhileReadingRevision:
    # Installed on first use (no import-time side effects); a context variable, not the
    # logger's level, so a `db upgrade` in another thread keeps its lines.
    quiet = _WhileReadingRevision()
    logging.getLogger(_ALEMBIC_MIGRATION_LOGGER).addFilter(quiet)
    return quiet


@contextlib.contextmanager
def _reading_revision_quietly() -> Iterator[None]:
    _quiet_alembic_filter()
    token = _reading_revision.set(True)
    try:
        yield
    finally:
        _reading_revision.reset(token)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection, _reading_revision_quietly():
        return MigrationContext.configure(connection).get_current_revision()


def is_up_to_date(engine: Engine) -> bool:
    """The schema is the latest, the audit schema's tables included (a SQLite store copied
    without its `.audit.sqlite3` is at the head, yet could audit nothing)."""
    return current_revision(engine) == head_revision() and not missing_audit_tables(engine)


def _audit_tables() -> list[Table]:
    from bot.store.models import AUDIT_SCHEMA, Base

    return [table for table in Base.metadata.sorted_tables if table.schema == AUDIT_SCHEMA]


def missing_audit_tables(engine_or_connection: Engine | Connection) -> list[str]:
    """The audit schema's tables the store lacks (on SQLite the attached audit file's)."""
    inspector = inspect(engine_or_connection)
    return [
        table.name
        for table in _audit_tables()
        if not inspector.has_table(table.name, schema=table.schema)
    ]


# Any constant will do: it names the lock every instance's `db upgrade` queues on.
MIGRATION_LOCK_ID = 7_245_160_118


def upgrade(
    engine: Engine, revision: str = "head", *, public_email_domains: Iterable[str] = ()
) -> None:
    """Bring the schema to `revision`, and at the head the data up to today's code (the store's
    upkeep: refold, public mail domains, regroup, as far as they are stale), in one
    transaction. Idempotent, and safe to run from every release and every instance at once: on
    PostgreSQL the migration waits on an advisory lock held until commit, so concurrent runs
    take turns and the later ones find nothing left to do. `public_email_domains`: the
    operator's additions (PUBLIC_EMAIL_DOMAINS)."""
    from bot.store import upkeep

    config = _alembic_config()
    # SQLite: the write lock before Alembic's first read, or a run that read while another
    # committed could not write after it (SQLITE_BUSY_SNAPSHOT, which no busy timeout waits
    # out); holding it, a second run waits its turn and finds the first's work done.
    with (
        engine.connect().execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"}) as connection,
        connection.begin(),
    ):
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        if revision == "head" and missing_audit_tables(connection):
            # A SQLite store whose audit file was lost (copied without it): the main file is
            # at the head, so no migration would make them again. Made as the head has them;
            # the rows that were in the lost file are gone.
            _log.warning(
                "the audit schema lacked %s: made empty",
                ", ".join(missing_audit_tables(connection)),
            )
            from bot.store.models import Base

            Base.metadata.create_all(connection, tables=_audit_tables(), checkfirst=True)
        if revision == "head":
            domains = upkeep.public_email_domains(public_email_domains)
            upkeep.bring_store_up_to_date(connection, domains)
            # A migration or the upkeep may have rewritten what lookups read: answers kept
            # before it are not given after it.
            bump_data_generation(connection)


def ensure_schema(engine: Engine, *, public_email_domains: Iterable[str] = ()) -> None:
    """Upgrade a SQLite store on first use; a server database is upgraded by its release step."""
    if is_sqlite(engine) and not is_up_to_date(engine):
        upgrade(engine, public_email_domains=public_email_domains)


def require_schema(engine: Engine, *, public_email_domains: Iterable[str] = ()) -> None:
    """ensure_schema, then refuse a store whose schema is not the latest (a server database
    that was never migrated): the commands that need the store say so instead of failing on
    the first missing table."""
    ensure_schema(engine, public_email_domains=public_email_domains)
    current = current_revision(engine)
    if current != head_revision():
        raise StoreNotMigrated(current, head_revision())
