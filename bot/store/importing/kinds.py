"""What each kind of file holds: per kind (licenses, reconciliations, hosts, subscriptions)
its columns in the import format's order, the source systems' own names for them (CustomersDot,
Zuora, version.gitlab.com exports), each column's parser (values.py), the stored table and
key, and how a file's values become the stored row (`convert_cells`). This is the one list of
each kind's file columns: the demo, the benchmarks and the tests write their files with
`import_columns`. The stored columns are the table's (bot/store/models.py), each filled by name:
the file field of its name, or `Derived` from the file's values, or declared `not_imported`."""

from __future__ import annotations

import enum
import functools
import inspect
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, Table

from bot import money
from bot.names import company_name, license_names
from bot.store.customers import provisional_customer_key
from bot.store.importing.errors import ImportFailed, InvalidRow, InvalidValue
from bot.store.importing.values import (
    INT64_MAX,
    _boolean,
    _count,
    _currency,
    _date,
    _decimal,
    _hostname,
    _lowercase,
    _md5,
    _one_of,
    _record_id,
    _salesforce_id,
    _show,
    _text,
    _timestamp,
    _uppercase,
)
from bot.store.models import Host, License, Reconciliation, Subscription, host_instance_key

LICENSE_TYPES = frozenset({"cloud", "offline_cloud", "legacy"})
# The longest free text kept (names, notes, error messages): a longer cell is bad data, and a card
# shows a few hundred characters of it at most. Cells a kind ignores may be far longer (reading.py).
TEXT_MAX = 10_000
RECONCILIATION_STATUSES = frozenset({"pending", "processed", "skipped", "failed"})


# CustomersDot's `licenses` table (docs/import-formats.md): its columns we keep
# nothing of. The license file itself is kilobytes of base64 per row.
CUSTOMERSDOT_LICENSE_COLUMNS_IGNORED = frozenset(
    {"license_file", "updated_at", "trueup_from", "trueup_to", "creator_id"}
)
# version.gitlab.com's `usage_data`: a ping's other columns (settings, versions of components,
# the usage counts), of which a card shows none.
USAGE_DATA_COLUMNS_IGNORED = frozenset(
    """
    id source_ip licensee license_user_count license_starts_at license_expires_at
    license_add_ons created_at updated_at mattermost_enabled edition host_id license_trial
    source_license_id installation_type license_plan database_adapter database_version
    git_version gitlab_pages_enabled gitlab_pages_version container_registry_enabled
    elasticsearch_enabled geo_enabled gitlab_shared_runners_enabled gravatar_enabled
    ldap_enabled omniauth_enabled reply_by_email_enabled signup_enabled
    web_ide_clientside_preview_enabled ingress_modsecurity_enabled influxdb_metrics_enabled
    prometheus_metrics_enabled prometheus_enabled grafana_link_enabled gitpod_enabled
    dependency_proxy_enabled usage_activity_by_stage usage_activity_by_stage_monthly
    gitaly_version gitaly_servers gitaly_filesystems gitaly_clusters stats counts
    counts_monthly counts_weekly license_sha256 license_subscription_id
    license_trial_ends_on recording_ce_finished_at recording_ee_finished_at object_store
    topology container_registry_server database mail settings redis_hll_counters
    analytics_unique_visits compliance_unique_visits search_unique_visits
    raw_usage_data_id raw_usage_data_payload instance_auto_devops_enabled
    """.split()
)


class ImportKind(enum.StrEnum):
    LICENSES = "licenses"
    RECONCILIATIONS = "reconciliations"
    HOSTS = "hosts"
    SUBSCRIPTIONS = "subscriptions"


@dataclass(frozen=True)
class Field:
    name: str
    parse: Callable[[str], Any]
    required: bool = False  # the column must be present and the cell non-empty
    # The source system's own names for the column, normalised (`Account.CrmId` ->
    # `account_crmid`): the real exports are what operators have (docs/import-formats.md).
    aliases: tuple[str, ...] = ()
    # The column must be in the header, though its cells may be empty; `present_with` names
    # another column that may stand in for it (`plan_name` for `plan`).
    column_required: bool = False
    present_with: str | None = None
    # A source system's column only: no warning when a file lacks it.
    source_only: bool = False
    # The source system's export has the column: a file without it is probably not that
    # export, and is warned about. Our own columns the exports lack (`license_type`) are not.
    in_exports: bool = True


