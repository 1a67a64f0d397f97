"""The importer writes through the driver; the values it binds must be exactly what the ORM
(SQLAlchemy's bind processors) would bind, or a re-import would see every row as changed and
lookups would read values in another format. Both dialects, every stored column."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Boolean, Date, Dialect
from sqlalchemy.dialects import postgresql, sqlite

from bot.store.importing.writing import stored_value
from bot.store.models import Host, License, Reconciliation, UTCDateTime

DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.psycopg.dialect()}

SAMPLES: dict[type, list[Any]] = {
    UTCDateTime: [
        datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
        datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-5))),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        None,
    ],
    Date: [date(2026, 11, 27), date(9, 1, 1), None],
    Boolean: [True, False, None],
}


def _columns() -> list[Any]:
    return [
        column
        for table in (License.__table__, Reconciliation.__table__, Host.__table__)
        for column in table.columns
    ]


def _orm_bound(column: Any, dialect: Dialect, value: Any) -> Any:
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    return value if processor is None else processor(value)


@pytest.mark.parametrize("dialect_name", sorted(DIALECTS))
def test_the_importer_binds_what_the_orm_binds(dialect_name: str) -> None:
    dialect = DIALECTS[dialect_name]
    checked = 0
    for column in _columns():
        samples = next(
            (values for kind, values in SAMPLES.items() if isinstance(column.type, kind)),
            ["text", 12345, None],
        )
        convert = stored_value(column, dialect)
        for value in samples:
            if not isinstance(column.type, tuple(SAMPLES)) and value is not None:
                python_type = column.type.python_type
                if not isinstance(value, python_type):
                    continue
            ours = value if convert is None else convert(value)
            expected = _orm_bound(column, dialect, value)
            assert (ours, type(ours)) == (expected, type(expected)), (column, value)
            checked += 1
    assert checked > 30
