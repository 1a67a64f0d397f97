"""Load CustomersDot and version.gitlab.com exports into the store (DESIGN.md: Import files).

One file is one transaction: every row is validated and written, or nothing changes. Rows are
streamed and written in batches with bulk upserts, so memory stays flat in the file size apart
from the set of keys seen (needed for duplicate detection and `--full`). Only rows that differ
from what the store holds are written, so re-importing a file touches nothing and fires no
triggers.
"""

from __future__ import annotations

import csv
import enum
import functools
import json
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    String,
    Table,
    bindparam,
    cast,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from bot.search import company_search_key
from bot.store.models import Customer, Host, ImportRun, License, Reconciliation

BATCH_SIZE = 2000
# Keys per IN (...) list: well under SQLite's and PostgreSQL's bound-parameter limits.
KEY_CHUNK_SIZE = 500
# `--full` refuses to remove more than this share of a table's rows without --allow-mass-delete.
MASS_DELETE_SHARE = Decimal("0.10")

# PostgreSQL: refresh planner statistics once a table has grown by at least this many rows.
ANALYZE_MIN_ROWS = 5000

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

# ISO 4217 minor-unit exponents that are not 2.
CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}
DEFAULT_CURRENCY_EXPONENT = 2

LICENSE_TYPES = frozenset({"cloud", "offline_cloud", "legacy"})
RECONCILIATION_STATUSES = frozenset({"pending", "processed", "skipped", "failed"})
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})

_WHOLE_NUMBER = re.compile(r"[+-]?\d+")
_DECIMAL_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_TIMESTAMP_START = re.compile(r"\d{4}-\d{2}-\d{2}([T ]|$)")
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")
_HEADER_SEPARATORS = re.compile(r"[\s_\-]+")
_WORD_SEPARATORS = re.compile(r"[\s\-]+")
_MAX_SHOWN_VALUE = 60


class ImportKind(enum.StrEnum):
    LICENSES = "licenses"
    RECONCILIATIONS = "reconciliations"
    HOSTS = "hosts"


class ImportFailed(ValueError):
    """The file cannot be imported; nothing was changed. The message is for the operator."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line
        self.reason = message


@dataclass(frozen=True)
class ImportSummary:
    kind: ImportKind
    file: str
    rows: int
    inserted: int
    updated: int
    unchanged: int
    deleted: int
    full: bool
    finished_at: datetime
    warnings: tuple[str, ...] = ()
    customers_written: int = 0  # customers added or changed (licenses imports only)
    customers_deleted: int = 0

    def describe(self) -> str:
        """One line for the operator, e.g. for the CLI's final message."""
        description = (
            f"{self.kind.value}: {self.rows:,} rows from {self.file}: {self.inserted:,} inserted, "
            f"{self.updated:,} updated, {self.unchanged:,} unchanged, {self.deleted:,} deleted"
        )
        if self.kind is ImportKind.LICENSES:
            description += (
                f"; customers: {self.customers_written:,} added or changed, "
                f"{self.customers_deleted:,} removed"
            )
        return description


