"""Company names and contacts' names indexed apart.

0008 indexed every name of `customer_name` together, so a query probed companies and people in
one LIMITed read: `/license John` read the first hundred keys starting with `john`, most of them
contacts (`john smith`, …), and `John Deere` could fall beyond them. Each of the engine's name
indexes is now two, one over the names of kind `contact` and one over the rest, so search probes
the companies first and the people after, each up to its own limit (bot.search.probes).

- SQLite: the FTS5 trigram table `customer_name_search` holds the company names only; a second,
  `contact_name_search`, the contacts'; their triggers index a row by its kind (a name whose
  kind changes moves between them). Partial B-trees over `search_key` serve each kind's prefix
  ranges.
- PostgreSQL: 0008's pg_trgm GIN index and C-collated B-tree are replaced by partial ones, per
  kind. The predicates are literal in the queries too (`kind <> 'contact'`), or the planner
  could not prove they hold.

The indexes are filled from the rows already there. No application code is imported.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# bot.search.probes reads these names.
SQLITE_COMPANY_INDEX = "customer_name_search"
SQLITE_CONTACT_INDEX = "contact_name_search"
COMPANY = "kind <> 'contact'"
CONTACT = "kind = 'contact'"
_INDEXES = ((SQLITE_COMPANY_INDEX, "company", COMPANY), (SQLITE_CONTACT_INDEX, "contact", CONTACT))


def _sqlite_index(fts: str, kind: str, predicate: str) -> tuple[str, ...]:
    """An external-content FTS5 table over the rows of `customer_name` matching `predicate`,
    with the triggers that keep it so, filled from the rows there now; and a partial B-tree for
    the kind's prefix ranges."""
    old = predicate.replace("kind", "old.kind")
    new = predicate.replace("kind", "new.kind")
    return (
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5("
        "search_key, content='customer_name', content_rowid='id', tokenize='trigram')",
        f"""CREATE TRIGGER {fts}_after_insert AFTER INSERT ON customer_name WHEN {new} BEGIN
            INSERT INTO {fts} (rowid, search_key) VALUES (new.id, new.search_key);
        END""",
        f"""CREATE TRIGGER {fts}_after_delete AFTER DELETE ON customer_name WHEN {old} BEGIN
            INSERT INTO {fts} ({fts}, rowid, search_key) VALUES ('delete', old.id, old.search_key);
        END""",
        # One trigger for both halves, in order: the old row leaves before the new one enters.
        f"""CREATE TRIGGER {fts}_after_update AFTER UPDATE ON customer_name
        WHEN old.search_key IS NOT new.search_key OR old.id IS NOT new.id
            OR old.kind IS NOT new.kind BEGIN
            INSERT INTO {fts} ({fts}, rowid, search_key)
                SELECT 'delete', old.id, old.search_key WHERE {old};
            INSERT INTO {fts} (rowid, search_key) SELECT new.id, new.search_key WHERE {new};
        END""",
        # 'rebuild' would read every row of the content table: emptied, then filled with the
        # kind's rows.
        f"INSERT INTO {fts} ({fts}) VALUES ('delete-all')",
        f"INSERT INTO {fts} (rowid, search_key)"
        f" SELECT id, search_key FROM customer_name WHERE {predicate}",
        f"CREATE INDEX ix_customer_name_{kind}_key ON customer_name (search_key) WHERE {predicate}",
    )


def _sqlite_drop(fts: str, kind: str) -> tuple[str, ...]:
    return (
        f"DROP INDEX IF EXISTS ix_customer_name_{kind}_key",
        f"DROP TRIGGER IF EXISTS {fts}_after_update",
        f"DROP TRIGGER IF EXISTS {fts}_after_delete",
        f"DROP TRIGGER IF EXISTS {fts}_after_insert",
    )


# 0008's SQLite triggers (over every row) and PostgreSQL indexes.
_SQLITE_0008_TRIGGERS = tuple(
    f"DROP TRIGGER IF EXISTS {SQLITE_COMPANY_INDEX}_after_{event}"
    for event in ("update", "delete", "insert")
)
_SQLITE_0008_INDEX = (
    f"""CREATE TRIGGER {SQLITE_COMPANY_INDEX}_after_insert AFTER INSERT ON customer_name BEGIN
        INSERT INTO {SQLITE_COMPANY_INDEX} (rowid, search_key) VALUES (new.id, new.search_key);
    END""",
    f"""CREATE TRIGGER {SQLITE_COMPANY_INDEX}_after_delete AFTER DELETE ON customer_name BEGIN
        INSERT INTO {SQLITE_COMPANY_INDEX} ({SQLITE_COMPANY_INDEX}, rowid, search_key)
        VALUES ('delete', old.id, old.search_key);
    END""",
    f"""CREATE TRIGGER {SQLITE_COMPANY_INDEX}_after_update AFTER UPDATE ON customer_name
    WHEN old.search_key IS NOT new.search_key OR old.id IS NOT new.id BEGIN
        INSERT INTO {SQLITE_COMPANY_INDEX} ({SQLITE_COMPANY_INDEX}, rowid, search_key)
        VALUES ('delete', old.id, old.search_key);
        INSERT INTO {SQLITE_COMPANY_INDEX} (rowid, search_key) VALUES (new.id, new.search_key);
    END""",
    f"INSERT INTO {SQLITE_COMPANY_INDEX} ({SQLITE_COMPANY_INDEX}) VALUES ('rebuild')",
)
_POSTGRESQL_0008_TRIGRAM = "ix_customer_name_search_key_trgm"
_POSTGRESQL_0008_PREFIX = "ix_customer_name_search_key_prefix"


def _postgresql_indexes(kind: str, predicate: str) -> tuple[str, ...]:
    # As 0008 built them (fastupdate off: searches never scan a pending list), per kind.
    return (
        f"CREATE INDEX ix_customer_name_{kind}_key_trgm ON customer_name"
        f" USING gin (search_key gin_trgm_ops) WITH (fastupdate = off) WHERE {predicate}",
        f"CREATE INDEX ix_customer_name_{kind}_key_prefix ON customer_name"
        f' (search_key COLLATE "C") WHERE {predicate}',
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_0008_TRIGGERS:
            op.execute(statement)
        for fts, kind, predicate in _INDEXES:
            for statement in _sqlite_index(fts, kind, predicate):
                op.execute(statement)
    elif dialect == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {_POSTGRESQL_0008_TRIGRAM}")
        op.execute(f"DROP INDEX IF EXISTS {_POSTGRESQL_0008_PREFIX}")
        for _, kind, predicate in _INDEXES:
            for statement in _postgresql_indexes(kind, predicate):
                op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for fts, kind, _ in _INDEXES:
            for statement in _sqlite_drop(fts, kind):
                op.execute(statement)
        op.execute(f"DROP TABLE IF EXISTS {SQLITE_CONTACT_INDEX}")
        for statement in _SQLITE_0008_INDEX:
            op.execute(statement)
    elif dialect == "postgresql":
        for _, kind, _ in _INDEXES:
            op.execute(f"DROP INDEX IF EXISTS ix_customer_name_{kind}_key_prefix")
            op.execute(f"DROP INDEX IF EXISTS ix_customer_name_{kind}_key_trgm")
        op.execute(
            f"CREATE INDEX {_POSTGRESQL_0008_TRIGRAM} ON customer_name"
            " USING gin (search_key gin_trgm_ops) WITH (fastupdate = off)"
        )
        op.execute(
            f'CREATE INDEX {_POSTGRESQL_0008_PREFIX} ON customer_name (search_key COLLATE "C")'
        )
