"""Load CustomersDot and version.gitlab.com exports into the store (ARCHITECTURE.md: Import files).

One file is one transaction: every row is validated and written, or nothing changes. Rows are
streamed and written in batches with set-based upserts; the keys seen (duplicate detection,
`--full`) and the customers to refresh are kept in temporary tables of the import's own
connection, so memory stays flat in the file size. Only rows that differ
from what the store holds are written, so re-importing a file touches nothing and fires no
triggers.
"""

from __future__ import annotations

import csv
import enum
import functools
import io
import itertools
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
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    String,
    Table,
    func,
    select,
    text,
)
from sqlalchemy.orm import Session, sessionmaker

from bot import money
from bot.search import company_name
from bot.store.customers import (
    assign_reconciliations,
    provisional_customer_key,
    regroup,
    salesforce_id_18,
)
from bot.store.models import (
    Host,
    ImportRun,
    License,
    Reconciliation,
    Subscription,
    UTCDateTime,
    host_instance_key,
)

BATCH_SIZE = 2000
# `--full` refuses to remove more than this share of a table's rows without --allow-mass-delete.
MASS_DELETE_SHARE = Decimal("0.10")

# PostgreSQL: refresh planner statistics once a table has grown by at least this many rows.
ANALYZE_MIN_ROWS = 5000

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

LICENSE_TYPES = frozenset({"cloud", "offline_cloud", "legacy"})
RECONCILIATION_STATUSES = frozenset({"pending", "processed", "skipped", "failed"})
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})

_WHOLE_NUMBER = re.compile(r"[+-]?\d+")
_DECIMAL_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_TIMESTAMP_START = re.compile(r"\d{4}-\d{2}-\d{2}([T ]|$)")
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")
_HEADER_SEPARATORS = re.compile(r"[\s_.\-]+")
_WORD_SEPARATORS = re.compile(r"[\s\-]+")
_MAX_SHOWN_VALUE = 60


class ImportKind(enum.StrEnum):
    LICENSES = "licenses"
    RECONCILIATIONS = "reconciliations"
    HOSTS = "hosts"
    SUBSCRIPTIONS = "subscriptions"


# The kinds whose rows the customer rule reads (bot.store.customers): importing one regroups.
_GROUPING_KINDS = frozenset({ImportKind.LICENSES, ImportKind.SUBSCRIPTIONS})


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
    customers_written: int = 0  # customers added or changed (licenses, subscriptions imports)
    customers_deleted: int = 0

    def describe(self) -> str:
        """One line for the operator, e.g. for the CLI's final message."""
        description = (
            f"{self.kind.value}: {self.rows:,} rows from {self.file}: {self.inserted:,} inserted, "
            f"{self.updated:,} updated, {self.unchanged:,} unchanged, {self.deleted:,} deleted"
        )
        if self.kind in _GROUPING_KINDS:
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
        try:
            for line, values in rows:
                run.add(line, values)
                if len(run.batch) >= BATCH_SIZE:
                    run.flush()
                    if on_progress is not None:
                        on_progress(run.rows)
        except ImportFailed:
            run.raise_earlier_duplicate()
            raise
        if run.batch:
            run.flush()
            if on_progress is not None:
                on_progress(run.rows)
        if full:
            run.delete_missing(allow_mass_delete=allow_mass_delete)
        # The customers are a function of the store: a file that changed no row leaves them as
        # they are (a daily export re-imported unchanged skips the regrouping).
        changed = run.inserted or run.updated or run.deleted
        if spec.kind in _GROUPING_KINDS and changed:
            counts = regroup(session.connection())
            run.customers_written = counts.customers_written
            run.customers_deleted = counts.customers_deleted
        elif spec.kind is ImportKind.RECONCILIATIONS and changed:
            assign_reconciliations(session.connection())
        run.finish()
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
    # Fast path: plain ASCII digits short enough to be in range (most cells).
    if len(raw) < 19 and raw.isascii() and raw.isdigit() and raw != "0" * len(raw):
        return int(raw)
    return _whole_number(raw, minimum=1, maximum=INT64_MAX)