def import_file(
    session_factory: sessionmaker[Session],
    kind: ImportKind | str,
    path: Path,
    *,
    full: bool = False,
    allow_mass_delete: bool = False,
    on_progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> ImportSummary:
    """Import one export file in a single transaction; raise ImportFailed and change nothing on error.

    `full`: the file is the complete export, so rows it lacks are deleted (refused above 10% of
    the table unless `allow_mass_delete`). `on_progress(rows_done)` is called after each batch.
    """
    spec = _spec_for(kind)
    path = Path(path)
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    records = _read_records(path)
    with session_factory() as session, session.begin(), closing(records.rows(spec)) as rows:
        run = _ImportWork(session, spec, full=full)
        for line, values in rows:
            run.add(line, values)
            if len(run.batch) >= BATCH_SIZE:
                run.flush()
                if on_progress is not None:
                    on_progress(run.rows)
        if run.batch:
            run.flush()
            if on_progress is not None:
                on_progress(run.rows)
        if full:
            run.delete_missing(allow_mass_delete=allow_mass_delete)
        if spec.kind is ImportKind.LICENSES:
            run.refresh_customers()
        finished_at = (now or datetime.now(UTC)).astimezone(UTC)
        session.add(
            ImportRun(
                kind=spec.kind.value,
                file=path.name,
                rows=run.rows,
                inserted=run.inserted,
                updated=run.updated,
                deleted=run.deleted,
                full=full,
                finished_at=finished_at,
            )
        )
    return ImportSummary(
        kind=spec.kind,
        file=path.name,
        rows=run.rows,
        inserted=run.inserted,
        updated=run.updated,
        unchanged=run.rows - run.inserted - run.updated,
        deleted=run.deleted,
        full=full,
        finished_at=finished_at,
        warnings=tuple(records.warnings),
        customers_written=run.customers_written,
        customers_deleted=run.customers_deleted,
    )


# --- Values ---------------------------------------------------------------------------------


class _InvalidValue(Exception):
    """A cell's value is unusable; the text completes "<column> '<value>' ..."."""


class _InvalidRow(Exception):
    """A row is unusable; the text is the whole reason."""


def _text(raw: str) -> str:
    return raw


def _lowercase(raw: str) -> str:
    return raw.lower()


def _uppercase(raw: str) -> str:
    return raw.upper()


def _whole_number(raw: str, *, minimum: int, maximum: int) -> int:
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise _InvalidValue("is not a whole number (digits only, no separators)")
    value = int(raw)
    if value < minimum:
        raise _InvalidValue(f"is below {minimum}")
    if value > maximum:
        raise _InvalidValue("is too large")
    return value


def _record_id(raw: str) -> int:
    return _whole_number(raw, minimum=1, maximum=INT64_MAX)


def _count(raw: str) -> int:
    return _whole_number(raw, minimum=0, maximum=INT32_MAX)


def _boolean(raw: str) -> bool:
    word = raw.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise _InvalidValue("is not true or false (true/false, yes/no, 1/0)")


def _timestamp(raw: str) -> datetime:
    """ISO 8601; no zone means UTC; `Z` and Rails' trailing ` UTC` are accepted."""
    iso_text = raw[:-4] + "+00:00" if raw.endswith(" UTC") else raw
    if not _ISO_TIMESTAMP_START.match(iso_text):
        raise _InvalidValue("is not a timestamp (YYYY-MM-DD HH:MM:SS, ISO 8601)")
    try:
        value = datetime.fromisoformat(iso_text)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset pushes it past year 1..9999
        raise _InvalidValue("is not a timestamp (YYYY-MM-DD HH:MM:SS, ISO 8601)") from None


def _date(raw: str) -> date:
    """YYYY-MM-DD; a full timestamp gives the calendar date as written (its zone is not applied).

    Exports of date columns sometimes carry a midnight time; the date a person reads in the
    file is the date meant, whatever offset follows it.
    """
    if not _ISO_TIMESTAMP_START.match(raw):
        raise _InvalidValue("is not a date (YYYY-MM-DD)")
    try:
        if _ISO_DATE.fullmatch(raw):
            return date.fromisoformat(raw)
        return datetime.fromisoformat(raw.removesuffix(" UTC")).date()
    except ValueError:
        raise _InvalidValue("is not a valid date (YYYY-MM-DD)") from None


def _decimal(raw: str) -> Decimal:
    if not _DECIMAL_NUMBER.fullmatch(raw):
        raise _InvalidValue("is not an amount (digits with an optional '.', e.g. 4312.50)")
    try:
        return Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern already excludes these
        raise _InvalidValue("is not an amount") from None


def _currency(raw: str) -> str:
    code = raw.upper()
    if not _CURRENCY_CODE.fullmatch(code):
        raise _InvalidValue("is not a currency code (three letters, e.g. USD)")
    return code


def _one_of(allowed: frozenset[str]) -> Callable[[str], str]:
    listed = ", ".join(sorted(allowed))

    def parse(raw: str) -> str:
        word = _WORD_SEPARATORS.sub("_", raw.strip().lower())
        if word not in allowed:
            raise _InvalidValue(f"is not one of {listed}")
        return word

    return parse


def _hostname(raw: str) -> str:
    name = raw.lower().rstrip(".")
    if not name or any(c.isspace() for c in name) or "/" in name:
        raise _InvalidValue("is not a hostname")
    return name


def minor_units(amount: Decimal, currency: str) -> int:
    """An exact decimal amount in the currency's minor units; ValueError if it does not fit."""
    exponent = CURRENCY_EXPONENTS.get(currency, DEFAULT_CURRENCY_EXPONENT)
    sign, digits, digits_exponent = amount.as_tuple()
    assert isinstance(digits_exponent, int)  # finite: the parser admits digits only
    coefficient = int("".join(map(str, digits)) or "0")
    shift = digits_exponent + exponent
    if shift >= 0:
        value = coefficient * 10**shift
    else:
        value, remainder = divmod(coefficient, 10**-shift)
        if remainder:
            raise ValueError(f"has more decimals than {currency} allows ({exponent})")
    return -value if sign else value


# --- What each file holds ------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    name: str
    parse: Callable[[str], Any]
    required: bool = False  # the column must be present and the cell non-empty


@dataclass(frozen=True)
class _KindSpec:
    kind: ImportKind
    table: Table
    key: str
    fields: tuple[_Field, ...]
    to_row: Callable[[dict[str, Any]], dict[str, Any]]
    # Stored column -> file column, for length errors on derived columns.
    sources: dict[str, str] = field(default_factory=dict)
    noun: str = "row"

    @property
    def field_names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)

    @functools.cached_property
    def length_limits(self) -> dict[str, int]:
        """Stored column -> its VARCHAR length: PostgreSQL enforces these, SQLite does not."""
        return {
            column.name: column.type.length
            for column in self.table.columns
            if isinstance(column.type, String) and column.type.length
        }


