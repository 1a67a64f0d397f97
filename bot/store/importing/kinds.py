"""What each kind of file holds: per kind (licenses, reconciliations, hosts, subscriptions)
its columns in the import format's order, the source systems' own names for them (CustomersDot,
Zuora, version.gitlab.com exports), each column's parser (values.py), the stored table and
key, and how a file's values become the stored row (`convert_cells`). This is the one list of
each kind's columns: the demo, the benchmarks and the tests write their files with
`import_columns`."""

from __future__ import annotations

import enum
import functools
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
class KindSpec:
    kind: ImportKind
    table: Table
    key: str
    fields: tuple[Field, ...]
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
    # The documented exports' columns read deliberately by nothing (normalised names): known,
    # so a file in the export's layout imports without a word about them.
    ignored_columns: frozenset[str] = frozenset()

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
    "email_domain_label",
    "contact_search_key",
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
    names = license_names(company, contact_name, domain)
    return (
        license_id,
        provisional_customer_key(
            salesforce_account_id,
            zuora_account_id,
            zuora_subscription_name or zuora_subscription_id,
            names.company_folded,
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
        names.company_folded,
        names.company_search_key,
        names.email_domain_label,
        names.contact_search_key,
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
            raise InvalidRow(f"invoiced_amount '{amount}' has no currency")
        try:
            amount_minor = money.to_minor_units(amount, currency)
        except ValueError as error:
            raise InvalidRow(f"invoiced_amount '{amount}' {error}") from None
        if abs(amount_minor) > INT64_MAX:
            raise InvalidRow(f"invoiced_amount '{amount}' is too large")
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
    "billable_user_count",
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
        billable_user_count,
    ) = values
    return (
        host_instance_key(uuid, hostname),
        hostname,
        uuid,
        license_id,
        license_md5,
        gitlab_version,
        active_user_count,
        billable_user_count,
        historical_max_users,
        last_ping_at,
    )


def is_newer(candidate: Any, kept: Any) -> bool:
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


_SPECS: dict[ImportKind, KindSpec] = {
    ImportKind.LICENSES: KindSpec(
        kind=ImportKind.LICENSES,
        table=License.__table__,  # type: ignore[arg-type]
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
        to_row=_license_row,
        columns=LICENSE_COLUMNS,
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
        table=Reconciliation.__table__,  # type: ignore[arg-type]
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
        to_row=_reconciliation_row,
        columns=RECONCILIATION_COLUMNS,
        sources={"customer_name": "customer", "invoiced_amount_minor": "invoiced_amount"},
    ),
    ImportKind.HOSTS: KindSpec(
        kind=ImportKind.HOSTS,
        table=Host.__table__,  # type: ignore[arg-type]
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
        to_row=_host_row,
        columns=HOST_COLUMNS,
        sources={"instance_key": "hostname"},
        newest_by="last_ping_at",
        ignored_columns=USAGE_DATA_COLUMNS_IGNORED,
    ),
    ImportKind.SUBSCRIPTIONS: KindSpec(
        kind=ImportKind.SUBSCRIPTIONS,
        table=Subscription.__table__,  # type: ignore[arg-type]
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
        to_row=_subscription_row,
        columns=SUBSCRIPTION_COLUMNS,
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
