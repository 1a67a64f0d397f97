"""The store's data generation: a token that changes in every transaction that changes what a
lookup reads, so an answer kept for one generation (bot/answers/answer_cache.py) is never given
for another.

Two kinds of transaction change lookup data, and each bumps the token before it commits:
`import_file` (every import, the sync's and the demo's included) and `upgrade` at the head (a
migration's rewrite, the upkeep's refold and regroup). A reader takes the token first in its
transaction: on SQLite its snapshot then holds the data of that generation; on PostgreSQL (read
committed) the later statements see that data or newer, never older. Anything new that writes
licenses, subscriptions, hosts, reconciliations or customers must bump it too.

The token is random, not a counter: two imports committing at once on PostgreSQL (each of its
own kind) each write their own, and whichever commits last leaves one no reader has seen before.
"""

from __future__ import annotations

import os

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from bot.store.db import dialect_insert
from bot.store.models import StoreMeta
from bot.store.prepared import PreparedStatement

DATA_GENERATION_KEY = "data_generation"


def bump_data_generation(connection: Connection) -> None:
    """A new generation token, in the caller's transaction."""
    statement = dialect_insert(connection, StoreMeta.__table__).values(
        key=DATA_GENERATION_KEY, value=os.urandom(8).hex()
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[StoreMeta.key], set_={"value": statement.excluded.value}
        )
    )


def data_generation(session: Session) -> str | None:
    """The store's generation token; None for a store no import or upgrade has bumped yet."""
    value = _DATA_GENERATION.scalar(session.connection(), {})
    return None if value is None else str(value)


_DATA_GENERATION = PreparedStatement(
    select(StoreMeta.value).where(StoreMeta.key == DATA_GENERATION_KEY)
)