def _customer_key(company: str, salesforce_account_id: str | None) -> str:
    if salesforce_account_id:
        return f"sf:{salesforce_account_id}"[:300]
    return f"name:{_name_key(company)}"[:300]


def _name_key(company: str) -> str:
    # A name made only of punctuation normalises to nothing; keep it apart from other such names.
    return company_search_key(company) or company.strip().casefold()


def _license_row(values: dict[str, Any]) -> dict[str, Any]:
    email: str | None = values["contact_email"]
    email_key = email.lower() if email else None
    domain: str | None = None
    if email_key and "@" in email_key:
        domain = email_key.rpartition("@")[2] or None
    return {
        "id": values["id"],
        "customer_key": _customer_key(values["company"], values["salesforce_account_id"]),
        "company": values["company"],
        "contact_name": values["contact_name"],
        "contact_email": email,
        "contact_email_key": email_key,
        "contact_email_domain": domain,
        "plan": values["plan"],
        "user_count": values["user_count"],
        "previous_user_count": values["previous_user_count"],
        "trueup_quantity": values["trueup_quantity"],
        "trial": bool(values["trial"]),
        "license_type": values["license_type"],
        "issued_at": values["issued_at"],
        "starts_at": values["starts_at"],
        "expires_at": values["expires_at"],
        "zuora_subscription_id": values["zuora_subscription_id"],
        "zuora_subscription_name": values["zuora_subscription_name"],
        "salesforce_account_id": values["salesforce_account_id"],
        "zuora_account_id": values["zuora_account_id"],
    }


def _reconciliation_row(values: dict[str, Any]) -> dict[str, Any]:
    amount: Decimal | None = values["invoiced_amount"]
    currency: str | None = values["currency"]
    amount_minor: int | None = None
    if amount is not None:
        if currency is None:
            raise _InvalidRow(f"invoiced_amount '{amount}' has no currency")
        try:
            amount_minor = minor_units(amount, currency)
        except ValueError as error:
            raise _InvalidRow(f"invoiced_amount '{amount}' {error}") from None
        if abs(amount_minor) > INT64_MAX:
            raise _InvalidRow(f"invoiced_amount '{amount}' is too large")
    return {
        "id": values["id"],
        "customer_name": values["customer"],
        "customer_search_key": _name_key(values["customer"])[:300],
        "subscription_name": values["subscription_name"],
        "zuora_subscription_id": values["zuora_subscription_id"],
        "status": values["status"],
        "reconcile_on": values["reconcile_on"],
        "reconcile_done_at": values["reconcile_done_at"],
        "skip_reason": values["skip_reason"],
        "user_count": values["user_count"],
        "invoiced_amount_minor": amount_minor,
        "currency": currency,
        "error_message": values["error_message"],
    }


