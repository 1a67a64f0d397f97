"""The SQLite import path. A first load (an empty table) is one executemany of a plain INSERT,
fed while the file is parsed, with the table's secondary indexes built after the last row.
Otherwise each batch is upserted with one executemany of INSERT ... ON CONFLICT DO UPDATE
(sqlite3 runs it in-process with one prepared statement: one pass), rewriting a stored row only
where some value differs. The work tables are SQLite's
`temp` tables, which it keeps for the connection's life, so they are dropped before the commit.
Until the import is known to change something the customer rule reads
(`grouping_inputs_changed`: only then does it regroup), a batch of stored rows first has those
columns staged and compared with the stored ones.

The upsert stays on the driver's raw cursor rather than SQLAlchemy's dialect
`insert().on_conflict_do_update()`: per-row parameter processing through SQLAlchemy cost more
than the database's work (writing.py).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator
from typing import Any

from bot.store.importing.writing import BATCH_TABLE, SEEN_TABLE, ImportWriter

# A licenses batch's keys with the values of the columns the customer rule reads, compared with
# the stored rows before the upsert makes them equal. (A temporary trigger on the upsert's
# updates cost more than the regrouping it saves, at 100,000 rows: a call per updated row.)
GROUPING_STAGE_TABLE = "import_grouping_values"
# The temporary tables an import makes on SQLite (it keeps them for the connection's life).
_SQLITE_WORK_TABLES = (BATCH_TABLE, SEEN_TABLE, GROUPING_STAGE_TABLE)


class SQLiteWriter(ImportWriter):
    """One import's writes on SQLite (ImportWriter: the state and checks both engines share)."""

    def _insert_ignoring_conflicts(self, table: str, columns: str, select_sql: str) -> str:
        return f"INSERT OR IGNORE INTO {table} ({columns}) {select_sql}"

    def _create_work_tables(self) -> None:
        key_column = self.spec.table.c[self.spec.key]
        # INTEGER PRIMARY KEY is the rowid itself: one B-tree, no separate index.
        key_type = "INTEGER" if key_column.type.python_type is int else "TEXT"
        # No declared types: values are kept exactly as bound, as in the stored table.
        # Dropped first: when a commit fails after `finish()`, its rollback restores them
        # on this pooled connection, and the next import would find them already there.
        statements = [
            *(f"DROP TABLE IF EXISTS temp.{table}" for table in _SQLITE_WORK_TABLES),
            f"CREATE TEMP TABLE {SEEN_TABLE} (key {key_type} PRIMARY KEY, line INTEGER)",
            f"CREATE TEMP TABLE {BATCH_TABLE} (line, {', '.join(self.staged_columns)})",
        ]
        if self.grouping_columns:
            statements.append(
                f"CREATE TEMP TABLE {GROUPING_STAGE_TABLE} (key {key_type} PRIMARY KEY, "
                f"{', '.join(self.grouping_columns)})"
            )
        for statement in statements:
            self._execute(statement)

    def finish(self) -> None:
        """Before the commit: SQLite keeps temporary tables for the connection's life."""
        for table in _SQLITE_WORK_TABLES:
            self._execute(f"DROP TABLE IF EXISTS temp.{table}")

    # A row the table's constraints refuse (a key twice). Other errors are the store's (locked,
    # full, a snapshot another import changed): the ordinary path would meet them too, so they
    # propagate as they would from it.
    _REFUSED_ROW_ERRORS = (sqlite3.IntegrityError,)

    def _stream(self, rows: Iterator[tuple[Any, ...]]) -> None:
        """One executemany of a plain INSERT, fed while the file is read: no batch is staged or
        checked (nothing is stored to compare with). The table's secondary indexes are dropped
        first and built again after the last row, each from one sort of the loaded table
        rather than an insert per row at a random place of its B-tree; the primary key's stays.
        SQLite's DDL is transactional: the bulk load's savepoint restores them when a row
        fails. Readers see the table with its indexes throughout (WAL: the last commit)."""
        indexes = self._fetch(
            "SELECT name, sql FROM sqlite_master"
            " WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            (self.table_name,),
        )
        for name, _ in indexes:
            self._execute(f'DROP INDEX "{name}"')
        columns = ", ".join(self.spec.columns)
        marks = ", ".join("?" * len(self.spec.columns))
        self.cursor.executemany(f"INSERT INTO {self.table_name} ({columns}) VALUES ({marks})", rows)
        for _, create_index in indexes:
            self._execute(create_index)

    def _load_stage(self, columns: str, staged: list[tuple[int, Any]]) -> None:
        self._execute(f"DELETE FROM temp.{BATCH_TABLE}")
        marks = ", ".join("?" * (len(self.staged_columns) + 1))
        self.cursor.executemany(
            f"INSERT INTO temp.{BATCH_TABLE} ({columns}) VALUES ({marks})", staged
        )

    def _write(self, batch: list[tuple[Any, ...]]) -> None:
        key = self.spec.key
        table = self.table_name
        ((existing,),) = self._fetch(
            f"SELECT count(*) FROM {BATCH_TABLE} staged "
            f"JOIN {table} stored ON stored.{key} = staged.{key}"
        )
        # A batch with new rows regroups anyway; else, until known, compare before the upsert.
        if self.grouping_columns and existing == len(batch) and not self.grouping_inputs_changed:
            self.grouping_columns_updated = self._grouping_columns_differ(batch)
        # sqlite3's executemany runs in-process with one prepared statement: one pass.
        self.cursor.executemany(self._upsert_sql, batch)
        written = int(self.cursor.rowcount)
        self.inserted += len(batch) - existing
        self.updated += written - (len(batch) - existing)

    def _grouping_columns_differ(self, batch: list[tuple[Any, ...]]) -> bool:
        """Whether the upsert of `batch` (stored rows only) will change a column the customer
        rule reads: its values are staged, and compared as the upsert's WHERE compares."""
        columns = self.grouping_columns or ()
        positions = [self.key_position, *map(self.spec.columns.index, columns)]
        self._execute(f"DELETE FROM temp.{GROUPING_STAGE_TABLE}")
        self.cursor.executemany(
            f"INSERT INTO temp.{GROUPING_STAGE_TABLE} VALUES ({', '.join('?' * len(positions))})",
            [tuple(row[position] for position in positions) for row in batch],
        )
        return bool(self._fetch(self._grouping_differ_sql))

    @functools.cached_property
    def _grouping_differ_sql(self) -> str:
        key = self.spec.key
        table = self.table_name
        columns = self.grouping_columns or ()
        return (
            f"SELECT 1 FROM temp.{GROUPING_STAGE_TABLE} incoming JOIN {table}"
            f" ON {table}.{key} = incoming.key WHERE ("
            + ", ".join(f"{table}.{name}" for name in columns)
            + ") IS NOT ("
            + ", ".join(f"incoming.{name}" for name in columns)
            + ") LIMIT 1"
        )

    @functools.cached_property
    def _upsert_sql(self) -> str:
        """SQLite: one row in; a stored row is rewritten only if some value differs."""
        key = self.spec.key
        table = self.table_name
        columns = ", ".join(self.spec.columns)
        others = self.spec.updated_columns
        stored = ", ".join(f"{table}.{name}" for name in others)
        incoming = ", ".join(f"excluded.{name}" for name in others)
        return (
            f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(self.spec.columns))}) "
            f"ON CONFLICT ({key}) DO UPDATE SET "
            + ", ".join(f"{name} = excluded.{name}" for name in others)
            + f" WHERE ({stored}) IS NOT ({incoming})"
            + self._newest_condition("excluded")
        )
