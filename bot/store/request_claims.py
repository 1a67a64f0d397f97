"""The store's side of request claims (bot/slack/request_claims.py): one row per claimed key in
`processed_event` (in the audit schema: on SQLite the audit file, which no import write-locks)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from bot.store.db import dialect_insert
from bot.store.models import ProcessedEvent
from bot.store.prepared import PreparedStatement


def insert_claim(connection: Connection, key: str, now: datetime) -> bool:
    """Claim `key` in the connection's transaction: True if this call claimed it, False if it
    was claimed before (by a committed transaction, or one that commits while this one waits
    for it: PostgreSQL waits on the conflicting row, SQLite on the audit file's write lock)."""
    # ON CONFLICT DO NOTHING RETURNING: our row back, or nothing because it existed.
    parameters = {"event_id": key, "received_at": now}
    return bool(_claim_statement(connection).rows(connection, parameters))


def _claim_statement(connection: Connection) -> PreparedStatement:
    # Built once per dialect and run on the driver's cursor (bot/store/prepared.py): every
    # signed request makes a claim.
    statement = _CLAIM_STATEMENTS.get(connection.dialect.name)
    if statement is None:
        statement = PreparedStatement(
            dialect_insert(connection, ProcessedEvent)
            .on_conflict_do_nothing(index_elements=[ProcessedEvent.event_id])
            .returning(ProcessedEvent.event_id),
            column_keys=("event_id", "received_at"),
        )
        _CLAIM_STATEMENTS[connection.dialect.name] = statement
    return statement


_CLAIM_STATEMENTS: dict[str, PreparedStatement] = {}