def _host_row(values: dict[str, Any]) -> dict[str, Any]:
    return dict(values)


_SPECS: dict[ImportKind, _KindSpec] = {
    ImportKind.LICENSES: _KindSpec(
        kind=ImportKind.LICENSES,
        table=License.__table__,  # type: ignore[arg-type]
        key="id",
        noun="license",
        fields=(
            _Field("id", _record_id, required=True),
            _Field("company", _text, required=True),
            _Field("contact_name", _text),
            _Field("contact_email", _text),
            _Field("plan", _lowercase, required=True),
            _Field("user_count", _count),
            _Field("trial", _boolean),
            _Field("issued_at", _timestamp),
            _Field("starts_at", _date),
            _Field("expires_at", _date),
            _Field("license_type", _one_of(LICENSE_TYPES)),
            _Field("zuora_subscription_id", _text),
            _Field("zuora_subscription_name", _uppercase),
            _Field("previous_user_count", _count),
            _Field("trueup_quantity", _count),
            _Field("salesforce_account_id", _text),
            _Field("zuora_account_id", _text),
        ),
        to_row=_license_row,
        sources={
            "customer_key": "company",
            "contact_email_key": "contact_email",
            "contact_email_domain": "contact_email",
        },
    ),
    ImportKind.RECONCILIATIONS: _KindSpec(
        kind=ImportKind.RECONCILIATIONS,
        table=Reconciliation.__table__,  # type: ignore[arg-type]
        key="id",
        noun="reconciliation",
        fields=(
            _Field("id", _record_id, required=True),
            _Field("customer", _text, required=True),
            _Field("subscription_name", _uppercase),
            _Field("zuora_subscription_id", _text),
            _Field("status", _one_of(RECONCILIATION_STATUSES), required=True),
            _Field("reconcile_on", _date),
            _Field("reconcile_done_at", _timestamp),
            _Field("skip_reason", _text),
            _Field("user_count", _count),
            _Field("invoiced_amount", _decimal),
            _Field("currency", _currency),
            _Field("error_message", _text),
        ),
        to_row=_reconciliation_row,
        sources={"customer_name": "customer", "invoiced_amount_minor": "invoiced_amount"},
    ),
    ImportKind.HOSTS: _KindSpec(
        kind=ImportKind.HOSTS,
        table=Host.__table__,  # type: ignore[arg-type]
        key="hostname",
        noun="host",
        fields=(
            _Field("hostname", _hostname, required=True),
            _Field("license_id", _record_id),
            _Field("gitlab_version", _text),
            _Field("active_user_count", _count),
            _Field("historical_max_users", _count),
            _Field("last_ping_at", _timestamp),
        ),
        to_row=_host_row,
    ),
}


def import_columns(kind: ImportKind | str) -> tuple[str, ...]:
    """The columns of a kind of export, in DESIGN.md's order: the one list the demo, the
    benchmarks and the tests write their files with."""
    return tuple(f.name for f in _spec_for(kind).fields)


def _spec_for(kind: ImportKind | str) -> _KindSpec:
    try:
        return _SPECS[ImportKind(str(kind).strip().lower())]
    except ValueError:
        expected = ", ".join(k.value for k in ImportKind)
        raise ImportFailed(
            f"unknown import kind {str(kind)!r}; expected one of {expected}"
        ) from None


def _show(raw: str) -> str:
    shown = raw if len(raw) <= _MAX_SHOWN_VALUE else raw[: _MAX_SHOWN_VALUE - 1] + "…"
    return repr(shown)