def _count(raw: str) -> int:
    if len(raw) < 10 and raw.isascii() and raw.isdigit():
        return int(raw)
    return _whole_number(raw, minimum=0, maximum=INT32_MAX)


def _boolean(raw: str) -> bool:
    word = raw.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise _InvalidValue("is not true or false (true/false, yes/no, 1/0)")


# Exports repeat dates and timestamps row after row (a day's licenses, plan boundaries): a
# bounded cache of parsed values skips most of the parsing and holds little memory.
PARSE_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
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


@functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
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
    try:
        money.minor_unit_exponent(code)
    except money.UnknownCurrency:
        raise _InvalidValue(
            f"is not an ISO 4217 currency with a minor unit (list of {money.ISO_4217_PUBLISHED})"
        ) from None
    return code


def _one_of(allowed: frozenset[str]) -> Callable[[str], str]:
    listed = ", ".join(sorted(allowed))

    @functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
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


# --- What each file holds ------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    name: str
    parse: Callable[[str], Any]
    required: bool = False  # the column must be present and the cell non-empty
    # The source system's own names for the column, normalised (`Account.CrmId` ->
    # `account_crmid`): the real exports are what operators have (DESIGN.md: Import files).
    aliases: tuple[str, ...] = ()
    # The column must be in the header, though its cells may be empty; `present_with` names
    # another column that may stand in for it (`plan_name` for `plan`).
    column_required: bool = False
    present_with: str | None = None
    # A source system's column only: no warning when a file lacks it.
    source_only: bool = False


@dataclass(frozen=True)
class _KindSpec:
    kind: ImportKind
    table: Table
    key: str
    fields: tuple[_Field, ...]
    # File values in `fields` order -> the stored row, a tuple in `columns` order.
    to_row: Callable[[Sequence[Any]], tuple[Any, ...]]
    columns: tuple[str, ...]
    # Stored column -> file column, for length errors on derived columns.
    sources: dict[str, str] = field(default_factory=dict)
    noun: str = "row"
    # Columns written only with a new row: the customer rule (bot.store.customers) owns them
    # afterwards, so a re-import neither rewrites nor counts them.
    insert_only: tuple[str, ...] = ()
    # Rows sharing a key are successive reports of one thing (a GitLab instance's usage
    # pings): the one newest by this column is kept, in the file and in the store.
    newest_by: str | None = None

    @functools.cached_property
    def updated_columns(self) -> list[str]:
        """The columns a stored row's update compares and sets."""
        return [name for name in self.columns if name != self.key and name not in self.insert_only]

    @property
    def field_names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)

    @functools.cached_property
    def column_names(self) -> dict[str, str]:
        """A normalised header -> the field it holds: its own name, or an alias."""
        return {
            **{alias: f.name for f in self.fields for alias in f.aliases},
            **{f.name: f.name for f in self.fields},
        }

    @functools.cached_property
    def field_positions(self) -> dict[str, int]:
        return {f.name: position for position, f in enumerate(self.fields)}

    @functools.cached_property
    def key_position(self) -> int:
        return self.columns.index(self.key)

    @functools.cached_property
    def parsers(self) -> tuple[tuple[int, str, Callable[[str], Any] | None, bool], ...]:
        """(position, name, parser or None for text kept as is, required) per file field."""
        return tuple(
            (position, f.name, None if f.parse is _text else f.parse, f.required)
            for position, f in enumerate(self.fields)
        )

    @functools.cached_property
    def length_checks(self) -> tuple[tuple[int, int, str], ...]:
        """(position in the row, VARCHAR length, file column to name): PostgreSQL enforces
        these lengths, SQLite does not, so both are checked here with the same message."""
        return tuple(
            (position, column.type.length, self.sources.get(name, name))
            for position, name in enumerate(self.columns)
            for column in (self.table.c[name],)
            if isinstance(column.type, String) and column.type.length
        )


