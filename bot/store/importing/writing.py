"""What both per-engine writers share (postgresql.py, sqlite.py): the import's state inside its
transaction, its working sets in temporary tables, the values as the driver binds them, the
duplicate checks and `--full`'s deletion with its mass-delete guard.

Rows are written through the driver's cursor, not the ORM: SQLAlchemy's per-row parameter
processing cost more than the database's work (`stored_value` converts each value as the ORM
would bind it; tests/store/importing/test_import_storage.py checks both agree). `open_writer` picks the
engine's writer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Column, Date, DateTime, Dialect, func, select
from sqlalchemy.orm import Session

from bot.store.importing.customers import GROUPING_COLUMNS, GROUPING_KINDS
from bot.store.importing.errors import ImportFailed, MassDeleteRefused
from bot.store.importing.kinds import KindSpec, convert_cells, is_newer
from bot.store.importing.values import PARSE_CACHE_SIZE
from bot.store.models import UTCDateTime

# `--full` refuses to remove more than this share of a table's rows without --allow-mass-delete.
MASS_DELETE_SHARE = Decimal("0.10")

# An import's working sets live in temporary tables of its own connection, not in Python, so
# its memory stays flat whatever the file's size: the keys seen so far with their lines
# (duplicates, `--full`) and the batch being written. (The customer rule's own work tables
# are bot.store.customers'.) They vanish with the transaction: PostgreSQL drops them on
# commit and a rollback undoes their creation (SQLite: the same, and they are dropped before
# the commit); a killed process takes its connection, and so they, with it. Temporary tables
# live in the connection's own schema (pg_temp_N, SQLite's `temp`), which Alembic never reads.
BATCH_TABLE = "import_batch_rows"
SEEN_TABLE = "import_seen_keys"
STORED_ROWS_TABLE = "import_stored_rows"  # PostgreSQL: a batch's rows whose keys are stored
# A first load (`bulk_load`) runs inside this savepoint, and reports its progress every this
# many rows (the ordinary path: every batch).
BULK_LOAD_SAVEPOINT = "import_bulk_load"
BULK_PROGRESS_ROWS = 2000


def _sqlite_timestamp(value: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME text ("YYYY-MM-DD HH:MM:SS.ffffff") of the naive UTC time.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def _sqlite_date(value: date) -> str:
    return value.isoformat()


def stored_value(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """The function turning a parsed value into what the driver is given for `column`
    (None: the value as is). The common types are converted here directly, cached per value
    (exports repeat them), rather than through SQLAlchemy's chain of processors;
    tests/store/importing/test_import_storage.py checks both agree. Any other type uses SQLAlchemy's."""
    column_type = column.type
    sqlite = dialect.name == "sqlite"
    fast: Callable[[Any], Any] | None
    if isinstance(column_type, UTCDateTime):
        fast = _sqlite_timestamp if sqlite else _naive_utc
    elif isinstance(column_type, Date) and not isinstance(column_type, DateTime):
        fast = _sqlite_date if sqlite else None
        if fast is None:
            return None
    elif isinstance(column_type, Boolean):
        fast = int if sqlite else None
        if fast is None:
            return None
    else:
        return column_type.dialect_impl(dialect).bind_processor(dialect)
    cached = functools.lru_cache(maxsize=PARSE_CACHE_SIZE)(fast)

    def convert(value: Any) -> Any:
        return None if value is None else cached(value)

    return convert