def _convert(spec: _KindSpec, line: int, cells: dict[str, str | None]) -> dict[str, Any]:
    """File cells (already trimmed; None when empty) -> the row to store. Raises ImportFailed."""
    values: dict[str, Any] = {}
    for spec_field in spec.fields:
        raw = cells.get(spec_field.name)
        if raw is None:
            if spec_field.required:
                raise ImportFailed(
                    f"{spec_field.name} is empty; every {spec.noun} needs one", line=line
                )
            values[spec_field.name] = None
            continue
        if "\x00" in raw:  # PostgreSQL text cannot hold NUL; no export means one
            raise ImportFailed(f"{spec_field.name} contains a NUL character", line=line)
        try:
            values[spec_field.name] = spec_field.parse(raw)
        except _InvalidValue as error:
            raise ImportFailed(f"{spec_field.name} {_show(raw)} {error}", line=line) from None
    try:
        row = spec.to_row(values)
    except _InvalidRow as error:
        raise ImportFailed(str(error), line=line) from None
    for name, limit in spec.length_limits.items():
        value = row.get(name)
        if value is not None and len(value) > limit:
            source = spec.sources.get(name, name)
            raise ImportFailed(f"{source} is longer than {limit} characters", line=line)
    return row


# --- Reading files -------------------------------------------------------------------------


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


def _is_json_lines(path: Path) -> bool:
    if path.suffix.lower() in {".jsonl", ".ndjson"}:
        return True
    with closing(_decoded_lines(path)) as lines:
        for line_text in lines:
            stripped = line_text.strip()
            if stripped:
                return stripped.startswith("{")
    return False


class _Records:
    """Rows of one file as (line where the record starts, {column: trimmed text or None})."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.json_lines = _is_json_lines(path)
        self.warnings: list[str] = []

    def rows(self, spec: _KindSpec) -> Generator[tuple[int, dict[str, str | None]], None, None]:
        if self.json_lines:
            return self._json_rows(spec)
        return self._csv_rows(spec)

    def _csv_rows(
        self, spec: _KindSpec
    ) -> Generator[tuple[int, dict[str, str | None]], None, None]:
        lines = _decoded_lines(self.path)
        first_line = next(lines, None)
        while first_line is not None and not first_line.strip():
            first_line = next(lines, None)
        if first_line is None:
            raise ImportFailed("the file is empty: expected a header line naming the columns")
        reader = csv.reader(_chain_one(first_line, lines), delimiter=_delimiter(first_line))
        try:
            header = next(reader)
            columns = self._check_header(spec, header)
            line_count = reader.line_num
            while True:
                start = line_count + 1
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                line_count = reader.line_num
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) != len(header):
                    raise ImportFailed(
                        f"{len(cells)} values but the header has {len(header)} columns",
                        line=start,
                    )
                yield (
                    start,
                    {
                        name: cell.strip() or None
                        for name, cell in zip(columns, cells, strict=True)
                        if name is not None
                    },
                )
        except csv.Error as error:
            raise ImportFailed(f"not valid CSV ({error})", line=reader.line_num) from None

    def _check_header(self, spec: _KindSpec, header: Sequence[str]) -> list[str | None]:
        """Header cells -> the known column each one holds (None: ignored)."""
        known = spec.field_names
        columns: list[str | None] = []
        seen: set[str] = set()
        for position, cell in enumerate(header, start=1):
            name = _normalise_header(cell)
            if not name:
                self.warnings.append(f"column {position} has no name and was ignored")
                columns.append(None)
                continue
            if name in seen:
                raise ImportFailed(f"column {name} appears twice in the header", line=1)
            seen.add(name)
            if name not in known:
                self.warnings.append(f"unknown column {cell.strip()!r} ignored")
                columns.append(None)
                continue
            columns.append(name)
        missing_required = [f.name for f in spec.fields if f.required and f.name not in seen]
        if missing_required:
            raise ImportFailed(
                f"the {spec.kind.value} file lacks required column"
                f"{'s' if len(missing_required) > 1 else ''}: {', '.join(missing_required)}",
                line=1,
            )
        missing = [f.name for f in spec.fields if f.name not in seen]
        if missing:
            self.warnings.append(
                f"column{'s' if len(missing) > 1 else ''} not in the file, stored as empty: "
                + ", ".join(missing)
            )
        return columns

    def _json_rows(
        self, spec: _KindSpec
    ) -> Generator[tuple[int, dict[str, str | None]], None, None]:
        known = spec.field_names
        unknown_reported: set[str] = set()
        for number, line_text in enumerate(_decoded_lines(self.path), start=1):
            if not line_text.strip():
                continue
            try:
                record = json.loads(line_text, parse_float=Decimal)
            except json.JSONDecodeError as error:
                raise ImportFailed(
                    f"not valid JSON ({error.msg} at column {error.colno})", line=number
                ) from None
            if not isinstance(record, dict):
                raise ImportFailed("expected a JSON object ({...}) on each line", line=number)
            cells: dict[str, str | None] = {}
            for key, value in record.items():
                name = _normalise_header(key)
                if name not in known:
                    if name not in unknown_reported:
                        unknown_reported.add(name)
                        self.warnings.append(f"unknown column {key!r} ignored")
                    continue
                if name in cells:
                    raise ImportFailed(f"column {name} appears twice", line=number)
                cells[name] = _json_cell(name, value, number)
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


def _chain_one(first: str, rest: Iterable[str]) -> Iterator[str]:
    yield first
    yield from rest


def _delimiter(header_line: str) -> str:
    # Excel in many European locales writes ';'-separated "CSV"; a header never holds one.
    for candidate in (",", ";", "\t"):
        if candidate in header_line:
            return candidate
    return ","


def _read_records(path: Path) -> _Records:
    if not path.is_file():
        raise ImportFailed(f"no such file: {path}")
    return _Records(path)


# --- Writing -------------------------------------------------------------------------------


def _chunks(items: Sequence[Any], size: int = KEY_CHUNK_SIZE) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _key_in(session: Session, column: Column[Any], keys: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN (keys)`, in a form each engine plans well for a few hundred keys."""
    if session.get_bind().dialect.name != "postgresql":
        return column.in_(keys)
    # psycopg prepares a statement run five times, and PostgreSQL's generic plan for
    # `IN ($1, ..., $500)` may scan the table testing each row against the list one by one.
    # One array parameter unnested is a relation the planner joins by hash or index instead,
    # and the statement compiles once rather than once per list length.
    keys_array = cast(
        bindparam(None, list(keys), type_=postgresql.ARRAY(column.type)),
        postgresql.ARRAY(column.type),
    )
    return column.in_(select(func.unnest(keys_array)))


