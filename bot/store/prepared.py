"""Statements built once and run on the driver's cursor: the few every lookup runs.

Each lookup runs the same prebuilt Core statements: the name probe, the card, the request's
claim, the rate limit's check and the audit row. SQLAlchemy's execution of a statement costs
40-60 µs of Python on top of the driver's own work: the compiled cache is looked up by the
statement's whole cache key (hashed and compared at each run), the parameters are built from
every bind, a result object and its rows are made. Over five statements that was a quarter of an
exact lookup's CPU.

A `PreparedStatement` is compiled by SQLAlchemy once per dialect (the same SQL it would send),
and each run is the driver's execute and fetch on the session's connection, inside its
transaction, with the bind and result processors of the statement's own types (what SQLAlchemy
applies: SQLite's text dates, our UTC datetimes). What SQLAlchemy's execution does besides is
kept: the engine's cursor events fire (the tests' statement capture sees these statements; a
listener that rewrites the statement, `retval=True`, is not supported), and a driver error is
raised as SQLAlchemy's `DBAPIError` with the parameters hidden (as the store's engines hide
them), a lost connection invalidated first. Rows come back as named tuples, read by position or
by column name; as plain tuples for a text() statement, or where two columns share a name.

Only plain statements are taken: binds given at run time or fixed in the statement, no
expanding (`IN` list) or render-at-run-time binds; `PreparedStatement` refuses others when it
compiles them.
"""

from __future__ import annotations

import contextlib
import keyword
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

_Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Bind:
    """One parameter of the compiled SQL: the run-time key it is read from, or its fixed value."""

    name: str  # in the compiled SQL
    key: str  # in the parameters a run is given
    required: bool
    fixed: Any
    process: _Processor


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: bool
    binds: tuple[_Bind, ...]
    # (position, processor) of each result column whose type converts the driver's value
    processed: tuple[tuple[int, Callable[[Any], Any]], ...]
    row: type[tuple[Any, ...]]


class PreparedStatement:
    """`statement` (a Core statement with bound parameters), compiled once per dialect and run
    on the driver's cursor of a SQLAlchemy connection."""

    def __init__(self, statement: ClauseElement, *, column_keys: Sequence[str] = ()) -> None:
        self.statement = statement
        # An INSERT's columns, each bound by its own name (SQLAlchemy picks them from the first
        # run's parameters; here they are fixed).
        self._column_keys = list(column_keys)
        self._by_dialect: dict[str, _Compiled] = {}

    def rows(self, connection: Connection, parameters: Mapping[str, Any]) -> list[Any]:
        """Every row of the result, as named tuples (none for a statement without a result)."""
        compiled = self._compiled(connection.dialect)
        raw = _run(connection, compiled, parameters)
        if compiled.row is tuple and not compiled.processed:
            return list(raw)  # the driver's rows are tuples already
        make: Callable[[Any], Any] = getattr(compiled.row, "_make", tuple)
        if not compiled.processed:
            return [make(row) for row in raw]
        made = []
        for row in raw:
            values = list(row)
            for position, process in compiled.processed:
                value = values[position]
                if value is not None:
                    values[position] = process(value)
            made.append(make(values))
        return made

    def scalar(self, connection: Connection, parameters: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None without one."""
        found = self.rows(connection, parameters)
        return found[0][0] if found else None

    def execute(self, connection: Connection, parameters: Mapping[str, Any]) -> None:
        """Run a statement whose result is not read (an INSERT without RETURNING)."""
        _run(connection, self._compiled(connection.dialect), parameters)

    def _compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = _compile(self.statement, dialect, self._column_keys)
            self._by_dialect[dialect.name] = compiled
        return compiled


def _compile(statement: ClauseElement, dialect: Dialect, column_keys: list[str]) -> _Compiled:
    compiled: Any = statement.compile(dialect=dialect, column_keys=column_keys or None)
    # Positional SQL (SQLite's `?`) takes a value per place, a name used twice twice; named SQL
    # (psycopg's `%(name)s`) one per name.
    names: list[str] = (
        list(compiled.positiontup)
        if compiled.positional
        else list(dict.fromkeys(compiled.bind_names.values()))
    )
    binds = []
    for name in names:
        bind = compiled.binds[name]
        if bind.expanding or bind.literal_execute or bind.callable is not None:
            raise TypeError(f"{name}: only plain bound parameters can be prepared")
        binds.append(
            _Bind(
                name=name,
                key=bind.key,
                required=bind.required,
                fixed=bind.value,
                process=bind.type.dialect_impl(dialect).bind_processor(dialect),
            )
        )
    columns = list(getattr(statement, "exported_columns", ()))
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
    )
    return _Compiled(
        sql=compiled.string,
        positional=compiled.positional,
        binds=tuple(binds),
        processed=tuple(
            (position, process) for position, process in enumerate(results) if process is not None
        ),
        # A text() statement's columns are not known before it runs: plain tuples.
        row=_row_type([column.key for column in columns]) if columns else tuple,
    )


def _row_type(keys: list[str]) -> type[tuple[Any, ...]]:
    """A named tuple of the result's columns, with `_mapping` as SQLAlchemy's rows have; a plain
    tuple where two columns share a name or a name cannot be an attribute (read by position)."""
    if len(set(keys)) != len(keys) or not all(
        key.isidentifier() and not keyword.iskeyword(key) and not key.startswith("_")
        for key in keys
    ):
        return tuple
    base = namedtuple("PreparedRow", keys)  # type: ignore[misc]
    return type(
        "PreparedRow", (base,), {"__slots__": (), "_mapping": property(lambda row: row._asdict())}
    )


def _run(
    connection: Connection, compiled: _Compiled, parameters: Mapping[str, Any]
) -> Sequence[Any]:
    values = []
    for bind in compiled.binds:
        if bind.key in parameters:
            value = parameters[bind.key]
        elif bind.required:
            raise KeyError(f"no value for the bound parameter {bind.key!r}")
        else:
            value = bind.fixed
        if bind.process is not None and value is not None:
            value = bind.process(value)
        values.append(value)
    arguments: Any = (
        tuple(values)
        if compiled.positional
        else {bind.name: value for bind, value in zip(compiled.binds, values, strict=True)}
    )
    dialect = connection.dialect
    if not connection.in_transaction():
        connection.begin()  # as SQLAlchemy's execution begins one (a session's has begun)
    pooled = connection.connection
    cursor = pooled.cursor()
    try:
        dispatch = connection.dispatch
        if dispatch.before_cursor_execute:
            for listener in dispatch.before_cursor_execute:
                listener(connection, cursor, compiled.sql, arguments, None, False)
        try:
            cursor.execute(compiled.sql, arguments)
            fetched: Sequence[Any] = cursor.fetchall() if cursor.description is not None else ()
        except dialect.loaded_dbapi.Error as error:
            lost = dialect.is_disconnect(error, pooled.dbapi_connection, cursor)
            if lost:
                connection.invalidate(error)
            raise DBAPIError.instance(
                compiled.sql,
                arguments,
                error,
                dialect.loaded_dbapi.Error,
                hide_parameters=True,
                connection_invalidated=lost,
                dialect=dialect,
            ) from error
        if dispatch.after_cursor_execute:
            for listener in dispatch.after_cursor_execute:
                listener(connection, cursor, compiled.sql, arguments, None, False)
        return fetched
    finally:
        # As SQLAlchemy closes a cursor: a failure to close it is not the statement's.
        with contextlib.suppress(dialect.loaded_dbapi.Error):
            cursor.close()
