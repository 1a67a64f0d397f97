"""The PostgreSQL import path. A first load (an empty table) is one COPY of the whole file,
streamed as it is parsed. Otherwise new rows are COPYed straight into the table, a batch at a
time; rows whose keys are stored are COPYed into a work table and only those that differ are
updated with one UPDATE ... FROM (before which, until one is found, a query asks whether it
changes a column the customer rule reads: `grouping_inputs_changed`). The table is locked
against other imports (lookups only read, and are not blocked), and the planner's statistics
are kept in step as a first import grows the table.

These statements stay on the driver's raw cursor rather than SQLAlchemy's dialect
`insert().on_conflict_do_update()`: COPY has no SQLAlchemy construct, and per-row parameter
processing through the ORM cost more than the database's work (writing.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import psycopg
from sqlalchemy import Table, text
from sqlalchemy.orm import Session

from bot.store.importing.kinds import KindSpec
from bot.store.importing.writing import (
    BATCH_TABLE,
    SEEN_TABLE,
    STORED_ROWS_TABLE,
    ImportWriter,
)

# PostgreSQL: refresh planner statistics once a table has grown by at least this many rows.
ANALYZE_MIN_ROWS = 5000


class _PlannerStatistics:
    """Keeps PostgreSQL's row estimates for a table in step while an import grows it.

    The planner sizes tables from statistics gathered before the import's transaction began;
    a first import into an empty store would otherwise be planned as if the table held nothing
    (hash joins over the whole table for every batch: quadratic). ANALYZE inside the
    transaction samples its own uncommitted rows, and rolls back with it. Analysing each time
    the table has doubled keeps that to a handful of runs.
    """

    def __init__(self, session: Session, table: Table) -> None:
        self.session = session
        self.table = table
        self.enabled = session.get_bind().dialect.name == "postgresql"
        self.known_rows = 0.0
        self.added_since = 0
        if self.enabled:
            estimate = session.scalar(
                text("SELECT reltuples FROM pg_class WHERE oid = CAST(:name AS regclass)"),
                {"name": table.name},
            )
            self.known_rows = max(float(estimate or 0), 0.0)  # -1: never analysed

    def rows_added(self, count: int) -> None:
        if not self.enabled or not count:
            return
        self.added_since += count
        if self.added_since >= max(ANALYZE_MIN_ROWS, self.known_rows):
            quoted = self.session.get_bind().dialect.identifier_preparer.format_table(self.table)
            self.session.execute(text(f"ANALYZE {quoted}"))
            self.known_rows += self.added_since
            self.added_since = 0


class PostgreSQLWriter(ImportWriter):
    """One import's writes on PostgreSQL (ImportWriter: the state and checks both engines share)."""

    def __init__(self, session: Session, spec: KindSpec, *, full: bool) -> None:
        super().__init__(session, spec, full=full)
        self.table_statistics = _PlannerStatistics(session, spec.table)

    def _insert_ignoring_conflicts(self, table: str, columns: str, select_sql: str) -> str:
        return f"INSERT INTO {table} ({columns}) {select_sql} ON CONFLICT DO NOTHING"

    def _create_work_tables(self) -> None:
        key_column = self.spec.table.c[self.spec.key]
        key_type = key_column.type.compile(self.dialect)
        statements = [
            # New rows are written with COPY straight into the table after a check that
            # their keys are not stored: no other import may write the table meanwhile.
            # Lookups only read, and are not blocked.
            f"LOCK TABLE {self.table_name} IN SHARE ROW EXCLUSIVE MODE",
            f"CREATE TEMPORARY TABLE {SEEN_TABLE} (key {key_type} PRIMARY KEY, "
            "line integer NOT NULL) ON COMMIT DROP",
            f"CREATE TEMPORARY TABLE {BATCH_TABLE} ON COMMIT DROP AS "
            f"SELECT 0 AS line, {', '.join(self.staged_columns)} "
            f"FROM {self.table_name} WITH NO DATA",
            f"CREATE TEMPORARY TABLE {STORED_ROWS_TABLE} ON COMMIT DROP AS "
            f"SELECT {', '.join(self.spec.columns)} FROM {self.table_name} WITH NO DATA",
        ]
        for statement in statements:
            self._execute(statement)

    _REFUSED_ROW_ERRORS = (psycopg.Error,)

    def bulk_load(
        self,
        rows: Iterable[tuple[int, tuple[Any, ...]]],
        on_progress: Callable[[int], None] | None = None,
    ) -> bool:
        loaded = super().bulk_load(rows, on_progress)
        if loaded:
            # The statistics the rest of the transaction (the customer rule) is planned with.
            self._execute(f"ANALYZE {self.table_name}")
        return loaded

    def _stream(self, rows: Iterator[tuple[Any, ...]]) -> None:
        """One COPY, streamed while the file is read: PostgreSQL maintains the indexes as the
        rows arrive, while this process parses the next ones, and no batch is staged or checked
        (nothing is stored to compare with). Any error of the driver undoes it."""
        columns = ", ".join(self.spec.columns)
        with self.cursor.copy(f"COPY {self.table_name} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def _load_stage(self, columns: str, staged: list[tuple[int, Any]]) -> None:
        self._execute(f"TRUNCATE {BATCH_TABLE}")
        self._copy(BATCH_TABLE, columns, staged)

    def _copy(self, table: str, columns: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def _write(self, batch: list[tuple[Any, ...]]) -> None:
        """New rows go in with COPY, as a bulk load would; rows whose keys are stored are
        staged, and only those that differ are updated."""
        key = self.spec.key
        table = self.table_name
        stored_keys = self._fetch(
            f"SELECT stored.{key} FROM {BATCH_TABLE} staged "
            f"JOIN {table} stored ON stored.{key} = staged.{key}"
        )
        stored = {stored_key for (stored_key,) in stored_keys}
        key_position = self.key_position
        columns = ", ".join(self.spec.columns)
        if stored:
            new_rows = [row for row in batch if row[key_position] not in stored]
            self._execute(f"TRUNCATE {STORED_ROWS_TABLE}")
            self._copy(
                STORED_ROWS_TABLE, columns, (row for row in batch if row[key_position] in stored)
            )
            # Asked before the UPDATE makes the rows equal, and only until the import is known
            # to regroup (a new row regroups anyway).
            if self.grouping_columns and not new_rows and not self.grouping_inputs_changed:
                self.grouping_columns_updated = bool(self._fetch(self._grouping_update_sql))
            self.updated += self._execute(self._update_sql)
        else:
            new_rows = batch
        if new_rows:
            self._copy(table, columns, new_rows)
        self.inserted += len(new_rows)
        self.table_statistics.rows_added(len(new_rows))

    @functools.cached_property
    def _grouping_update_sql(self) -> str:
        """PostgreSQL: a row (or none) when the UPDATE of STORED_ROWS_TABLE will change a
        column the customer rule reads (GROUPING_COLUMNS)."""
        assert self.grouping_columns
        key = self.spec.key
        table = self.table_name
        return (
            f"SELECT 1 FROM {STORED_ROWS_TABLE} incoming JOIN {table} ON {table}.{key} = "
            f"incoming.{key} WHERE ("
            + ", ".join(f"{table}.{name}" for name in self.grouping_columns)
            + ") IS DISTINCT FROM ("
            + ", ".join(f"incoming.{name}" for name in self.grouping_columns)
            + ")"
            + self._newest_condition("incoming")
            + " LIMIT 1"
        )

    @functools.cached_property
    def _update_sql(self) -> str:
        """PostgreSQL: stored rows from STORED_ROWS_TABLE, rewritten only where some value
        differs (a re-import writes nothing)."""
        key = self.spec.key
        table = self.table_name
        others = self.spec.updated_columns
        return (
            f"UPDATE {table} SET "
            + ", ".join(f"{name} = incoming.{name}" for name in others)
            + f" FROM {STORED_ROWS_TABLE} incoming WHERE {table}.{key} = incoming.{key} AND ("
            + ", ".join(f"{table}.{name}" for name in others)
            + ") IS DISTINCT FROM ("
            + ", ".join(f"incoming.{name}" for name in others)
            + ")"
            + self._newest_condition("incoming")
        )
