"""The source's own time of an import (issue 21: "licenses as of 2 hours ago").

`import_run.source_time`: when the source had the imported data, where it says so (a synced
file's Last-Modified, a query's start). Nullable, and None for every earlier import (their
finish is all that is known): the previous release's workers neither read nor write it, so a
rolling deploy needs no expand step.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("import_run", sa.Column("source_time", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("import_run") as batch:
        batch.drop_column("source_time")
