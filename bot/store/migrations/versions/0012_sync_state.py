"""The record of syncs and the sync lease (issue 21: `python -m bot sync`).

`sync_state`: one row per import kind, what its last sync attempt did (the source described
with credentials masked, when it was tried, its outcome, the last success's rows and duration
and validators, the last error). `sync_lease`: at most one row, the sync running now and when
its lease expires, so two syncs never run at once. Both in the main schema. New tables only:
the previous release's workers never read them, so a rolling deploy needs no expand step.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_state",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_outcome", sa.String(16), nullable=False),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.Column("last_success_rows", sa.BigInteger(), nullable=True),
        sa.Column("last_success_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(), nullable=True),
        sa.Column("failing_since", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(2000), nullable=True),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("watermark", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("kind", name="pk_sync_state"),
    )
    op.create_table(
        "sync_lease",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_sync_lease_one_row"),
        sa.PrimaryKeyConstraint("id", name="pk_sync_lease"),
    )


def downgrade() -> None:
    op.drop_table("sync_lease")
    op.drop_table("sync_state")
