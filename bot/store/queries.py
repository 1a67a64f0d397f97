"""The store's read queries: ORM rows in, plain records (bot/records.py) out.

Each lookup runs a small, fixed number of statements however many licenses, hosts or
reconciliations a customer has: nothing here loads row by row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, select, union, union_all
from sqlalchemy.orm import Session

from bot.licensing import customer_standing, summarise_licenses
from bot.records import (
    CustomerChoice,
    CustomerLicenses,
    CustomerReconciliations,
    CustomerRecord,
    CustomerStanding,
    HostRecord,
    LicenseOverview,
    LicenseRecord,
    ReconciliationRecord,
)
from bot.salesforce_ids import salesforce_id_18
from bot.store.models import Customer, Host, ImportRun, License, Reconciliation

# ImportRun.kind of each import (python -m bot import {licenses|reconciliations|hosts|...}).
LICENSES_IMPORT = "licenses"
RECONCILIATIONS_IMPORT = "reconciliations"


def latest_import_at(session: Session, kind: str | None = None) -> datetime | None:
    """When the latest import (of `kind`, or of any kind) finished: the cards' "data as of"."""
    if kind is None:
        return session.connection().scalar(_LATEST_IMPORT_AT)
    return session.connection().scalar(_LATEST_IMPORT_OF_KIND_AT, {"kind": kind})


def load_customer_licenses(
    session: Session, customer_key: str, *, today: date
) -> CustomerLicenses | None:
    """Everything the license card shows for one customer; None if the customer is gone."""
    # Core execution of statements built once (below): a card is read on most lookups, and
    # rebuilding, cache-keying and ORM-loading its three statements cost more than running
    # them. Plain rows: the records are built from them straight away.
    connection = session.connection()
    customer = _customer_with_data_as_of(session, customer_key, LICENSES_IMPORT)
    if customer is None:
        return None
    params = {"customer_key": customer.key}
    licenses = connection.execute(_LICENSES_OF_CUSTOMER, params)
    hosts = connection.execute(_HOSTS_OF_CUSTOMER, params)
    hosts_by_license: dict[int, list[HostRecord]] = defaultdict(list)
    for host in hosts:
        if host.license_id is not None:
            hosts_by_license[host.license_id].append(host_record(host))
    return CustomerLicenses(
        customer=customer_record(customer),
        overview=summarise_licenses((license_record(row) for row in licenses), today),
        hosts_by_license={
            license_id: tuple(found) for license_id, found in hosts_by_license.items()
        },
        data_as_of=customer.data_as_of,
        today=today,
    )


def load_customer_reconciliations(
    session: Session, customer_key: str
) -> CustomerReconciliations | None:
    """The customer's seat reconciliations, newest first; None if the customer is gone.

    Which customer a reconciliation belongs to is the customer rule's (bot.store.customers),
    kept in `reconciliation.customer_key` by every import.
    """
    customer = _customer_with_data_as_of(session, customer_key, RECONCILIATIONS_IMPORT)
    if customer is None:
        return None
    rows = session.connection().execute(
        _RECONCILIATIONS_OF_CUSTOMER, {"customer_key": customer.key}
    )
    return CustomerReconciliations(
        customer=customer_record(customer),
        reconciliations=tuple(reconciliation_record(row) for row in rows),
        data_as_of=customer.data_as_of,
    )


def _customer_with_data_as_of(session: Session, customer_key: str, kind: str) -> Row[Any] | None:
    """The customer row with its data-as-of; a key that no longer names a customer (an old
    button, App Home entry or unfurl, made before an import regrouped the customers) is
    followed to the customer it became, if exactly one."""
    connection = session.connection()
    customer = connection.execute(
        _CUSTOMER_WITH_DATA_AS_OF, {"customer_key": customer_key, "kind": kind}
    ).first()
    if customer is not None:
        return customer
    current = current_customer_key(session, customer_key)
    if current is None or current == customer_key:
        return None
    return connection.execute(
        _CUSTOMER_WITH_DATA_AS_OF, {"customer_key": current, "kind": kind}
    ).first()