def _salesforce_id(raw: str) -> str:
    return salesforce_id_18(raw)


def _md5(raw: str) -> str:
    """A license file's MD5 as version.gitlab.com and CustomersDot write it: hyphens removed,
    lowercase."""
    return raw.replace("-", "").lower()


LICENSE_COLUMNS = (
    "id",
    "customer_key",
    "company",
    "contact_name",
    "contact_email",
    "contact_email_key",
    "contact_email_domain",
    "plan",
    "user_count",
    "previous_user_count",
    "trueup_quantity",
    "trial",
    "license_type",
    "issued_at",
    "starts_at",
    "expires_at",
    "zuora_subscription_id",
    "zuora_subscription_name",
    "salesforce_account_id",
    "zuora_account_id",
    "license_md5",
    "notes",
    "company_folded",
    "company_search_key",
)


def _license_row(values: Sequence[Any]) -> tuple[Any, ...]:
    (
        license_id,
        company,
        contact_name,
        email,
        plan,
        user_count,
        trial,
        issued_at,
        starts_at,
        expires_at,
        license_type,
        zuora_subscription_id,
        zuora_subscription_name,
        previous_user_count,
        trueup_quantity,
        salesforce_account_id,
        zuora_account_id,
        license_md5,
        notes,
        plan_name,
    ) = values
    email_key = email.lower() if email else None
    domain: str | None = None
    if email_key and "@" in email_key:
        domain = email_key.rpartition("@")[2] or None
    # A row without a company is kept: the customer rule files it under its subscription's
    # customer or its contact's email domain (bot.store.customers).
    name = company_name(company) if company else None
    return (
        license_id,
        provisional_customer_key(
            salesforce_account_id,
            zuora_account_id,
            zuora_subscription_name or zuora_subscription_id,
            name.folded if name else None,
            domain,
        ),
        company or "",
        contact_name,
        email,
        email_key,
        domain,
        # CustomersDot's plan code, else its plan name; older licenses have neither.
        plan or plan_name or "",
        user_count,
        previous_user_count,
        trueup_quantity,
        bool(trial),
        license_type,
        issued_at,
        starts_at,
        expires_at,
        zuora_subscription_id,
        zuora_subscription_name,
        salesforce_account_id,
        zuora_account_id,
        license_md5,
        notes,
        name.folded[:300] if name else None,
        name.search_key[:300] if name else None,
    )


RECONCILIATION_COLUMNS = (
    "id",
    "customer_name",
    "customer_search_key",
    "subscription_name",
    "zuora_subscription_id",
    "status",
    "reconcile_on",
    "reconcile_done_at",
    "skip_reason",
    "user_count",
    "invoiced_amount_minor",
    "currency",
    "error_message",
    "customer_folded_name",
)


def _reconciliation_row(values: Sequence[Any]) -> tuple[Any, ...]:
    (
        reconciliation_id,
        customer,
        subscription_name,
        zuora_subscription_id,
        status,
        reconcile_on,
        reconcile_done_at,
        skip_reason,
        user_count,
        amount,
        currency,
        error_message,
    ) = values
    amount_minor: int | None = None
    if amount is not None:
        if currency is None:
            raise _InvalidRow(f"invoiced_amount '{amount}' has no currency")
        try:
            amount_minor = money.to_minor_units(amount, currency)
        except ValueError as error:
            raise _InvalidRow(f"invoiced_amount '{amount}' {error}") from None
        if abs(amount_minor) > INT64_MAX:
            raise _InvalidRow(f"invoiced_amount '{amount}' is too large")
    name = company_name(customer)
    return (
        reconciliation_id,
        customer,
        name.search_key[:300],
        subscription_name,
        zuora_subscription_id,
        status,
        reconcile_on,
        reconcile_done_at,
        skip_reason,
        user_count,
        amount_minor,
        currency,
        error_message,
        name.folded[:300],
    )


