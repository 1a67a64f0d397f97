"""Every name a customer is known by, and what a customer has right now (issue 17).

- `customer_name`: one row per customer and folded name (account names, every license's
  company name, contact names), with the engine's name indexes moved onto it from `customer`
  (SQLite: an external-content FTS5 trigram table kept by triggers, as 0002 built for
  `customer`; PostgreSQL: pg_trgm GIN with fastupdate off, and 0005's C-collated B-tree for
  prefixes). Name search reads it instead of `customer.search_key`.
- `name_bigram`: pairs of adjacent CJK characters of the names, so a two-character CJK query
  is found as a substring without a table scan.
- `public_email_domain`: public mail providers' domains, which the customer rule never groups
  licenses by; `store_meta`: the versions the store's data was last brought up to.
- `license.email_domain_label`, `license.contact_search_key`: what the extended rule and the
  name index read; `host.billable_user_count`: seats in use are counted from it.
- Indexes for the identifiers a user may search by: Salesforce account ids (licenses and
  subscriptions), Zuora account ids and account numbers (subscriptions).

No data is written here, and no application code imported: the new columns and tables are
filled by the store's upkeep (bot/store/upkeep.py), which `db upgrade` runs once the schema is
at the head, because `store_meta` holds no versions yet. It refolds every name, fills the
public mail domains, and regroups the customers, which writes `customer_name` whole.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SQLITE_NAME_INDEX = "customer_name_search"  # bot.search.probes.SQLITE_NAME_INDEX
POSTGRESQL_NAME_INDEX = "ix_customer_name_search_key_trgm"
POSTGRESQL_PREFIX_INDEX = "ix_customer_name_search_key_prefix"

# As 0002 for `customer`: the FTS index points at name rows by their integer id, and writers
# change `customer_name` with plain INSERT, UPDATE and DELETE statements.
_SQLITE_NAME_INDEX = (
    f"CREATE VIRTUAL TABLE {SQLITE_NAME_INDEX} USING fts5("
    "search_key, content='customer_name', content_rowid='id', tokenize='trigram')",
    f"""CREATE TRIGGER {SQLITE_NAME_INDEX}_after_insert AFTER INSERT ON customer_name BEGIN
        INSERT INTO {SQLITE_NAME_INDEX} (rowid, search_key) VALUES (new.id, new.search_key);
    END""",
    f"""CREATE TRIGGER {SQLITE_NAME_INDEX}_after_delete AFTER DELETE ON customer_name BEGIN
        INSERT INTO {SQLITE_NAME_INDEX} ({SQLITE_NAME_INDEX}, rowid, search_key)
        VALUES ('delete', old.id, old.search_key);
    END""",
    f"""CREATE TRIGGER {SQLITE_NAME_INDEX}_after_update AFTER UPDATE ON customer_name
    WHEN old.search_key IS NOT new.search_key OR old.id IS NOT new.id BEGIN
        INSERT INTO {SQLITE_NAME_INDEX} ({SQLITE_NAME_INDEX}, rowid, search_key)
        VALUES ('delete', old.id, old.search_key);
        INSERT INTO {SQLITE_NAME_INDEX} (rowid, search_key) VALUES (new.id, new.search_key);
    END""",
)
_SQLITE_NAME_INDEX_DROP = (
    f"DROP TRIGGER IF EXISTS {SQLITE_NAME_INDEX}_after_update",
    f"DROP TRIGGER IF EXISTS {SQLITE_NAME_INDEX}_after_delete",
    f"DROP TRIGGER IF EXISTS {SQLITE_NAME_INDEX}_after_insert",
    f"DROP TABLE IF EXISTS {SQLITE_NAME_INDEX}",
)
# 0002's index on `customer`, which `customer_name` replaces.
_SQLITE_CUSTOMER_INDEX_DROP = (
    "DROP TRIGGER IF EXISTS customer_search_after_update",
    "DROP TRIGGER IF EXISTS customer_search_after_delete",
    "DROP TRIGGER IF EXISTS customer_search_after_insert",
    "DROP TABLE IF EXISTS customer_search",
)
_SQLITE_CUSTOMER_INDEX = (
    "CREATE VIRTUAL TABLE customer_search USING fts5("
    "search_key, content='customer', content_rowid='rowid', tokenize='trigram')",
    """CREATE TRIGGER customer_search_after_insert AFTER INSERT ON customer BEGIN
        INSERT INTO customer_search (rowid, search_key) VALUES (new.rowid, new.search_key);
    END""",
    """CREATE TRIGGER customer_search_after_delete AFTER DELETE ON customer BEGIN
        INSERT INTO customer_search (customer_search, rowid, search_key)
        VALUES ('delete', old.rowid, old.search_key);
    END""",
    """CREATE TRIGGER customer_search_after_update AFTER UPDATE ON customer
    WHEN old.search_key IS NOT new.search_key OR old.rowid IS NOT new.rowid BEGIN
        INSERT INTO customer_search (customer_search, rowid, search_key)
        VALUES ('delete', old.rowid, old.search_key);
        INSERT INTO customer_search (rowid, search_key) VALUES (new.rowid, new.search_key);
    END""",
    "INSERT INTO customer_search (customer_search) VALUES ('rebuild')",
)

_INDEXED_IDENTIFIERS = (
    ("license", "salesforce_account_id"),
    ("subscription", "zuora_account_id"),
    ("subscription", "account_number"),
    ("subscription", "salesforce_account_id"),
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "store_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_store_meta")),
    )
    op.create_table(
        "public_email_domain",
        sa.Column("domain", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_public_email_domain")),
    )
    op.create_table(
        "customer_name",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_key", sa.String(300), nullable=False),
        sa.Column("search_key", sa.String(300), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("folded", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_name")),
        sa.UniqueConstraint(
            "customer_key", "folded", name=op.f("uq_customer_name_customer_key_folded")
        ),
    )
    op.create_index(op.f("ix_customer_name_customer_key"), "customer_name", ["customer_key"])
    op.create_index(op.f("ix_customer_name_search_key"), "customer_name", ["search_key"])
    op.create_index(op.f("ix_customer_name_folded"), "customer_name", ["folded"])
    op.create_table(
        "name_bigram",
        sa.Column("bigram", sa.String(16), nullable=False),
        sa.Column("search_key", sa.String(300), nullable=False),
        sa.PrimaryKeyConstraint("bigram", "search_key", name=op.f("pk_name_bigram")),
    )
    op.add_column("license", sa.Column("email_domain_label", sa.String(300), nullable=True))
    op.add_column("license", sa.Column("contact_search_key", sa.String(300), nullable=True))
    op.add_column("host", sa.Column("billable_user_count", sa.Integer(), nullable=True))
    for table, column in _INDEXED_IDENTIFIERS:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column])
    if dialect == "sqlite":
        for statement in (*_SQLITE_CUSTOMER_INDEX_DROP, *_SQLITE_NAME_INDEX):
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_customer_search_key_trgm")
        op.execute("DROP INDEX IF EXISTS ix_customer_search_key_prefix")
        # As 0002 and 0005 built them for `customer` (the reasons are theirs).
        op.execute(
            f"CREATE INDEX {POSTGRESQL_NAME_INDEX} ON customer_name"
            " USING gin (search_key gin_trgm_ops) WITH (fastupdate = off)"
        )
        op.execute(
            f'CREATE INDEX {POSTGRESQL_PREFIX_INDEX} ON customer_name (search_key COLLATE "C")'
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in (*_SQLITE_NAME_INDEX_DROP, *_SQLITE_CUSTOMER_INDEX):
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {POSTGRESQL_PREFIX_INDEX}")
        op.execute(f"DROP INDEX IF EXISTS {POSTGRESQL_NAME_INDEX}")
        op.execute(
            "CREATE INDEX ix_customer_search_key_trgm ON customer"
            " USING gin (search_key gin_trgm_ops) WITH (fastupdate = off)"
        )
        op.execute(
            'CREATE INDEX ix_customer_search_key_prefix ON customer (search_key COLLATE "C")'
        )
    for table, column in reversed(_INDEXED_IDENTIFIERS):
        op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)
    op.drop_column("host", "billable_user_count")
    op.drop_column("license", "contact_search_key")
    op.drop_column("license", "email_domain_label")
    op.drop_table("name_bigram")
    op.drop_index(op.f("ix_customer_name_folded"), table_name="customer_name")
    op.drop_index(op.f("ix_customer_name_search_key"), table_name="customer_name")
    op.drop_index(op.f("ix_customer_name_customer_key"), table_name="customer_name")
    op.drop_table("customer_name")
    op.drop_table("public_email_domain")
    op.drop_table("store_meta")