def current_customer_key(session: Session, old_key: str) -> str | None:
    """The customer an old customer key names now, or None when it names none or several
    (the user is told to search again).

    Keys name their evidence (bot.store.customers): a Salesforce account (a 15-character id
    in keys made before ids were converted), a Zuora account or a subscription is followed to
    the customer its licenses are under, as is an email domain (`domain:`, licenses without a
    company); a name (`name:<folded name>`, or an older key's name without its legal form) to
    the one customer with that folded name or search key."""
    kind, _, value = old_key.partition(":")
    statement: Any
    if kind == "sf":
        statement = select(Customer.key).where(Customer.key == "sf:" + salesforce_id_18(value))
    elif kind == "za":
        statement = select(License.customer_key).where(License.zuora_account_id == value).distinct()
    elif kind == "sub":
        statement = union(
            select(License.customer_key).where(License.zuora_subscription_name == value),
            select(License.customer_key).where(License.zuora_subscription_id == value),
        )
    elif kind == "domain":
        statement = (
            select(License.customer_key).where(License.contact_email_domain == value).distinct()
        )
    elif kind == "name":
        statement = union(
            select(Customer.key).where(Customer.folded_name == value),
            select(Customer.key).where(Customer.search_key == value),
        )
    else:
        return None
    found = list(session.scalars(statement.limit(2)))
    return found[0] if len(found) == 1 else None


def customer_choices(session: Session, keys: Sequence[str], *, today: date) -> list[CustomerChoice]:
    """Pick-list lines for these customers, in the order given; unknown keys are skipped.

    `today` decides which license is active; callers pass their injected clock's date, as the
    cards do, so a pick list and the card it leads to agree.
    """
    if not keys:
        return []
    connection = session.connection()
    params = {"keys": list(keys)}
    customers = {row.key: row for row in connection.execute(_CUSTOMERS_BY_KEYS, params)}
    licenses_by_customer: dict[str, list[LicenseRecord]] = defaultdict(list)
    for row in connection.execute(_LICENSES_OF_CUSTOMERS, params):
        licenses_by_customer[row.customer_key].append(license_record(row))
    choices: list[CustomerChoice] = []
    for key in dict.fromkeys(keys):
        customer = customers.get(key)
        if customer is None:
            continue
        overview = summarise_licenses(licenses_by_customer[key], today)
        choices.append(customer_choice(customer_record(customer), overview))
    return choices


def customer_choice(customer: CustomerRecord, overview: LicenseOverview) -> CustomerChoice:
    """The pick-list line of a customer whose licenses are already loaded and summarised."""
    standing = customer_standing(overview)
    active = overview.lead if standing is CustomerStanding.ACTIVE else None
    leads = [overview.lead] if overview.lead else []
    licenses = [ranked.license for ranked in (*leads, *overview.others, *overview.trials)]
    return CustomerChoice(
        key=customer.key,
        name=customer.name,
        license_count=overview.license_count,
        active_plan=active.license.plan if active else None,
        active_user_count=active.license.user_count if active else None,
        salesforce_account_id=customer.salesforce_account_id,
        email_domain=_contact_email_domain(overview),
        standing=standing,
        account_name=customer.account_name,
        subscription_names=_distinct(row.zuora_subscription_name for row in licenses),
        email_domains=_distinct(_email_domain(row.contact_email) for row in licenses),
    )


def _contact_email_domain(overview: LicenseOverview) -> str | None:
    """The domain of the first contact email in card order (the lead license's, usually)."""
    ranked = [*([overview.lead] if overview.lead else []), *overview.others, *overview.trials]
    for item in ranked:
        email = (item.license.contact_email or "").strip()
        _, at, domain = email.rpartition("@")
        if at and domain:
            return domain.lower()
    return None


