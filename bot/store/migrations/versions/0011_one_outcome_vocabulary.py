"""One outcome vocabulary (issue 20): a store failure's audit rows say `unavailable`.

The audit's outcome for "the store could not answer" was `error`, while the request line said
`unavailable` for the same thing and `error` for a bug; bot.outcomes.Outcome is now the one list,
and the audit says `unavailable` as the request line does. The rows written before say it too,
so a query over the trail needs one word. Runs again harmlessly; rows a previous release's
worker writes during a rolling deploy keep `error` (a minute's worth, at most).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

AUDIT_SCHEMA = "audit"  # bot.store.models.AUDIT_SCHEMA


def upgrade() -> None:
    op.execute(
        f"UPDATE {AUDIT_SCHEMA}.audit_event SET outcome = 'unavailable' WHERE outcome = 'error'"
    )


def downgrade() -> None:
    op.execute(
        f"UPDATE {AUDIT_SCHEMA}.audit_event SET outcome = 'error' WHERE outcome = 'unavailable'"
    )
