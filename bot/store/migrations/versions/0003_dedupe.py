"""De-duplication state shared by every worker: unfurled links and handled event deliveries.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Timestamps are naive UTC `DateTime` columns (the models read them back as aware UTC
through `UTCDateTime`; the column is the same). Like every migration, this one imports no
application code: it must build the schema of its day, whatever the code becomes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unfurl_record",
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.Column("unfurled_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "url", name="pk_unfurl_record"),
    )
    op.create_index("ix_unfurl_record_unfurled_at", "unfurl_record", ["unfurled_at"])
    op.create_table(
        "processed_event",
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_processed_event"),
    )
    op.create_index("ix_processed_event_received_at", "processed_event", ["received_at"])


def downgrade() -> None:
    op.drop_table("processed_event")
    op.drop_table("unfurl_record")
