"""A C-collated B-tree over customer.search_key for name prefixes on PostgreSQL (issue 6).

Name search reads the keys starting with the query as a range, in key order, LIMITed
(bot.search.probes._prefix_candidates). The column's own index follows the database's
collation: under a non-C locale it can serve neither the bytewise range nor the order, so each
prefix query fell to the GIN trigram index, which ranks every name sharing a trigram. SQLite
compares text bytewise already: its plain index on search_key serves the same range, so it
needs nothing.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

POSTGRESQL_PREFIX_INDEX = "ix_customer_search_key_prefix"  # bot.store.schema.SEARCH_INDEX_OBJECTS


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f'CREATE INDEX IF NOT EXISTS {POSTGRESQL_PREFIX_INDEX} ON customer (search_key COLLATE "C")'
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {POSTGRESQL_PREFIX_INDEX}")
