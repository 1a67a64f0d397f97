"""The SQL an engine runs, captured for tests that pin statements (counts, probes, plans)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event


@contextmanager
def captured_statements(
    engine: Engine, keep: Callable[[str], bool] = lambda _statement: True
) -> Iterator[list[str]]:
    """Every statement `engine` sends to its driver inside the block, those `keep` accepts."""
    statements: list[str] = []

    def capture(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if keep(statement):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", capture)


@contextmanager
def captured_executions(
    engine: Engine, keep: Callable[[str], bool] = lambda _statement: True
) -> Iterator[list[tuple[str, Any]]]:
    """Every (statement, parameters) `engine` sends to its driver inside the block that `keep`
    keeps: for tests that tell apart runs of one prebuilt statement by what it was given."""
    executions: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if keep(statement):
            executions.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield executions
    finally:
        event.remove(engine, "before_cursor_execute", capture)
