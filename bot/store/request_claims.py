"""The store's side of request claims (bot/slack/request_claims.py): one row per claimed key in
`processed_event` (in the audit schema: on SQLite the audit file, which no import write-locks)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Executable

from bot.store.db import dialect_insert
from bot.store.models import ProcessedEvent


def insert_claim(connection: Connection, key: str, now: datetime) -> bool:
    """Claim `key` in the connection's transaction: True if this call claimed it, False if it
    was claimed before (by a committed transaction, or one that commits while this one waits
    for it: PostgreSQL waits on the conflicting row, SQLite on the audit file's write lock)."""
    # ON CONFLICT DO NOTHING RETURNING: our row back, or nothing because it existed.
    parameters = {"event_id": key, "received_at": now}
    return connection.execute(_claim_statement(connection), parameters).first() is not None


def _claim_statement(connection: Connection) -> Executable:
    # Built once per dialect: every signed request makes a claim, and a prebuilt statement is
    # neither rebuilt nor cache-keyed again.
    statement = _CLAIM_STATEMENTS.get(connection.dialect.name)
    if statement is None:
        statement = (
            dialect_insert(connection, ProcessedEvent)
            .on_conflict_do_nothing(index_elements=[ProcessedEvent.event_id])
            .returning(ProcessedEvent.event_id)
        )
        _CLAIM_STATEMENTS[connection.dialect.name] = statement
    return statement


_CLAIM_STATEMENTS: dict[str, Executable] = {}