HOST_COLUMNS = (
    "instance_key",
    "hostname",
    "uuid",
    "license_id",
    "license_md5",
    "gitlab_version",
    "active_user_count",
    "historical_max_users",
    "last_ping_at",
)


def _host_row(values: Sequence[Any]) -> tuple[Any, ...]:
    (
        hostname,
        license_id,
        gitlab_version,
        active_user_count,
        historical_max_users,
        last_ping_at,
        uuid,
        license_md5,
    ) = values
    return (
        host_instance_key(uuid, hostname),
        hostname,
        uuid,
        license_id,
        license_md5,
        gitlab_version,
        active_user_count,
        historical_max_users,
        last_ping_at,
    )


def _is_newer(candidate: Any, kept: Any) -> bool:
    return candidate is not None and (kept is None or candidate >= kept)


SUBSCRIPTION_COLUMNS = (
    "zuora_subscription_id",
    "subscription_name",
    "subscription_version",
    "zuora_account_id",
    "account_name",
    "account_number",
    "salesforce_account_id",
    "account_folded",
    "account_search_key",
)


def _subscription_row(values: Sequence[Any]) -> tuple[Any, ...]:
    (
        subscription_name,
        zuora_subscription_id,
        version,
        zuora_account_id,
        account_name,
        account_number,
        salesforce_account_id,
    ) = values
    name = company_name(account_name) if account_name else None
    return (
        zuora_subscription_id,
        subscription_name,
        version,
        zuora_account_id,
        account_name,
        account_number,
        salesforce_account_id,
        name.folded[:300] if name else None,
        name.search_key[:300] if name else None,
    )