def _distinct(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(sorted({value for value in values if value}))


def _email_domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rpartition("@")[2].lower() or None


# Every column, for reads that build records from plain rows (attribute names = column names).
LICENSE_COLUMNS = tuple(License.__table__.columns)
HOST_COLUMNS = tuple(Host.__table__.columns)
CUSTOMER_COLUMNS = (
    Customer.key,
    Customer.name,
    Customer.salesforce_account_id,
    Customer.account_name,
)

# The lookup path's statements, built once with bound parameters (see load_customer_licenses).
_LATEST_IMPORT_AT = select(func.max(ImportRun.finished_at))
_LATEST_IMPORT_OF_KIND_AT = _LATEST_IMPORT_AT.where(ImportRun.kind == bindparam("kind"))
# The card's "data as of" rides along with the customer: one round trip fewer per card.
_CUSTOMER_WITH_DATA_AS_OF = select(
    *CUSTOMER_COLUMNS,
    Customer.search_key,
    _LATEST_IMPORT_OF_KIND_AT.scalar_subquery().label("data_as_of"),
).where(Customer.key == bindparam("customer_key"))
_LICENSES_OF_CUSTOMER = select(*LICENSE_COLUMNS).where(
    License.customer_key == bindparam("customer_key")
)
# An instance reports its license by our id, or by the license file's MD5 (version.gitlab.com's
# own record): two indexed lookups, the MD5 one only for hosts that gave no id.
_HOST_COLUMNS_BUT_LICENSE = tuple(column for column in HOST_COLUMNS if column.key != "license_id")
_HOSTS_BY_LICENSE_ID = select(*_HOST_COLUMNS_BUT_LICENSE, Host.license_id).where(
    Host.license_id.in_(
        select(License.id)
        .where(License.customer_key == bindparam("customer_key"))
        .scalar_subquery()
    )
)
_HOSTS_BY_LICENSE_MD5 = (
    select(*_HOST_COLUMNS_BUT_LICENSE, License.id.label("license_id"))
    .join(License, License.license_md5 == Host.license_md5)
    .where(License.customer_key == bindparam("customer_key"), Host.license_id.is_(None))
)
_HOSTS = union_all(_HOSTS_BY_LICENSE_ID, _HOSTS_BY_LICENSE_MD5).subquery()
_HOSTS_OF_CUSTOMER = select(_HOSTS).order_by(
    _HOSTS.c.last_ping_at.desc().nulls_last(), _HOSTS.c.hostname, _HOSTS.c.instance_key
)
_RECONCILIATIONS_OF_CUSTOMER = (
    select(*Reconciliation.__table__.columns)
    .where(Reconciliation.customer_key == bindparam("customer_key"))
    .order_by(Reconciliation.reconcile_on.desc().nulls_last(), Reconciliation.id.desc())
)
# Expanding IN: one compiled form whatever the number of keys.
_CUSTOMERS_BY_KEYS = select(*CUSTOMER_COLUMNS).where(
    Customer.key.in_(bindparam("keys", expanding=True))
)
_LICENSES_OF_CUSTOMERS = select(*LICENSE_COLUMNS).where(
    License.customer_key.in_(bindparam("keys", expanding=True))
)


def customer_record(customer: Customer | Row[Any]) -> CustomerRecord:
    return CustomerRecord(
        key=customer.key,
        name=customer.name,
        salesforce_account_id=customer.salesforce_account_id,
        account_name=customer.account_name,
    )


def license_record(row: License | Row[Any]) -> LicenseRecord:
    return LicenseRecord(
        id=row.id,
        company=row.company,
        plan=row.plan,
        trial=bool(row.trial),
        contact_name=row.contact_name,
        contact_email=row.contact_email,
        user_count=row.user_count,
        previous_user_count=row.previous_user_count,
        trueup_quantity=row.trueup_quantity,
        license_type=row.license_type,
        issued_at=row.issued_at,
        starts_at=row.starts_at,
        expires_at=row.expires_at,
        zuora_subscription_id=row.zuora_subscription_id,
        zuora_subscription_name=row.zuora_subscription_name,
        salesforce_account_id=row.salesforce_account_id,
        zuora_account_id=row.zuora_account_id,
        notes=row.notes,
    )


def host_record(row: Host | Row[Any]) -> HostRecord:
    return HostRecord(
        hostname=row.hostname,
        license_id=row.license_id,
        gitlab_version=row.gitlab_version,
        active_user_count=row.active_user_count,
        historical_max_users=row.historical_max_users,
        last_ping_at=row.last_ping_at,
    )


def reconciliation_record(row: Reconciliation | Row[Any]) -> ReconciliationRecord:
    return ReconciliationRecord(
        id=row.id,
        customer_name=row.customer_name,
        status=row.status,
        subscription_name=row.subscription_name,
        zuora_subscription_id=row.zuora_subscription_id,
        reconcile_on=row.reconcile_on,
        reconcile_done_at=row.reconcile_done_at,
        skip_reason=row.skip_reason,
        user_count=row.user_count,
        invoiced_amount_minor=row.invoiced_amount_minor,
        currency=row.currency,
        error_message=row.error_message,
    )


def customer_key_of_license(session: Session, license_id: int) -> str | None:
    """The customer a license is filed under (a posted license link); None if unknown."""
    return session.scalar(select(License.customer_key).where(License.id == license_id))


def load_reconciliation(session: Session, reconciliation_id: int) -> ReconciliationRecord | None:
    """One reconciliation by its CustomersDot id (a posted reconciliation link)."""
    row = session.get(Reconciliation, reconciliation_id)
    return None if row is None else reconciliation_record(row)
