"""Following a customer (issue 22: "Deal threads that keep themselves current").

`follow`: a customer followed in a conversation or a thread (`thread_ts` "" for the
conversation), with its features, owner and state; `follow_evidence`: what identifies its
customer (Salesforce account, Zuora account, subscriptions, license ids); `follow_event`: a
change worth posting, recorded once by its dedupe key; `follow_delivery`: one event for one
follow, claimed once; `seat_level`: each subscription's last seats-in-use level. New tables
only: the previous release's workers never read them, so a rolling deploy needs no expand step.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "follow",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("thread_ts", sa.String(32), nullable=False),
        sa.Column("customer_key", sa.String(300), nullable=False),
        sa.Column("customer_name", sa.Text(), nullable=False),
        sa.Column("features", sa.String(64), nullable=False),
        sa.Column("daily", sa.Boolean(), nullable=False),
        sa.Column("owner_user_id", sa.String(32), nullable=False),
        sa.Column("owner_team_id", sa.String(32), nullable=True),
        sa.Column("owner_enterprise_id", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_reason", sa.String(64), nullable=True),
        sa.Column("state_changed_at", sa.DateTime(), nullable=True),
        sa.Column("last_digest_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_follow"),
        sa.UniqueConstraint(
            "channel_id", "thread_ts", "customer_key",
            name="uq_follow_channel_id_thread_ts_customer_key",
        ),
    )  # fmt: skip
    op.create_index("ix_follow_owner_user_id", "follow", ["owner_user_id"])
    op.create_index("ix_follow_state", "follow", ["state"])
    op.create_table(
        "follow_evidence",
        sa.Column("follow_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["follow_id"], ["follow.id"], name="fk_follow_evidence_follow_id_follow",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("follow_id", "kind", "value", name="pk_follow_evidence"),
    )  # fmt: skip
    op.create_index("ix_follow_evidence_kind_value", "follow_evidence", ["kind", "value"])
    op.create_table(
        "follow_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("customer_key", sa.String(300), nullable=False),
        sa.Column("subscription_name", sa.String(64), nullable=True),
        sa.Column("subject", sa.String(64), nullable=True),
        sa.Column("dedupe_key", sa.String(300), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("import_run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_follow_event"),
        sa.UniqueConstraint("dedupe_key", name="uq_follow_event_dedupe_key"),
    )
    op.create_index("ix_follow_event_customer_key", "follow_event", ["customer_key"])
    op.create_index("ix_follow_event_created_at", "follow_event", ["created_at"])
    op.create_table(
        "follow_delivery",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("follow_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.Column("posted_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["follow_id"], ["follow.id"], name="fk_follow_delivery_follow_id_follow",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["follow_event.id"], name="fk_follow_delivery_event_id_follow_event",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_follow_delivery"),
        sa.UniqueConstraint(
            "follow_id", "event_id", name="uq_follow_delivery_follow_id_event_id"
        ),
    )  # fmt: skip
    op.create_index("ix_follow_delivery_follow_id", "follow_delivery", ["follow_id"])
    op.create_index("ix_follow_delivery_event_id", "follow_delivery", ["event_id"])
    op.create_index("ix_follow_delivery_state", "follow_delivery", ["state"])
    op.create_table(
        "seat_level",
        sa.Column("subscription_name", sa.String(64), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("crossings", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("subscription_name", name="pk_seat_level"),
    )


def downgrade() -> None:
    op.drop_table("seat_level")
    op.drop_table("follow_delivery")
    op.drop_table("follow_event")
    op.drop_table("follow_evidence")
    op.drop_table("follow")
