"""The store: customers, licenses, reconciliations, hosts, import runs, audit events.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Timestamps are naive UTC `DateTime` columns (the models read them back as aware UTC
through `UTCDateTime`; the column is the same). Like every migration, this one imports no
application code: it must build the schema of its day, whatever the code becomes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SCHEMA IF NOT EXISTS audit")

    op.create_table(
        "customer",
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("search_key", sa.String(300), nullable=False),
        sa.Column("salesforce_account_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_customer"),
    )
    op.create_index("ix_customer_search_key", "customer", ["search_key"])

    op.create_table(
        "license",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("customer_key", sa.String(300), nullable=False),
        sa.Column("company", sa.Text(), nullable=False),
        sa.Column("contact_name", sa.Text(), nullable=True),
        sa.Column("contact_email", sa.Text(), nullable=True),
        sa.Column("contact_email_key", sa.String(320), nullable=True),
        sa.Column("contact_email_domain", sa.String(255), nullable=True),
        sa.Column("plan", sa.String(64), nullable=False),
        sa.Column("user_count", sa.Integer(), nullable=True),
        sa.Column("previous_user_count", sa.Integer(), nullable=True),
        sa.Column("trueup_quantity", sa.Integer(), nullable=True),
        sa.Column("trial", sa.Boolean(), nullable=False),
        sa.Column("license_type", sa.String(32), nullable=True),
        sa.Column("issued_at", sa.DateTime(), nullable=True),
        sa.Column("starts_at", sa.Date(), nullable=True),
        sa.Column("expires_at", sa.Date(), nullable=True),
        sa.Column("zuora_subscription_id", sa.String(64), nullable=True),
        sa.Column("zuora_subscription_name", sa.String(64), nullable=True),
        sa.Column("salesforce_account_id", sa.String(64), nullable=True),
        sa.Column("zuora_account_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_license"),
    )
    for column in (
        "customer_key",
        "contact_email_key",
        "contact_email_domain",
        "zuora_subscription_id",
        "zuora_subscription_name",
    ):
        op.create_index(f"ix_license_{column}", "license", [column])

    op.create_table(
        "reconciliation",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("customer_name", sa.Text(), nullable=False),
        sa.Column("customer_search_key", sa.String(300), nullable=False),
        sa.Column("subscription_name", sa.String(64), nullable=True),
        sa.Column("zuora_subscription_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reconcile_on", sa.Date(), nullable=True),
        sa.Column("reconcile_done_at", sa.DateTime(), nullable=True),
        sa.Column("skip_reason", sa.Text(), nullable=True),
        sa.Column("user_count", sa.Integer(), nullable=True),
        sa.Column("invoiced_amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_reconciliation"),
    )
    for column in ("customer_search_key", "subscription_name", "zuora_subscription_id"):
        op.create_index(f"ix_reconciliation_{column}", "reconciliation", [column])

    op.create_table(
        "host",
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("license_id", sa.BigInteger(), nullable=True),
        sa.Column("gitlab_version", sa.String(64), nullable=True),
        sa.Column("active_user_count", sa.Integer(), nullable=True),
        sa.Column("historical_max_users", sa.Integer(), nullable=True),
        sa.Column("last_ping_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("hostname", name="pk_host"),
    )
    op.create_index("ix_host_license_id", "host", ["license_id"])

    op.create_table(
        "import_run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("file", sa.Text(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_import_run"),
    )
    op.create_index("ix_import_run_kind_finished_at", "import_run", ["kind", "finished_at"])

    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=True),
        sa.Column("enterprise_id", sa.String(32), nullable=True),
        sa.Column("user_id", sa.String(32), nullable=True),
        sa.Column("channel_id", sa.String(32), nullable=True),
        sa.Column("surface", sa.String(64), nullable=False),
        sa.Column("query", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("result_count", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_event"),
        schema="audit",
    )
    op.create_index("ix_audit_event_at", "audit_event", ["at"], schema="audit")
    op.create_index("ix_audit_event_user_id_at", "audit_event", ["user_id", "at"], schema="audit")


def downgrade() -> None:
    op.drop_table("audit_event", schema="audit")
    for table in ("import_run", "host", "reconciliation", "license", "customer"):
        op.drop_table(table)
