"""Customers as sales knows them: the customer rule of issue 12, and the subscriptions export.

The first rule (key = Salesforce id, else the name without its legal form) split a company's
trials off its paid licenses and merged different companies (`Acme Corp`, `ACME GmbH`). This
migration adds what the new rule reads:

- `subscription`: one row per version of a Zuora subscription with its account (the new
  `subscriptions` import kind);
- `license.company_folded` / `company_search_key`: the company name as the rule compares it
  (bot.search.company_name);
- `license.license_md5` (indexed: usage pings name their license by it) and `notes`, which
  CustomersDot's own `licenses` export carries;
- `customer.folded_name` (indexed: a query that is one customer's folded name means it) and
  `customer.account_name`;
- `reconciliation.customer_key` (indexed: the card reads a customer's reconciliations by it)
  and `customer_folded_name`.

The data this schema needs (the folded names, Salesforce ids in their 18-character form, and
the customers regrouped by the rule) is not computed here: a migration imports no application
code, or a fresh `db upgrade` would run today's rule against this revision's schema. It is the
store's upkeep (bot/store/upkeep.py), run at the end of every upgrade to the latest revision
when the versions it records (migration 0008's `store_meta`) are not the code's: a store
upgraded through this revision has none yet, so it is refolded and regrouped at the head.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscription",
        sa.Column("zuora_subscription_id", sa.String(64), nullable=False),
        sa.Column("subscription_name", sa.String(64), nullable=False),
        sa.Column("subscription_version", sa.Integer(), nullable=True),
        sa.Column("zuora_account_id", sa.String(64), nullable=True),
        sa.Column("account_name", sa.Text(), nullable=True),
        sa.Column("account_number", sa.String(64), nullable=True),
        sa.Column("salesforce_account_id", sa.String(64), nullable=True),
        sa.Column("account_folded", sa.String(300), nullable=True),
        sa.Column("account_search_key", sa.String(300), nullable=True),
        sa.PrimaryKeyConstraint("zuora_subscription_id", name=op.f("pk_subscription")),
    )
    op.create_index(
        op.f("ix_subscription_subscription_name"), "subscription", ["subscription_name"]
    )
    op.add_column("license", sa.Column("license_md5", sa.String(64), nullable=True))
    op.add_column("license", sa.Column("notes", sa.Text(), nullable=True))
    op.create_index(op.f("ix_license_license_md5"), "license", ["license_md5"])
    op.add_column("license", sa.Column("company_folded", sa.String(300), nullable=True))
    op.add_column("license", sa.Column("company_search_key", sa.String(300), nullable=True))
    op.create_index(op.f("ix_license_zuora_account_id"), "license", ["zuora_account_id"])
    op.add_column("customer", sa.Column("folded_name", sa.String(300), nullable=True))
    op.add_column("customer", sa.Column("account_name", sa.Text(), nullable=True))
    op.create_index(op.f("ix_customer_folded_name"), "customer", ["folded_name"])
    op.add_column(
        "reconciliation", sa.Column("customer_folded_name", sa.String(300), nullable=True)
    )
    op.add_column("reconciliation", sa.Column("customer_key", sa.String(300), nullable=True))
    op.create_index(op.f("ix_reconciliation_customer_key"), "reconciliation", ["customer_key"])
    _rekey_hosts()


def _rekey_hosts() -> None:
    """Hosts were keyed by hostname; an instance is keyed by its uuid where the export has one
    (`host:<hostname>` for the rows kept), and may report its license by the file's MD5."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_host_license_id", table_name="host")
    op.rename_table("host", "host_before_0007")
    if postgresql:  # constraint names are the schema's on PostgreSQL
        op.execute("ALTER TABLE host_before_0007 RENAME CONSTRAINT pk_host TO pk_host_before_0007")
    _create_host_table()
    op.execute(
        "INSERT INTO host (instance_key, hostname, license_id, gitlab_version,"
        " active_user_count, historical_max_users, last_ping_at)"
        " SELECT 'host:' || hostname, hostname, license_id, gitlab_version,"
        " active_user_count, historical_max_users, last_ping_at FROM host_before_0007"
    )
    op.drop_table("host_before_0007")


def _create_host_table() -> None:
    op.create_table(
        "host",
        sa.Column("instance_key", sa.String(300), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("uuid", sa.String(64), nullable=True),
        sa.Column("license_id", sa.BigInteger(), nullable=True),
        sa.Column("license_md5", sa.String(64), nullable=True),
        sa.Column("gitlab_version", sa.String(64), nullable=True),
        sa.Column("active_user_count", sa.Integer(), nullable=True),
        sa.Column("historical_max_users", sa.Integer(), nullable=True),
        sa.Column("last_ping_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("instance_key", name=op.f("pk_host")),
    )
    op.create_index(op.f("ix_host_hostname"), "host", ["hostname"])
    op.create_index(op.f("ix_host_license_id"), "host", ["license_id"])
    op.create_index(op.f("ix_host_license_md5"), "host", ["license_md5"])


def downgrade() -> None:
    # The customers stay as regrouped: 0006's importer rewrites them as it reads licenses.
    # Hosts go back to one row per hostname, its newest ping.
    postgresql = op.get_bind().dialect.name == "postgresql"
    for index in ("ix_host_hostname", "ix_host_license_id", "ix_host_license_md5"):
        op.drop_index(index, table_name="host")
    op.rename_table("host", "host_after_0007")
    if postgresql:
        op.execute("ALTER TABLE host_after_0007 RENAME CONSTRAINT pk_host TO pk_host_after_0007")
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
    op.execute(
        "INSERT INTO host (hostname, license_id, gitlab_version, active_user_count,"
        " historical_max_users, last_ping_at) SELECT hostname, license_id, gitlab_version,"
        " active_user_count, historical_max_users, last_ping_at FROM ("
        " SELECT host_after_0007.*, ROW_NUMBER() OVER (PARTITION BY hostname"
        " ORDER BY last_ping_at DESC NULLS LAST, instance_key) AS newest"
        " FROM host_after_0007) AS pings WHERE newest = 1"
    )
    op.drop_table("host_after_0007")
    op.drop_index(op.f("ix_reconciliation_customer_key"), table_name="reconciliation")
    op.drop_column("reconciliation", "customer_key")
    op.drop_column("reconciliation", "customer_folded_name")
    op.drop_index(op.f("ix_customer_folded_name"), table_name="customer")
    op.drop_column("customer", "account_name")
    op.drop_column("customer", "folded_name")
    op.drop_index(op.f("ix_license_zuora_account_id"), table_name="license")
    op.drop_column("license", "company_search_key")
    op.drop_column("license", "company_folded")
    op.drop_index(op.f("ix_license_license_md5"), table_name="license")
    op.drop_column("license", "notes")
    op.drop_column("license", "license_md5")
    op.drop_index(op.f("ix_subscription_subscription_name"), table_name="subscription")
    op.drop_table("subscription")
