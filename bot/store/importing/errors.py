"""The import's errors: the one an operator reads, and the two a cell or a row raises inside the
package before it is given its line (kinds.convert_cells turns them into ImportFailed)."""

from __future__ import annotations


class ImportFailed(ValueError):
    """The file cannot be imported; nothing was changed. The message is for the operator."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line
        self.reason = message


class MassDeleteRefused(ImportFailed):
    """`full` would delete more of the table than the guard allows unasked; nothing changed.
    The counts let a caller (the sync) say it in words of its own."""

    def __init__(self, message: str, *, deleting: int, rows_before: int, kind: str) -> None:
        super().__init__(message)
        self.deleting = deleting
        self.rows_before = rows_before
        self.kind = kind


class InvalidValue(Exception):
    """A cell's value is unusable; the text completes "<column> '<value>' ..."."""


class InvalidRow(Exception):
    """A row is unusable; the text is the whole reason."""