def _upsert(session: Session, table: Table, key: str, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE for a batch of rows of identical shape."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        # psycopg's executemany sends one INSERT per row. With RETURNING, SQLAlchemy's
        # "insertmanyvalues" batches the rows into multi-row VALUES statements, compiled once.
        statement = _upsert_statement(postgresql.insert(table), table, key)
        session.execute(statement.returning(table.c[key]), rows).all()
    else:
        # sqlite3's executemany runs in-process with one prepared statement: already fast.
        session.execute(_upsert_statement(sqlite.insert(table), table, key), rows)


def _upsert_statement(
    statement: postgresql.Insert | sqlite.Insert, table: Table, key: str
) -> postgresql.Insert | sqlite.Insert:
    return statement.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={
            column.name: statement.excluded[column.name]
            for column in table.columns
            if column.name != key
        },
    )


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


class _ImportWork:
    """The state of one import inside its transaction."""

    def __init__(self, session: Session, spec: _KindSpec, *, full: bool) -> None:
        self.session = session
        self.spec = spec
        self.key_column: Column[Any] = spec.table.c[spec.key]
        self.batch: list[dict[str, Any]] = []
        self.line_of_key: dict[Any, int] = {}
        self.rows = 0
        self.inserted = 0
        self.updated = 0
        self.deleted = 0
        self.customers_written = 0
        self.customers_deleted = 0
        # Customers whose set of licenses may have changed: refreshed at the end.
        self.touched_customers: set[str] = set()
        # The mass-delete guard compares against the table as it was before this import.
        self.rows_before = 0
        if full:
            self.rows_before = session.scalar(select(func.count()).select_from(spec.table)) or 0
        self.table_statistics = _PlannerStatistics(session, spec.table)
        self.customer_statistics = (
            _PlannerStatistics(session, Customer.__table__)  # type: ignore[arg-type]
            if spec.kind is ImportKind.LICENSES
            else None
        )

    def add(self, line: int, cells: dict[str, str | None]) -> None:
        row = _convert(self.spec, line, cells)
        key = row[self.spec.key]
        first_line = self.line_of_key.get(key)
        if first_line is not None:
            raise ImportFailed(
                f"{self.spec.key} {key} appears twice, on lines {first_line} and {line}",
                line=line,
            )
        self.line_of_key[key] = line
        self.batch.append(row)
        self.rows += 1

    def flush(self) -> None:
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        columns = list(batch[0])
        existing = {
            row[self.spec.key]: row
            for row in self.session.execute(
                select(*(self.spec.table.c[name] for name in columns)).where(
                    _key_in(self.session, self.key_column, [row[self.spec.key] for row in batch])
                )
            ).mappings()
        }
        changed: list[dict[str, Any]] = []
        for row in batch:
            stored = existing.get(row[self.spec.key])
            if stored is None:
                self.inserted += 1
                changed.append(row)
            elif any(stored[name] != value for name, value in row.items()):
                self.updated += 1
                changed.append(row)
            if self.spec.kind is ImportKind.LICENSES:
                self.touched_customers.add(row["customer_key"])
                if stored is not None:
                    self.touched_customers.add(stored["customer_key"])
        _upsert(self.session, self.spec.table, self.spec.key, changed)
        self.table_statistics.rows_added(len(batch) - len(existing))

    def delete_missing(self, *, allow_mass_delete: bool) -> None:
        stored_keys = self.session.scalars(select(self.key_column)).all()
        missing = [key for key in stored_keys if key not in self.line_of_key]
        if not missing:
            return
        if not allow_mass_delete and Decimal(len(missing)) > MASS_DELETE_SHARE * Decimal(
            self.rows_before
        ):
            share = round(100 * len(missing) / max(self.rows_before, 1))
            raise ImportFailed(
                f"--full would delete {len(missing):,} of {self.rows_before:,} "
                f"{self.spec.kind.value} ({share}%), more than the "
                f"{int(MASS_DELETE_SHARE * 100)}% safety limit; nothing was changed. If the file "
                "really is the complete export, run again with --allow-mass-delete."
            )
        for chunk in _chunks(missing):
            if self.spec.kind is ImportKind.LICENSES:
                self.touched_customers.update(
                    self.session.scalars(
                        select(License.customer_key)
                        .where(_key_in(self.session, License.__table__.c.id, chunk))
                        .distinct()
                    )
                )
            self.session.execute(
                delete(self.spec.table).where(_key_in(self.session, self.key_column, chunk))
            )
        self.deleted = len(missing)

    def refresh_customers(self) -> None:
        """Bring every touched customer in line with its licenses (name of the newest one)."""
        for chunk in _chunks(sorted(self.touched_customers)):
            self._refresh_customer_chunk(chunk)

    def _refresh_customer_chunk(self, keys: Sequence[str]) -> None:
        ranked = (
            select(
                License.customer_key,
                License.company,
                func.row_number()
                .over(
                    partition_by=License.customer_key,
                    order_by=(License.issued_at.desc().nulls_last(), License.id.desc()),
                )
                .label("position"),
            )
            .where(_key_in(self.session, License.__table__.c.customer_key, keys))
            .subquery()
        )
        newest_company: dict[str, str] = {
            key: company
            for key, company in self.session.execute(
                select(ranked.c.customer_key, ranked.c.company).where(ranked.c.position == 1)
            )
        }
        stored = {
            customer.key: customer
            for customer in self.session.execute(
                select(Customer.key, Customer.name, Customer.search_key).where(
                    _key_in(self.session, Customer.__table__.c.key, keys)
                )
            )
        }
        wanted: list[dict[str, Any]] = []
        for key, company in newest_company.items():
            search_key = _name_key(company)[:300]
            current = stored.get(key)
            if current is None or (current.name, current.search_key) != (company, search_key):
                wanted.append(
                    {
                        "key": key,
                        "name": company,
                        "search_key": search_key,
                        "salesforce_account_id": key.removeprefix("sf:")
                        if key.startswith("sf:")
                        else None,
                    }
                )
        _upsert(self.session, Customer.__table__, "key", wanted)  # type: ignore[arg-type]
        if self.customer_statistics is not None:
            self.customer_statistics.rows_added(len(newest_company) - len(stored))
        self.customers_written += len(wanted)
        orphans = [key for key in stored if key not in newest_company]
        if orphans:
            customers = Customer.__table__
            self.session.execute(
                delete(customers).where(_key_in(self.session, customers.c.key, orphans))
            )
            self.customers_deleted += len(orphans)
