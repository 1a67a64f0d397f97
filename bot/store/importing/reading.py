"""Reading export files: CSV (comma, semicolon or tab; BOM dropped; CRLF or LF; quoted
multi-line cells) or JSON lines, each record as (the line it starts on, its cells in the kind's
field order). Header names are matched to the kind's columns and the source systems' aliases;
unknown columns are warned about and ignored. Two decoding paths: CSV is decoded in large
chunks (the fast path) with bad bytes kept as surrogate escapes, reported only when their
record is reached with exactly the error the line-by-line path (`_decoded_lines`, also JSON
lines') gives: the line, the byte and its position."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.store.importing.errors import ImportFailed
from bot.store.importing.kinds import KindSpec

_HEADER_SEPARATORS = re.compile(r"[\s_.\-]+")
# The largest CSV cell read (csv's default is 131,072 characters): CustomersDot's `license_file`
# column holds whole license files, 200 KB and more, in a column the importer then ignores.
# What is kept is bounded by each column's width (kinds.py: KindSpec.length_checks).
CSV_CELL_MAX = 16 * 1024 * 1024
# Unknown columns named in the one warning about them; the rest are counted.
UNKNOWN_SHOWN = 5
_UNCLOSED_QUOTE = 'a quoted cell opened in this record is never closed (a stray ")'


def _normalise_header(name: str) -> str:
    return _HEADER_SEPARATORS.sub("_", name.strip().lower()).strip("_")


def _decoded_lines(path: Path) -> Generator[str, None, None]:
    """The file's physical lines as text (line endings kept), BOM dropped; bad bytes -> ImportFailed."""
    try:
        handle = path.open("rb")
    except OSError as error:
        raise ImportFailed(f"cannot read {path}: {error.strerror or error}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1:
                if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                    raise ImportFailed(
                        "the file is UTF-16; save it as UTF-8 (Excel: 'CSV UTF-8')", line=1
                    )
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as error:
                byte = raw[error.start]
                raise ImportFailed(
                    f"byte 0x{byte:02x} at position {error.start + 1} is not UTF-8 "
                    "(Latin-1 or Windows-1252?); save the file as UTF-8 (Excel: 'CSV UTF-8')",
                    line=number,
                ) from None


# Bytes that are not UTF-8, as the "surrogateescape" error handler decodes them.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _open_text(path: Path) -> io.TextIOWrapper:
    """The file as text, decoded in large chunks (the fast path); BOM dropped; lines end at
    "\n" only, as in _decoded_lines. Bytes that are not UTF-8 are kept as surrogate escapes
    for _check_decoded to report, when their record is reached, exactly as _decoded_lines
    would have."""
    try:
        handle = path.open("rb")
    except OSError as error:
        raise ImportFailed(f"cannot read {path}: {error.strerror or error}") from None
    if handle.peek(2)[:2] in (b"\xff\xfe", b"\xfe\xff"):
        handle.close()
        raise ImportFailed("the file is UTF-16; save it as UTF-8 (Excel: 'CSV UTF-8')", line=1)
    return io.TextIOWrapper(handle, encoding="utf-8-sig", errors="surrogateescape", newline="\n")


def _check_decoded(path: Path, text: str) -> None:
    """Raise _decoded_lines's error (line, byte, position) if `text` holds undecodable bytes."""
    if text.isascii() or not _UNDECODABLE.search(text):
        return
    with closing(_decoded_lines(path)) as lines:
        for _ in lines:  # raises ImportFailed at the first line that is not UTF-8
            pass
    raise ImportFailed("the file is not UTF-8; save it as UTF-8 (Excel: 'CSV UTF-8')")


def _is_json_lines(path: Path) -> bool:
    if path.suffix.lower() in {".jsonl", ".ndjson"}:
        return True
    with closing(_decoded_lines(path)) as lines:
        for line_text in lines:
            stripped = line_text.strip()
            if stripped:
                return stripped.startswith("{")
    return False


class Records:
    """Rows of one file as (line where the record starts, {column: trimmed text or None})."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.json_lines = _is_json_lines(path)
        self.warnings: list[str] = []

    def rows(self, spec: KindSpec) -> Generator[tuple[int, list[Any]], None, None]:
        if self.json_lines:
            return self._json_rows(spec)
        return self._csv_rows(spec)

    def _csv_rows(self, spec: KindSpec) -> Generator[tuple[int, list[Any]], None, None]:
        with _open_text(self.path) as lines:
            first_line = lines.readline()
            while first_line and not first_line.strip():
                first_line = lines.readline()
            if not first_line:
                raise ImportFailed("the file is empty: expected a header line naming the columns")
            yield from self._csv_records(spec, first_line, lines)

    def _csv_records(
        self, spec: KindSpec, first_line: str, lines: Iterator[str]
    ) -> Generator[tuple[int, list[Any]], None, None]:
        csv.field_size_limit(CSV_CELL_MAX)
        reader = csv.reader(itertools.chain((first_line,), lines), delimiter=_delimiter(first_line))
        start = 1
        try:
            header = next(reader)
            _check_decoded(self.path, "".join(header))
            columns = self._check_header(spec, header)
            # (position in the file's row, position in spec.fields) for every known column.
            placed = [
                (cell_position, spec.field_positions[name])
                for cell_position, name in enumerate(columns)
                if name is not None
            ]
            field_count = len(spec.fields)
            header_length = len(header)
            line_count = reader.line_num
            while True:
                start = line_count + 1
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                line_count = reader.line_num
                text = "".join(cells)
                _check_decoded(self.path, text)
                if not text.strip():  # a blank line, or only separators
                    continue
                if len(cells) != header_length:
                    spans = reader.line_num > start  # a record over several lines: a quote?
                    raise ImportFailed(
                        f"{len(cells)} values but the header has {header_length} columns"
                        + (f"; {_UNCLOSED_QUOTE}?" if spans else ""),
                        line=start,
                    )
                values: list[Any] = [None] * field_count
                for cell_position, field_position in placed:
                    values[field_position] = cells[cell_position].strip() or None
                yield start, values
        except csv.Error as error:
            if reader.line_num > start and ("end of data" in str(error) or "limit" in str(error)):
                # A quote that never closes swallows the rest of the file (until the file, or
                # the cell limit, ends): say where it opened, not where the reading stopped.
                raise ImportFailed(_UNCLOSED_QUOTE, line=start) from None
            raise ImportFailed(f"not valid CSV ({error})", line=reader.line_num) from None

    def _check_header(self, spec: KindSpec, header: Sequence[str]) -> list[str | None]:
        """Header cells -> the known column each one holds (None: ignored)."""
        known = spec.column_names
        columns: list[str | None] = []
        seen: set[str] = set()
        unknown: list[str] = []
        unnamed: list[int] = []
        for position, cell in enumerate(header, start=1):
            header_name = _normalise_header(cell)
            if not header_name:
                unnamed.append(position)
                columns.append(None)
                continue
            name = known.get(header_name)
            if name is None:
                if header_name not in spec.ignored_columns:
                    unknown.append(cell.strip())
                columns.append(None)
                continue
            if name in seen:
                raise ImportFailed(f"column {name} appears twice in the header", line=1)
            seen.add(name)
            columns.append(name)
        missing_required = [
            f.name
            for f in spec.fields
            if (f.required or f.column_required)
            and f.name not in seen
            and (f.present_with is None or f.present_with not in seen)
        ]
        if missing_required:
            raise ImportFailed(
                f"the {spec.kind.value} file lacks required column"
                f"{'s' if len(missing_required) > 1 else ''}: {', '.join(missing_required)}",
                line=1,
            )
        self._warn_of_unknown(unknown)
        if unnamed:
            shown = ", ".join(str(position) for position in unnamed[:UNKNOWN_SHOWN])
            more = ", …" if len(unnamed) > UNKNOWN_SHOWN else ""
            self.warnings.append(
                f"{len(unnamed):,} column{'s' if len(unnamed) > 1 else ''} without a name "
                f"ignored (column {shown}{more})"
            )
        missing = [
            f.name for f in spec.fields if f.name not in seen and not f.source_only and f.in_exports
        ]
        if missing:
            self.warnings.append(
                f"column{'s' if len(missing) > 1 else ''} not in the file, stored as empty: "
                + ", ".join(missing)
            )
        return columns

    def _warn_of_unknown(self, unknown: Sequence[str]) -> None:
        """One line for the columns no kind knows, however many: how many, and the first few."""
        if not unknown:
            return
        shown = ", ".join(repr(name) for name in unknown[:UNKNOWN_SHOWN])
        more = ", …" if len(unknown) > UNKNOWN_SHOWN else ""
        self.warnings.append(
            f"{len(unknown):,} unknown column{'s' if len(unknown) > 1 else ''} ignored: "
            f"{shown}{more}"
        )

    def _json_rows(self, spec: KindSpec) -> Generator[tuple[int, list[Any]], None, None]:
        known = spec.column_names
        unknown_reported: set[str] = set()
        unknown: list[str] = []
        try:
            yield from self._json_records(spec, known, unknown_reported, unknown)
        finally:
            self._warn_of_unknown(unknown)

    def _json_records(
        self,
        spec: KindSpec,
        known: dict[str, str],
        unknown_reported: set[str],
        unknown: list[str],
    ) -> Generator[tuple[int, list[Any]], None, None]:
        for number, line_text in enumerate(_decoded_lines(self.path), start=1):
            if not line_text.strip():
                continue
            try:
                record = json.loads(line_text, parse_float=Decimal)
            except json.JSONDecodeError as error:
                raise ImportFailed(
                    f"not valid JSON ({error.msg} at column {error.colno})", line=number
                ) from None
            except RecursionError:
                raise ImportFailed("JSON nested too deeply to be a record", line=number) from None
            if not isinstance(record, dict):
                raise ImportFailed("expected a JSON object ({...}) on each line", line=number)
            cells: list[Any] = [None] * len(spec.fields)
            seen: set[str] = set()
            for key, value in record.items():
                header_name = _normalise_header(key)
                name = known.get(header_name)
                if name is None:
                    if header_name not in unknown_reported:
                        unknown_reported.add(header_name)
                        if header_name not in spec.ignored_columns:
                            unknown.append(key)
                    continue
                if name in seen:
                    raise ImportFailed(f"column {name} appears twice", line=number)
                seen.add(name)
                cells[spec.field_positions[name]] = _json_cell(name, value, number)
            yield number, cells


def _json_cell(name: str, value: object, line: int) -> str | None:
    # Every value goes through the same text parsers as CSV cells, so both formats agree.
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    raise ImportFailed(f"{name} holds a JSON list or object; expected a plain value", line=line)


def _delimiter(header_line: str) -> str:
    # Excel in many European locales writes ';'-separated "CSV"; a header never holds one.
    for candidate in (",", ";", "\t"):
        if candidate in header_line:
            return candidate
    return ","


def read_records(path: Path) -> Records:
    if not path.is_file():
        raise ImportFailed(f"no such file: {path}")
    return Records(path)
