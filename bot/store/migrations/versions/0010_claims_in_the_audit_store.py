"""Request claims move to the audit schema (issue 18).

`processed_event` holds the claims that make a Slack request count once: each Events API
delivery's `event_id`, each other signed request's signature (`sig:` + a digest). On SQLite it
lived in the store's main file, which an import write-locks for as long as its file takes: a
claim could not be written then, and each worker fell back on its own memory of signatures, so
with two workers a replayed request was answered twice. The audit schema is a file of its own
on SQLite (attached beside the store), which no import locks; on PostgreSQL it is a schema of
the same database, where nothing changes but the table's address. The claims in flight are
copied over.

The old table stays (expand, then contract): a release's migration runs while the previous
release's workers still serve, and they write their claims there until they stop; dropping it
now would fail them all closed for that minute. A later release drops it
(bot.store.schema.RETIRED_TABLES). Every step may run again: on SQLite the two files do not
commit as one, and a crash between them must not leave a store no upgrade can finish.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

AUDIT_SCHEMA = "audit"  # bot.store.models.AUDIT_SCHEMA


def _create(schema: str | None) -> None:
    op.create_table(
        "processed_event",
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_processed_event"),
        schema=schema,
        if_not_exists=True,
    )
    op.create_index(
        "ix_processed_event_received_at",
        "processed_event",
        ["received_at"],
        schema=schema,
        if_not_exists=True,
    )


def _copy(source: str, target: str) -> None:
    # `WHERE true`: SQLite reads an upsert after a bare `SELECT … FROM t` as a join clause.
    op.execute(
        f"INSERT INTO {target} (event_id, received_at) SELECT event_id, received_at FROM {source}"
        " WHERE true ON CONFLICT (event_id) DO NOTHING"
    )


def upgrade() -> None:
    _create(AUDIT_SCHEMA)
    _copy("processed_event", f"{AUDIT_SCHEMA}.processed_event")


def downgrade() -> None:
    _create(None)
    _copy(f"{AUDIT_SCHEMA}.processed_event", "processed_event")
    op.drop_table("processed_event", schema=AUDIT_SCHEMA)
