"""Trigram indexes over customer.search_key for name search (ARCHITECTURE.md: the search rule).

SQLite: an external-content FTS5 table with the trigram tokenizer, kept in step with the
customer table by triggers, because the importer writes that table with plain INSERT, UPDATE
(including INSERT ... ON CONFLICT DO UPDATE) and DELETE statements. PostgreSQL: pg_trgm and a
GIN index, which serves `%`, `<%` and LIKE over the key.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQLITE_NAME_INDEX = "customer_search"  # bot.search.SQLITE_NAME_INDEX
POSTGRESQL_NAME_INDEX = "ix_customer_search_key_trgm"

# The FTS index points at customer rows by rowid. `customer` has a text primary key, so its
# rowid is implicit; REPLACE would delete rows without firing the delete trigger (recursive
# triggers are off), which is why writers must upsert with ON CONFLICT DO UPDATE instead.
_SQLITE_UPGRADE = (
    f"CREATE VIRTUAL TABLE {SQLITE_NAME_INDEX} USING fts5("
    "search_key, content='customer', content_rowid='rowid', tokenize='trigram')",
    f"""CREATE TRIGGER {SQLITE_NAME_INDEX}_after_insert AFTER INSERT ON customer BEGIN
        INSERT INTO {SQLITE_NAME_INDEX} (rowid, search_key) VALUES (new.rowid, new.search_key);
    END""",
    f"""CREATE TRIGGER {SQLITE_NAME_INDEX}_after_delete AFTER DELETE ON customer BEGIN
        INSERT INTO {SQLITE_NAME_INDEX} ({SQLITE_NAME_INDEX}, rowid, search_key)
        VALUES ('delete', old.rowid, old.search_key);
    END""",
    f"""CREATE TRIGGER {SQLITE_NAME_INDEX}_after_update AFTER UPDATE ON customer
    WHEN old.search_key IS NOT new.search_key OR old.rowid IS NOT new.rowid BEGIN
        INSERT INTO {SQLITE_NAME_INDEX} ({SQLITE_NAME_INDEX}, rowid, search_key)
        VALUES ('delete', old.rowid, old.search_key);
        INSERT INTO {SQLITE_NAME_INDEX} (rowid, search_key) VALUES (new.rowid, new.search_key);
    END""",
    f"INSERT INTO {SQLITE_NAME_INDEX} ({SQLITE_NAME_INDEX}) VALUES ('rebuild')",
)

_SQLITE_DOWNGRADE = (
    f"DROP TRIGGER IF EXISTS {SQLITE_NAME_INDEX}_after_update",
    f"DROP TRIGGER IF EXISTS {SQLITE_NAME_INDEX}_after_delete",
    f"DROP TRIGGER IF EXISTS {SQLITE_NAME_INDEX}_after_insert",
    f"DROP TABLE IF EXISTS {SQLITE_NAME_INDEX}",
)

# pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it.
# fastupdate off: GIN's pending list would make every search after an import scan the
# queued entries linearly until a vacuum merges them; imports rewrite few customer rows, so
# writing straight into the index costs little. (A first load, into an empty table, takes the
# pending list for its transaction and merges it before the commit: bot/store/customers.py.)
_POSTGRESQL_UPGRADE = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    f"CREATE INDEX {POSTGRESQL_NAME_INDEX} ON customer"
    " USING gin (search_key gin_trgm_ops) WITH (fastupdate = off)",
)

# Without CASCADE: if anything else has come to depend on pg_trgm, the downgrade stops.
_POSTGRESQL_DOWNGRADE = (
    f"DROP INDEX IF EXISTS {POSTGRESQL_NAME_INDEX}",
    "DROP EXTENSION IF EXISTS pg_trgm",
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    statements = {"sqlite": _SQLITE_UPGRADE, "postgresql": _POSTGRESQL_UPGRADE}.get(dialect, ())
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    statements = {"sqlite": _SQLITE_DOWNGRADE, "postgresql": _POSTGRESQL_DOWNGRADE}.get(dialect, ())
    for statement in statements:
        op.execute(statement)