_SPECS: dict[ImportKind, _KindSpec] = {
    ImportKind.LICENSES: _KindSpec(
        kind=ImportKind.LICENSES,
        table=License.__table__,  # type: ignore[arg-type]
        key="id",
        noun="license",
        fields=(
            _Field("id", _record_id, required=True),
            # CustomersDot's export has rows without a company, or without a plan (older
            # licenses): kept, though every file must have the columns.
            _Field("company", _text, column_required=True),
            _Field("contact_name", _text, aliases=("name",)),
            _Field("contact_email", _text, aliases=("email",)),
            _Field(
                "plan",
                _lowercase,
                aliases=("plan_code",),
                column_required=True,
                present_with="plan_name",
            ),
            _Field("user_count", _count, aliases=("users_count",)),
            _Field("trial", _boolean),
            _Field("issued_at", _timestamp, aliases=("created_at",)),
            _Field("starts_at", _date),
            _Field("expires_at", _date),
            _Field("license_type", _one_of(LICENSE_TYPES)),
            _Field("zuora_subscription_id", _text),
            _Field("zuora_subscription_name", _uppercase),
            _Field("previous_user_count", _count, aliases=("previous_users_count",)),
            _Field("trueup_quantity", _count),
            _Field("salesforce_account_id", _salesforce_id),
            _Field("zuora_account_id", _text),
            _Field("license_md5", _md5, aliases=("license_file_md5",)),
            _Field("notes", _text),
            # CustomersDot's `licenses` table: the plan's name where no plan code was kept.
            _Field("plan_name", _lowercase, source_only=True),
        ),
        to_row=_license_row,
        columns=LICENSE_COLUMNS,
        insert_only=("customer_key",),
        sources={
            "customer_key": "company",
            "contact_email_key": "contact_email",
            "contact_email_domain": "contact_email",
            "company_folded": "company",
            "company_search_key": "company",
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
        columns=RECONCILIATION_COLUMNS,
        sources={"customer_name": "customer", "invoiced_amount_minor": "invoiced_amount"},
    ),
    ImportKind.HOSTS: _KindSpec(
        kind=ImportKind.HOSTS,
        table=Host.__table__,  # type: ignore[arg-type]
        key="instance_key",
        noun="host",
        # version.gitlab.com's `usage_data`: one row per ping, under its own column names.
        fields=(
            _Field("hostname", _hostname, required=True),
            _Field("license_id", _record_id),
            _Field("gitlab_version", _text, aliases=("version",)),
            _Field("active_user_count", _count),
            _Field("historical_max_users", _count),
            _Field("last_ping_at", _timestamp, aliases=("recorded_at",)),
            _Field("uuid", _lowercase),
            _Field("license_md5", _md5),
        ),
        to_row=_host_row,
        columns=HOST_COLUMNS,
        sources={"instance_key": "hostname"},
        newest_by="last_ping_at",
    ),
    ImportKind.SUBSCRIPTIONS: _KindSpec(
        kind=ImportKind.SUBSCRIPTIONS,
        table=Subscription.__table__,  # type: ignore[arg-type]
        key="zuora_subscription_id",
        noun="subscription version",
        fields=(
            _Field("subscription_name", _uppercase, required=True),
            _Field("zuora_subscription_id", _text, required=True, aliases=("subscription_id",)),
            _Field("subscription_version", _count),
            _Field("zuora_account_id", _text, aliases=("account_id",)),
            _Field("account_name", _text),
            _Field("account_number", _text, aliases=("account_accountnumber",)),
            _Field("salesforce_account_id", _salesforce_id, aliases=("account_crmid",)),
        ),
        to_row=_subscription_row,
        columns=SUBSCRIPTION_COLUMNS,
        sources={"account_folded": "account_name", "account_search_key": "account_name"},
    ),
}


def import_columns(kind: ImportKind | str) -> tuple[str, ...]:
    """The columns of a kind of export, in the import format's order: the one list the demo, the
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


def _convert(spec: _KindSpec, line: int, cells: list[Any]) -> tuple[Any, ...]:
    """File cells in `spec.fields` order (trimmed; None when empty) -> the row to store.

    Parses `cells` in place. Raises ImportFailed naming the line and the first bad field.
    """
    for position, name, parse, required in spec.parsers:
        raw = cells[position]
        if raw is None:
            if required:
                raise ImportFailed(f"{name} is empty; every {spec.noun} needs one", line=line)
            continue
        if "\x00" in raw:  # PostgreSQL text cannot hold NUL; no export means one
            raise ImportFailed(f"{name} contains a NUL character", line=line)
        if parse is not None:
            try:
                cells[position] = parse(raw)
            except _InvalidValue as error:
                raise ImportFailed(f"{name} {_show(raw)} {error}", line=line) from None
    try:
        row = spec.to_row(cells)
    except _InvalidRow as error:
        raise ImportFailed(str(error), line=line) from None
    for position, limit, source in spec.length_checks:
        value = row[position]
        if value is not None and len(value) > limit:
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


class _Records:
    """Rows of one file as (line where the record starts, {column: trimmed text or None})."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.json_lines = _is_json_lines(path)
        self.warnings: list[str] = []

    def rows(self, spec: _KindSpec) -> Generator[tuple[int, list[Any]], None, None]:
        if self.json_lines:
            return self._json_rows(spec)
        return self._csv_rows(spec)

    def _csv_rows(self, spec: _KindSpec) -> Generator[tuple[int, list[Any]], None, None]:
        with _open_text(self.path) as lines:
            first_line = lines.readline()
            while first_line and not first_line.strip():
                first_line = lines.readline()
            if not first_line:
                raise ImportFailed("the file is empty: expected a header line naming the columns")
            yield from self._csv_records(spec, first_line, lines)

    def _csv_records(
        self, spec: _KindSpec, first_line: str, lines: Iterator[str]
    ) -> Generator[tuple[int, list[Any]], None, None]:
        reader = csv.reader(itertools.chain((first_line,), lines), delimiter=_delimiter(first_line))
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
                    raise ImportFailed(
                        f"{len(cells)} values but the header has {header_length} columns",
                        line=start,
                    )
                values: list[Any] = [None] * field_count
                for cell_position, field_position in placed:
                    values[field_position] = cells[cell_position].strip() or None
                yield start, values
        except csv.Error as error:
            raise ImportFailed(f"not valid CSV ({error})", line=reader.line_num) from None

    def _check_header(self, spec: _KindSpec, header: Sequence[str]) -> list[str | None]:
        """Header cells -> the known column each one holds (None: ignored)."""
        known = spec.column_names
        columns: list[str | None] = []
        seen: set[str] = set()
        for position, cell in enumerate(header, start=1):
            header_name = _normalise_header(cell)
            if not header_name:
                self.warnings.append(f"column {position} has no name and was ignored")
                columns.append(None)
                continue
            name = known.get(header_name)
            if name is None:
                self.warnings.append(f"unknown column {cell.strip()!r} ignored")
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
        missing = [f.name for f in spec.fields if f.name not in seen and not f.source_only]
        if missing:
            self.warnings.append(
                f"column{'s' if len(missing) > 1 else ''} not in the file, stored as empty: "
                + ", ".join(missing)
            )
        return columns

    def _json_rows(self, spec: _KindSpec) -> Generator[tuple[int, list[Any]], None, None]:
        known = spec.column_names
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
            cells: list[Any] = [None] * len(spec.fields)
            seen: set[str] = set()
            for key, value in record.items():
                header_name = _normalise_header(key)
                name = known.get(header_name)
                if name is None:
                    if header_name not in unknown_reported:
                        unknown_reported.add(header_name)
                        self.warnings.append(f"unknown column {key!r} ignored")
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


def _read_records(path: Path) -> _Records:
    if not path.is_file():
        raise ImportFailed(f"no such file: {path}")
    return _Records(path)


# --- Writing -------------------------------------------------------------------------------

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
# The temporary tables an import makes on SQLite (it keeps them for the connection's life).
_SQLITE_WORK_TABLES = (BATCH_TABLE, SEEN_TABLE)


def _sqlite_timestamp(value: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME text ("YYYY-MM-DD HH:MM:SS.ffffff") of the naive UTC time.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def _sqlite_date(value: date) -> str:
    return value.isoformat()


def _stored_value(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """The function turning a parsed value into what the driver is given for `column`
    (None: the value as is). The common types are converted here directly, cached per value
    (exports repeat them), rather than through SQLAlchemy's chain of processors;
    tests/test_import_storage.py checks both agree. Any other type uses SQLAlchemy's."""
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
    """The state of one import inside its transaction.

    Rows are written through the driver's cursor with positional tuples: SQLAlchemy's per-row
    parameter processing cost more than the database's work. Each batch's keys (with their
    lines) are staged in a temporary table and checked by set-based statements: keys seen
    before (duplicates), rows already stored. Then SQLite upserts
    the rows with one executemany; PostgreSQL COPYs the new rows straight in and updates the
    stored ones from a staged copy. Either way only rows that differ are rewritten (a
    re-import writes nothing and fires no triggers).
    """

    def __init__(self, session: Session, spec: _KindSpec, *, full: bool) -> None:
        self.session = session
        self.spec = spec
        connection = session.connection()
        self.dialect = connection.dialect
        self.postgresql = self.dialect.name == "postgresql"
        self.cursor: Any = connection.connection.cursor()
        self.mark = "%s" if self.postgresql else "?"
        self.table_name = spec.table.name
        self.key_position = spec.key_position
        # Values as the ORM would bind them (UTC timestamps naive, SQLite's date and timestamp
        # text, booleans), so the driver stores what the ORM would, and the SQL comparison
        # with stored rows compares like with like.
        self.processors = [
            (position, processor)
            for position, name in enumerate(spec.columns)
            if (processor := _stored_value(spec.table.c[name], self.dialect)) is not None
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
        self._create_work_tables()  # first: on PostgreSQL it takes the table's import lock
        # The mass-delete guard compares against the table as it was before this import.
        self.rows_before = 0
        if full:
            self.rows_before = session.scalar(select(func.count()).select_from(spec.table)) or 0
        self.table_statistics = _PlannerStatistics(session, spec.table)

    # -- SQL helpers

    def _execute(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        self.cursor.execute(sql, parameters)
        return int(self.cursor.rowcount)

    def _fetch(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        self.cursor.execute(sql, parameters)
        return list(self.cursor.fetchall())

    def _insert_ignoring_conflicts(self, table: str, columns: str, select_sql: str) -> str:
        if self.postgresql:
            return f"INSERT INTO {table} ({columns}) {select_sql} ON CONFLICT DO NOTHING"
        return f"INSERT OR IGNORE INTO {table} ({columns}) {select_sql}"

    def _create_work_tables(self) -> None:
        key_column = self.spec.table.c[self.spec.key]
        if self.postgresql:
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
        else:
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
        for statement in statements:
            self._execute(statement)

    def finish(self) -> None:
        """Before the commit: SQLite keeps temporary tables for the connection's life."""
        if not self.postgresql:
            for table in _SQLITE_WORK_TABLES:
                self._execute(f"DROP TABLE IF EXISTS temp.{table}")

    # -- rows

    def add(self, line: int, cells: list[Any]) -> None:
        row = _convert(self.spec, line, cells)
        key = row[self.key_position]
        if self.processors:
            values = list(row)
            for position, processor in self.processors:
                values[position] = processor(values[position])
            row = tuple(values)
        first_line = self.batch_lines.get(key)
        self.rows += 1
        if first_line is not None:
            if self.newest_position is None:
                raise self._duplicate(key, first_line, line)
            # Several pings of one instance: the newest is kept (a later line wins a tie).
            index = self.batch_positions[key]
            if _is_newer(row[self.newest_position], self.batch[index][self.newest_position]):
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
        if self.postgresql:
            self._execute(f"TRUNCATE {BATCH_TABLE}")
            self._copy(BATCH_TABLE, columns, staged)
        else:
            self._execute(f"DELETE FROM temp.{BATCH_TABLE}")
            marks = ", ".join("?" * (len(self.staged_columns) + 1))
            self.cursor.executemany(
                f"INSERT INTO temp.{BATCH_TABLE} ({columns}) VALUES ({marks})", staged
            )
        return batch

    def _copy(self, table: str, columns: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

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
        table = self.table_name
        added = self._execute(
            self._insert_ignoring_conflicts(
                SEEN_TABLE, "key, line", f"SELECT {key}, line FROM {BATCH_TABLE}"
            )
        )
        if added != len(batch) and self.newest_position is None:
            duplicate = self._first_duplicate_in_stage(own_lines_seen=True)
            assert duplicate is not None
            raise duplicate
        if self.postgresql:
            self._write_postgresql(batch)
            return
        ((existing,),) = self._fetch(
            f"SELECT count(*) FROM {BATCH_TABLE} staged "
            f"JOIN {table} stored ON stored.{key} = staged.{key}"
        )
        # sqlite3's executemany runs in-process with one prepared statement: one pass.
        self.cursor.executemany(self._upsert_sql, batch)
        written = int(self.cursor.rowcount)
        self.inserted += len(batch) - existing
        self.updated += written - (len(batch) - existing)

    def _write_postgresql(self, batch: list[tuple[Any, ...]]) -> None:
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
            self.updated += self._execute(self._update_sql)
        else:
            new_rows = batch
        if new_rows:
            self._copy(table, columns, new_rows)
        self.inserted += len(new_rows)
        self.table_statistics.rows_added(len(new_rows))

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
            raise ImportFailed(
                f"--full would delete {count:,} of {self.rows_before:,} "
                f"{self.spec.kind.value} ({share}%), more than the "
                f"{int(MASS_DELETE_SHARE * 100)}% safety limit; nothing was changed. If the file "
                "really is the complete export, run again with --allow-mass-delete."
            )
        self._execute(f"DELETE FROM {table} WHERE {missing}")
        self.deleted = count
