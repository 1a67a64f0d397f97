"""slack_sdk's installation tables, read raw and emptied (conftest empties only our models')."""

from __future__ import annotations

from sqlalchemy import Engine, text

from bot.slack.slack_sdk_tables import SLACK_SDK_TABLES


def clear_installation_tables(engine: Engine) -> None:
    """conftest empties our models' tables between PostgreSQL tests; these are slack_sdk's."""
    with engine.begin() as connection:
        for table in SLACK_SDK_TABLES:
            connection.execute(text(f"DELETE FROM {table}"))


def raw_rows(engine: Engine, table: str) -> list[dict[str, object]]:
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(text(f"SELECT * FROM {table}")).mappings()]