class ImportWriter:
    """The state of one import inside its transaction.

    Rows are written through the driver's cursor with positional tuples: SQLAlchemy's per-row
    parameter processing cost more than the database's work. Each batch's keys (with their
    lines) are staged in a temporary table and checked by set-based statements: keys seen
    before (duplicates), rows already stored. Then SQLite upserts
    the rows with one executemany; PostgreSQL COPYs the new rows straight in and updates the
    stored ones from a staged copy. Either way only rows that differ are rewritten (a
    re-import writes nothing and fires no triggers). A first load into an empty table skips
    all that (`bulk_load`): one stream of rows, undone when a row fails (the file is then
    loaded the ordinary way, which names the line).

    The engine's own SQL is its subclass's (postgresql.py, sqlite.py): the work tables, how a
    batch is staged and written, and the statement that records keys seen.
    """

    def __init__(self, session: Session, spec: KindSpec, *, full: bool) -> None:
        self.session = session
        self.spec = spec
        connection = session.connection()
        self.dialect = connection.dialect
        self.cursor: Any = connection.connection.cursor()
        self.table_name = spec.table.name
        self.key_position = spec.key_position
        # Values as the ORM would bind them (UTC timestamps naive, SQLite's date and timestamp
        # text, booleans), so the driver stores what the ORM would, and the SQL comparison
        # with stored rows compares like with like.
        self.processors = [
            (position, processor)
            for position, name in enumerate(spec.columns)
            if (processor := stored_value(spec.table.c[name], self.dialect)) is not None
        ]
        self.batch: list[tuple[Any, ...]] = []
        # Keys of the current batch -> their lines; earlier batches' keys are in SEEN_TABLE.
        self.batch_lines: dict[Any, int] = {}
        # A kind whose rows are the newest of several (hosts: pings): its timestamp's position,
        # and each key's row in the batch.
        self.newest_position = (
            spec.columns.index(spec.newest_by) if spec.newest_by is not None else None
        )
        self.batch_positions: dict[Any, int] = {}
        self.rows = 0
        self.inserted = 0
        self.updated = 0
        self.deleted = 0
        self.customers_written = 0
        self.customers_deleted = 0
        # The columns an update must change to change the customers (None: any column), and
        # whether one did: the engine's `_write` notices it before, or as, it rewrites the row.
        self.grouping_columns = GROUPING_COLUMNS.get(spec.kind)
        self.grouping_columns_updated = False
        self._create_work_tables()  # first: on PostgreSQL it takes the table's import lock
        # The mass-delete guard compares against the table as it was before this import.
        self.rows_before = 0
        if full:
            self.rows_before = session.scalar(select(func.count()).select_from(spec.table)) or 0

    @property
    def grouping_inputs_changed(self) -> bool:
        """Whether this import changed anything the customer rule reads, so the customers must
        be regrouped: a row of a kind it reads inserted or deleted, or updated in one of the
        kind's GROUPING_COLUMNS (in any column, for subscriptions)."""
        if self.spec.kind not in GROUPING_KINDS:
            return False
        if self.inserted or self.deleted:
            return True
        if self.grouping_columns is None:
            return self.updated > 0
        return self.grouping_columns_updated

    # -- SQL helpers

    def _execute(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        self.cursor.execute(sql, parameters)
        return int(self.cursor.rowcount)

    def _fetch(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        self.cursor.execute(sql, parameters)
        return list(self.cursor.fetchall())

    def _insert_ignoring_conflicts(self, table: str, columns: str, select_sql: str) -> str:
        """The engine's INSERT ... SELECT that skips rows whose key is already there.

        Raw SQL on the import's own cursor, not SQLAlchemy's dialect insert: it fills the
        work tables that cursor made, between the batch's COPY or executemany, and its row
        count is how a duplicate key is noticed."""
        raise NotImplementedError

    def _create_work_tables(self) -> None:
        """The engine's temporary tables for this import (and, on PostgreSQL, its lock)."""
        raise NotImplementedError

    def finish(self) -> None:
        """Before the commit: whatever the engine must undo itself (SQLite's temporary tables)."""

    def distinct_keys(self) -> int:
        """The keys the file held (a host's several pings are one instance); before `finish`."""
        ((count,),) = self._fetch(f"SELECT count(*) FROM {SEEN_TABLE}")
        return int(count)

    # -- rows

    def can_bulk_load(self) -> bool:
        """Whether this import may write the whole file in one stream (`bulk_load`): a first
        load. The table is empty, and stays so until the load writes (PostgreSQL: checked
        under the import's table lock; SQLite: a write from a snapshot another import has
        changed since fails, SQLITE_BUSY_SNAPSHOT, rather than going ahead), and a key may
        appear once only (pings, which keep the newest of several, go the ordinary way)."""
        if self.spec.newest_by is not None:
            return False
        return not self._fetch(f"SELECT 1 FROM {self.table_name} LIMIT 1")

    # The driver's errors that mean it refused a row (a key twice violates the primary key):
    # a bulk load they stop is undone, and the ordinary path names the line. The engine's.
    _REFUSED_ROW_ERRORS: tuple[type[Exception], ...] = ()

    def bulk_load(
        self,
        rows: Iterable[tuple[int, tuple[Any, ...]]],
        on_progress: Callable[[int], None] | None = None,
    ) -> bool:
        """Write every row into the empty table in one stream (the engine's `_stream`), inside
        BULK_LOAD_SAVEPOINT. When a row fails (a bad value, or one the driver refuses) the rows
        are undone and False is returned, for the caller to load the file the ordinary way,
        which names the lines (importing/__init__.py)."""
        # One tuple for the checker, which cannot read a starred `except` clause.
        stopping: tuple[type[Exception], ...] = (ImportFailed, *self._REFUSED_ROW_ERRORS)
        self._execute(f"SAVEPOINT {BULK_LOAD_SAVEPOINT}")
        try:
            self._stream(self._counted(rows, on_progress))
        except stopping:
            self._execute(f"ROLLBACK TO SAVEPOINT {BULK_LOAD_SAVEPOINT}")
            self._execute(f"RELEASE SAVEPOINT {BULK_LOAD_SAVEPOINT}")
            self.rows = 0
            return False
        self._execute(f"RELEASE SAVEPOINT {BULK_LOAD_SAVEPOINT}")
        self.inserted = self.rows
        if on_progress is not None and self.rows % BULK_PROGRESS_ROWS:
            on_progress(self.rows)
        return True

    def _stream(self, rows: Iterator[tuple[Any, ...]]) -> None:
        """The engine's statements writing `rows` into the empty table."""
        raise NotImplementedError

    def _counted(
        self,
        rows: Iterable[tuple[int, tuple[Any, ...]]],
        on_progress: Callable[[int], None] | None,
    ) -> Iterator[tuple[Any, ...]]:
        """A bulk load's rows as the driver takes them, counted, with progress reported."""
        for _line, row in rows:
            yield row
            self.rows += 1
            if on_progress is not None and self.rows % BULK_PROGRESS_ROWS == 0:
                on_progress(self.rows)

    def parse(self, line: int, cells: list[Any]) -> tuple[Any, ...]:
        """One file row -> the row as the driver binds it."""
        row = convert_cells(self.spec, line, cells)
        if self.processors:
            values = list(row)
            for position, processor in self.processors:
                values[position] = processor(values[position])
            row = tuple(values)
        return row

    def add(self, line: int, cells: list[Any]) -> None:
        row = self.parse(line, cells)
        key = row[self.key_position]
        first_line = self.batch_lines.get(key)
        self.rows += 1
        if first_line is not None:
            if self.newest_position is None:
                raise self._duplicate(key, first_line, line)
            # Several pings of one instance: the newest is kept (a later line wins a tie).
            index = self.batch_positions[key]
            if is_newer(row[self.newest_position], self.batch[index][self.newest_position]):
                self.batch[index] = row
                self.batch_lines[key] = line
            return
        self.batch_lines[key] = line
        if self.newest_position is not None:
            self.batch_positions[key] = len(self.batch)
        self.batch.append(row)

    @functools.cached_property
    def staged_columns(self) -> tuple[str, ...]:
        """BATCH_TABLE's columns after `line`: what the set-based checks read (the rows
        themselves go straight to the table, or through STORED_ROWS_TABLE)."""
        return (self.spec.key,)

    def _duplicate(self, key: Any, first_line: int, line: int) -> ImportFailed:
        return ImportFailed(
            f"{self.spec.key} {key} appears twice, on lines {first_line} and {line}", line=line
        )

    def _stage(self) -> list[tuple[Any, ...]]:
        """Move the pending batch into BATCH_TABLE; returns its rows."""
        batch, self.batch = self.batch, []
        lines, self.batch_lines = self.batch_lines, {}
        self.batch_positions = {}
        columns = f"line, {', '.join(self.staged_columns)}"
        key_position = self.key_position
        staged = [(lines[row[key_position]], row[key_position]) for row in batch]
        self._load_stage(columns, staged)
        return batch

    def _load_stage(self, columns: str, staged: list[tuple[int, Any]]) -> None:
        """Replace BATCH_TABLE's rows with `staged` ((line, key) tuples)."""
        raise NotImplementedError

    def _first_duplicate_in_stage(self, *, own_lines_seen: bool) -> ImportFailed | None:
        """The staged row with the lowest line whose key an earlier batch already had."""
        key = self.spec.key
        own = "AND seen.line <> staged.line" if own_lines_seen else ""
        found = self._fetch(
            f"SELECT staged.{key}, seen.line, staged.line FROM {BATCH_TABLE} staged "
            f"JOIN {SEEN_TABLE} seen ON seen.key = staged.{key} {own} "
            "ORDER BY staged.line LIMIT 1"
        )
        return self._duplicate(*found[0]) if found else None

    def raise_earlier_duplicate(self) -> None:
        """Called when a row fails: a pending row that repeats an earlier batch's key comes
        first in the file, so its error is the one to report (as a row-by-row check would)."""
        if self.batch:
            self._stage()
            duplicate = self._first_duplicate_in_stage(own_lines_seen=False)
            if duplicate is not None:
                raise duplicate

    def flush(self) -> None:
        if not self.batch:
            return
        batch = self._stage()
        key = self.spec.key
        added = self._execute(
            self._insert_ignoring_conflicts(
                SEEN_TABLE, "key, line", f"SELECT {key}, line FROM {BATCH_TABLE}"
            )
        )
        if added != len(batch) and self.newest_position is None:
            duplicate = self._first_duplicate_in_stage(own_lines_seen=True)
            assert duplicate is not None
            raise duplicate
        self._write(batch)

    def _write(self, batch: list[tuple[Any, ...]]) -> None:
        """Write the staged batch's rows: new ones inserted, stored ones that differ updated."""
        raise NotImplementedError

    def _newest_condition(self, incoming: str) -> str:
        """Where rows are the newest of several (pings), an older one never replaces a newer."""
        newest = self.spec.newest_by
        if newest is None:
            return ""
        stored = f"{self.table_name}.{newest}"
        return f" AND ({incoming}.{newest} >= {stored} OR {stored} IS NULL)"

    def delete_missing(self, *, allow_mass_delete: bool) -> None:
        key = self.spec.key
        table = self.table_name
        missing = f"NOT EXISTS (SELECT 1 FROM {SEEN_TABLE} seen WHERE seen.key = {table}.{key})"
        ((count,),) = self._fetch(f"SELECT count(*) FROM {table} WHERE {missing}")
        if not count:
            return
        if not allow_mass_delete and Decimal(count) > MASS_DELETE_SHARE * Decimal(self.rows_before):
            share = round(100 * count / max(self.rows_before, 1))
            raise MassDeleteRefused(
                f"--full would delete {count:,} of {self.rows_before:,} "
                f"{self.spec.kind.value} ({share}%), more than the "
                f"{int(MASS_DELETE_SHARE * 100)}% safety limit; nothing was changed. If the file "
                "really is the complete export, run again with --allow-mass-delete.",
                deleting=count,
                rows_before=self.rows_before,
                kind=self.spec.kind.value,
            )
        self._execute(f"DELETE FROM {table} WHERE {missing}")
        self.deleted = count
