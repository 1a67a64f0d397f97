"""The SQLite import path: each batch is upserted with one executemany of
INSERT ... ON CONFLICT DO UPDATE (sqlite3 runs it in-process with one prepared statement: one
pass), rewriting a stored row only where some value differs. The work tables are SQLite's
`temp` tables, which it keeps for the connection's life, so they are dropped before the commit;
so is a licenses import's temporary trigger noting that an update changed a column the customer
rule reads (`grouping_inputs_changed`: only then does the import regroup).

The upsert stays on the driver's raw cursor rather than SQLAlchemy's dialect
`insert().on_conflict_do_update()`: per-row parameter processing through SQLAlchemy cost more
than the database's work (writing.py).
"""

from __future__ import annotations

import functools
from typing import Any

from bot.store.importing.writing import BATCH_TABLE, SEEN_TABLE, ImportWriter

# The temporary tables an import makes on SQLite (it keeps them for the connection's life).
_SQLITE_WORK_TABLES = (BATCH_TABLE, SEEN_TABLE)
# A licenses import's temporary trigger noting, in its table, that an update changed a column
# the customer rule reads. The rows go straight through the upsert, so the update itself is
# where the old and new values meet; the trigger is dropped as soon as it has fired once.
GROUPING_UPDATE_TRIGGER = "import_grouping_update"
GROUPING_UPDATE_TABLE = "import_grouping_updated"


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
            *self._drop_statements(),
            f"CREATE TEMP TABLE {SEEN_TABLE} (key {key_type} PRIMARY KEY, line INTEGER)",
            f"CREATE TEMP TABLE {BATCH_TABLE} (line, {', '.join(self.staged_columns)})",
        ]
        if self.grouping_columns:
            columns = ", ".join(self.grouping_columns)
            old = ", ".join(f"old.{name}" for name in self.grouping_columns)
            new = ", ".join(f"new.{name}" for name in self.grouping_columns)
            statements += [
                # One row at most, kept so by the trigger's own WHERE (not OR IGNORE: the
                # statement that fires a trigger imposes its own conflict policy on it).
                f"CREATE TEMP TABLE {GROUPING_UPDATE_TABLE} (updated INTEGER)",
                f"CREATE TEMP TRIGGER {GROUPING_UPDATE_TRIGGER} AFTER UPDATE OF {columns}"
                f" ON main.{self.table_name} WHEN ({old}) IS NOT ({new}) BEGIN"
                f" INSERT INTO {GROUPING_UPDATE_TABLE} SELECT 1 WHERE NOT EXISTS"
                f" (SELECT 1 FROM {GROUPING_UPDATE_TABLE}); END",
            ]
        for statement in statements:
            self._execute(statement)

    def _drop_statements(self) -> list[str]:
        return [
            f"DROP TRIGGER IF EXISTS temp.{GROUPING_UPDATE_TRIGGER}",
            *(
                f"DROP TABLE IF EXISTS temp.{table}"
                for table in (*_SQLITE_WORK_TABLES, GROUPING_UPDATE_TABLE)
            ),
        ]

    def finish(self) -> None:
        """Before the commit: SQLite keeps temporary tables for the connection's life."""
        for statement in self._drop_statements():
            self._execute(statement)

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
        # sqlite3's executemany runs in-process with one prepared statement: one pass.
        self.cursor.executemany(self._upsert_sql, batch)
        written = int(self.cursor.rowcount)
        self.inserted += len(batch) - existing
        updated = written - (len(batch) - existing)
        self.updated += updated
        if (
            updated
            and self.grouping_columns
            and not self.grouping_columns_updated
            and self._fetch(f"SELECT 1 FROM temp.{GROUPING_UPDATE_TABLE}")
        ):
            self.grouping_columns_updated = True
            # Known for the import: the remaining updates need not pay for the trigger.
            self._execute(f"DROP TRIGGER temp.{GROUPING_UPDATE_TRIGGER}")

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
