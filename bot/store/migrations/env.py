"""Alembic environment. Run through bot.store.schema, which hands us a live connection."""

from __future__ import annotations

from alembic import context

from bot.store.models import Base
from bot.store.schema import include_object

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite alters tables by copying them; batch mode does that for us.
    render_as_batch=connection.dialect.name == "sqlite",
    include_schemas=True,
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()