@dataclass(frozen=True)
class Derived:
    """Stored columns computed from a row's file values: `compute`'s parameters name the file
    fields it reads (by name: `inputs`), and it returns the values of `columns`, in that order.
    Every other stored column is the file field of its name, copied as parsed."""

    columns: tuple[str, ...]
    compute: Callable[..., tuple[Any, ...]]

    @functools.cached_property
    def inputs(self) -> tuple[str, ...]:
        return tuple(inspect.signature(self.compute).parameters)


def _getter(positions: Sequence[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """operator.itemgetter that returns a tuple even for one position."""
    if len(positions) == 1:
        (position,) = positions
        return lambda values: (values[position],)
    return operator.itemgetter(*positions)


@dataclass(frozen=True)
class KindSpec:
    kind: ImportKind
    table: Table
    key: str
    fields: tuple[Field, ...]
    # The stored columns computed from the file's values; every other stored column is the
    # file field of its name, as parsed.
    derived: Derived
    # Stored column -> file column, for length errors on derived columns.
    sources: dict[str, str] = field(default_factory=dict)
    noun: str = "row"
    # Columns written only with a new row: the customer rule (bot.store.customers) owns them
    # afterwards, so a re-import neither rewrites nor counts them.
    insert_only: tuple[str, ...] = ()
    # Rows sharing a key are successive reports of one thing (a GitLab instance's usage
    # pings): the one newest by this column is kept, in the file and in the store.
    newest_by: str | None = None
    # The documented exports' columns read deliberately by nothing (normalised names): known,
    # so a file in the export's layout imports without a word about them.
    ignored_columns: frozenset[str] = frozenset()
    # The table's columns no file fills, each deliberately (written by the customer rule, say):
    # left out of the import's writes. tests/store/importing/test_import_columns.py fails on a
    # column that is neither a file field, derived, nor listed here.
    not_imported: frozenset[str] = frozenset()

    @functools.cached_property
    def columns(self) -> tuple[str, ...]:
        """The stored columns an import writes, in the table's order: all but `not_imported`."""
        return tuple(column.key for column in self.table.c if column.key not in self.not_imported)

    @functools.cached_property
    def unaccounted_columns(self) -> tuple[str, ...]:
        """Written columns that are neither derived nor a file field of their name: none, or
        the model gained a column the import does not know about."""
        derived = set(self.derived.columns)
        return tuple(
            name
            for name in self.columns
            if name not in derived and name not in self.field_positions
        )

    @functools.cached_property
    def to_row(self) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
        """File values in `fields` order -> the stored row, a tuple in `columns` order.

        Which value goes where is worked out here, once, by name; a row is then two C-level
        item lookups around `derived.compute` (no dict or attribute loop per row: the importer
        runs this a million times a file)."""
        if self.unaccounted_columns:
            raise ValueError(
                f"{self.kind.value}: stored columns {', '.join(self.unaccounted_columns)} are "
                "neither a file field, derived, nor declared not imported"
            )
        unknown = set(self.derived.inputs) - set(self.field_positions)
        if unknown:
            raise ValueError(f"{self.kind.value}: derived from unknown fields {sorted(unknown)}")
        inputs = _getter([self.field_positions[name] for name in self.derived.inputs])
        compute = self.derived.compute
        # The row is picked from the file values followed by the derived ones.
        after_fields = len(self.fields)
        derived_at = {name: after_fields + i for i, name in enumerate(self.derived.columns)}
        pick = _getter(
            [
                derived_at[name] if name in derived_at else self.field_positions[name]
                for name in self.columns
            ]
        )

        def to_row(values: Sequence[Any]) -> tuple[Any, ...]:
            return pick((*values, *compute(*inputs(values))))

        return to_row

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
        """(position in the row, the longest value it may hold, file column to name): a
        VARCHAR's length (PostgreSQL enforces it, SQLite does not, so both are checked here with
        the same message), TEXT_MAX for free text."""
        return tuple(
            (position, column.type.length or TEXT_MAX, self.sources.get(name, name))
            for position, name in enumerate(self.columns)
            for column in (self.table.c[name],)
            if isinstance(column.type, String)
        )


def _license_derived(
    company: str | None,
    contact_name: str | None,
    contact_email: str | None,
    plan: str | None,
    plan_name: str | None,
    trial: bool | None,
    salesforce_account_id: str | None,
    zuora_account_id: str | None,
    zuora_subscription_name: str | None,
    zuora_subscription_id: str | None,
) -> tuple[Any, ...]:
    """The license columns computed on import, in `_LICENSE_DERIVED`'s order (a tuple, not a
    dict: this runs per row; tests/store/importing/test_import_columns.py checks each column's
    value by name). The parameters are file fields, by name: the others' columns are copied as
    parsed."""
    contact_email_key = contact_email.lower() if contact_email else None
    contact_email_domain: str | None = None
    if contact_email_key and "@" in contact_email_key:
        contact_email_domain = contact_email_key.rpartition("@")[2] or None
    # A row without a company is kept: the customer rule files it under its subscription's
    # customer or its contact's email domain (bot.store.customers).
    names = license_names(company, contact_name, contact_email_domain)
    customer_key = provisional_customer_key(
        {
            "sf": salesforce_account_id,
            "za": zuora_account_id,
            "sub": zuora_subscription_name or zuora_subscription_id,
        },
        names.company_folded,
        contact_email_domain,
    )
    return (
        customer_key,
        company or "",
        contact_email_key,
        contact_email_domain,
        # CustomersDot's plan code, else its plan name; older licenses have neither.
        plan or plan_name or "",
        bool(trial),
        names.company_folded,
        names.company_search_key,
        names.email_domain_label,
        names.contact_search_key,
    )


_LICENSE_DERIVED = Derived(
    (
        "customer_key",
        "company",
        "contact_email_key",
        "contact_email_domain",
        "plan",
        "trial",
        "company_folded",
        "company_search_key",
        "email_domain_label",
        "contact_search_key",
    ),
    _license_derived,
)


def _reconciliation_derived(
    customer: str, invoiced_amount: Any, currency: str | None
) -> tuple[Any, ...]:
    """The reconciliation columns computed on import, in `_RECONCILIATION_DERIVED`'s order."""
    amount_minor: int | None = None
    if invoiced_amount is not None:
        if currency is None:
            raise InvalidRow(f"invoiced_amount '{invoiced_amount}' has no currency")
        try:
            amount_minor = money.to_minor_units(invoiced_amount, currency)
        except ValueError as error:
            raise InvalidRow(f"invoiced_amount '{invoiced_amount}' {error}") from None
        if abs(amount_minor) > INT64_MAX:
            raise InvalidRow(f"invoiced_amount '{invoiced_amount}' is too large")
    name = company_name(customer)
    return (customer, name.search_key[:300], amount_minor, name.folded[:300])


_RECONCILIATION_DERIVED = Derived(
    ("customer_name", "customer_search_key", "invoiced_amount_minor", "customer_folded_name"),
    _reconciliation_derived,
)


def _host_derived(uuid: str | None, hostname: str) -> tuple[Any, ...]:
    return (host_instance_key(uuid, hostname),)


_HOST_DERIVED = Derived(("instance_key",), _host_derived)


def is_newer(candidate: Any, kept: Any) -> bool:
    return candidate is not None and (kept is None or candidate >= kept)


def _subscription_derived(account_name: str | None) -> tuple[Any, ...]:
    name = company_name(account_name) if account_name else None
    return (
        name.folded[:300] if name else None,
        name.search_key[:300] if name else None,
    )


_SUBSCRIPTION_DERIVED = Derived(("account_folded", "account_search_key"), _subscription_derived)


_SPECS: dict[ImportKind, KindSpec] = {
    ImportKind.LICENSES: KindSpec(
        kind=ImportKind.LICENSES,
        table=License.__table__,
        key="id",
        noun="license",
        ignored_columns=CUSTOMERSDOT_LICENSE_COLUMNS_IGNORED,
        fields=(
            Field("id", _record_id, required=True),
            # CustomersDot's export has rows without a company, or without a plan (older
            # licenses): kept, though every file must have the columns.
            Field("company", _text, column_required=True),
            Field("contact_name", _text, aliases=("name",)),
            Field("contact_email", _text, aliases=("email",)),
            Field(
                "plan",
                _lowercase,
                aliases=("plan_code",),
                column_required=True,
                present_with="plan_name",
            ),
            Field("user_count", _count, aliases=("users_count",)),
            Field("trial", _boolean),
            Field("issued_at", _timestamp, aliases=("created_at",)),
            Field("starts_at", _date),
            Field("expires_at", _date),
            Field("license_type", _one_of(LICENSE_TYPES), in_exports=False),
            Field("zuora_subscription_id", _text),
            Field("zuora_subscription_name", _uppercase),
            Field("previous_user_count", _count, aliases=("previous_users_count",)),
            Field("trueup_quantity", _count),
            Field("salesforce_account_id", _salesforce_id, in_exports=False),
            Field("zuora_account_id", _text, in_exports=False),
            Field("license_md5", _md5, aliases=("license_file_md5",)),
            Field("notes", _text),
            # CustomersDot's `licenses` table: the plan's name where no plan code was kept.
            Field("plan_name", _lowercase, source_only=True),
        ),
        derived=_LICENSE_DERIVED,
        insert_only=("customer_key",),
        sources={
            "customer_key": "company",
            "contact_email_key": "contact_email",
            "contact_email_domain": "contact_email",
            "company_folded": "company",
            "company_search_key": "company",
            "email_domain_label": "contact_email",
            "contact_search_key": "contact_name",
        },
    ),
    ImportKind.RECONCILIATIONS: KindSpec(
        kind=ImportKind.RECONCILIATIONS,
        table=Reconciliation.__table__,
        key="id",
        noun="reconciliation",
        fields=(
            Field("id", _record_id, required=True),
            Field("customer", _text, required=True),
            Field("subscription_name", _uppercase),
            Field("zuora_subscription_id", _text),
            Field("status", _one_of(RECONCILIATION_STATUSES), required=True),
            Field("reconcile_on", _date),
            Field("reconcile_done_at", _timestamp),
            Field("skip_reason", _text),
            Field("user_count", _count),
            Field("invoiced_amount", _decimal),
            Field("currency", _currency),
            Field("error_message", _text),
        ),
        derived=_RECONCILIATION_DERIVED,
        sources={"customer_name": "customer", "invoiced_amount_minor": "invoiced_amount"},
        # The customer it belongs to is the customer rule's (bot.store.customers), not the file's.
        not_imported=frozenset({"customer_key"}),
    ),
    ImportKind.HOSTS: KindSpec(
        kind=ImportKind.HOSTS,
        table=Host.__table__,
        key="instance_key",
        noun="host",
        # version.gitlab.com's `usage_data`: one row per ping, under its own column names.
        fields=(
            Field("hostname", _hostname, required=True),
            Field("license_id", _record_id, in_exports=False),
            Field("gitlab_version", _text, aliases=("version",)),
            Field("active_user_count", _count),
            Field("historical_max_users", _count),
            Field("last_ping_at", _timestamp, aliases=("recorded_at",)),
            Field("uuid", _lowercase),
            Field("license_md5", _md5),
            # The users the instance's license bills, as usage_data reports them.
            Field("billable_user_count", _count, aliases=("license_billable_users",)),
        ),
        derived=_HOST_DERIVED,
        sources={"instance_key": "hostname"},
        newest_by="last_ping_at",
        ignored_columns=USAGE_DATA_COLUMNS_IGNORED,
    ),
    ImportKind.SUBSCRIPTIONS: KindSpec(
        kind=ImportKind.SUBSCRIPTIONS,
        table=Subscription.__table__,
        key="zuora_subscription_id",
        noun="subscription version",
        fields=(
            Field("subscription_name", _uppercase, required=True),
            Field("zuora_subscription_id", _text, required=True, aliases=("subscription_id",)),
            Field("subscription_version", _count),
            Field("zuora_account_id", _text, aliases=("account_id",)),
            Field("account_name", _text),
            Field("account_number", _text, aliases=("account_accountnumber",)),
            Field("salesforce_account_id", _salesforce_id, aliases=("account_crmid",)),
        ),
        derived=_SUBSCRIPTION_DERIVED,
        sources={"account_folded": "account_name", "account_search_key": "account_name"},
    ),
}


def import_columns(kind: ImportKind | str) -> tuple[str, ...]:
    """The columns of a kind of export, in the import format's order: the one list the demo, the
    benchmarks and the tests write their files with."""
    return tuple(f.name for f in spec_for(kind).fields)


def spec_for(kind: ImportKind | str) -> KindSpec:
    try:
        return _SPECS[ImportKind(str(kind).strip().lower())]
    except ValueError:
        expected = ", ".join(k.value for k in ImportKind)
        raise ImportFailed(
            f"unknown import kind {str(kind)!r}; expected one of {expected}"
        ) from None


def convert_cells(spec: KindSpec, line: int, cells: list[Any]) -> tuple[Any, ...]:
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
            except InvalidValue as error:
                raise ImportFailed(f"{name} {_show(raw)} {error}", line=line) from None
    try:
        row = spec.to_row(cells)
    except InvalidRow as error:
        raise ImportFailed(str(error), line=line) from None
    for position, limit, source in spec.length_checks:
        value = row[position]
        if value is not None and len(value) > limit:
            raise ImportFailed(f"{source} is longer than {limit} characters", line=line)
    return row
