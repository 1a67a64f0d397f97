"""The store's read queries: ORM rows in, plain records (bot/records.py) out.

Each lookup runs a small, fixed number of statements however many licenses, hosts or
reconciliations a customer has: nothing here loads row by row.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Label,
    Row,
    Select,
    String,
    bindparam,
    case,
    exists,
    func,
    not_,
    null,
    or_,
    select,
    union,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from bot.ids import LICENSE_ID_MAX
from bot.licensing import customer_standing, summarise_licenses
from bot.records import (
    SAME_DOMAIN_SHOWN,
    CustomerChoice,
    CustomerLicenses,
    CustomerReconciliations,
    CustomerRecord,
    CustomerStanding,
    HostRecord,
    LicenseOverview,
    LicenseRecord,
    ReconciliationRecord,
    SameDomainLicense,
)
from bot.salesforce_ids import salesforce_id_18
from bot.store.models import (
    Customer,
    CustomerName,
    Host,
    ImportRun,
    License,
    PublicEmailDomain,
    Reconciliation,
    Subscription,
)
from bot.store.prepared import PreparedStatement

# ImportRun.kind of each import (python -m bot import {licenses|reconciliations|hosts|...}).
LICENSES_IMPORT = "licenses"
RECONCILIATIONS_IMPORT = "reconciliations"
SUBSCRIPTIONS_IMPORT = "subscriptions"
HOSTS_IMPORT = "hosts"
IMPORT_KINDS = (LICENSES_IMPORT, SUBSCRIPTIONS_IMPORT, HOSTS_IMPORT, RECONCILIATIONS_IMPORT)
# The kinds each card shows, whose ages it says (bot/freshness.py), in the order it says them:
# the license card's licenses, their subscriptions and the usage pings of its servers.
LICENSE_CARD_KINDS = (LICENSES_IMPORT, SUBSCRIPTIONS_IMPORT, HOSTS_IMPORT)
RECON_CARD_KINDS = (RECONCILIATIONS_IMPORT,)


def latest_import_at(session: Session, kind: str | None = None) -> datetime | None:
    """When the latest import (of `kind`, or of any kind) finished: whether the store holds
    any data at all."""
    if kind is None:
        return session.connection().scalar(_LATEST_IMPORT_AT)
    return session.connection().scalar(_LATEST_IMPORT_OF_KIND_AT, {"kind": kind})


def data_times(session: Session) -> dict[str, datetime | None]:
    """Each import kind's data time (None: never imported): its latest import's source time,
    else that import's finish. One statement, an index lookup per kind."""
    row = session.connection().execute(_DATA_TIMES).one()
    return _data_times_of(row, IMPORT_KINDS)


def _data_times_of(row: Any, kinds: Sequence[str]) -> dict[str, datetime | None]:
    return {kind: getattr(row, _data_time_label(kind)) for kind in kinds}


def load_customer_licenses(
    session: Session, customer_key: str, *, today: date
) -> CustomerLicenses | None:
    """Everything the license card shows for one customer; None if the customer is gone."""
    # Core execution of statements built once (below): a card is read on most lookups, and
    # rebuilding, cache-keying and ORM-loading its statements cost more than running them.
    # Plain rows: the records are built from them straight away.
    rows = _customer_license_rows(session, customer_key)
    if not rows:
        return None
    first = rows[0]
    customer = _card_customer(first)
    params = {"customer_key": customer.key}
    # The customer LEFT JOINed to its licenses: one row with no license when it has none.
    license_rows = rows if first.id is not None else []
    licenses = [_card_license_record(row) for row in license_rows]
    # The statement says whether a server reports any of its licenses: most customers' never
    # did (GitLab.com subscriptions, trials), and their card skips the servers' read.
    hosts_by_license: dict[int, tuple[HostRecord, ...]] = {}
    if getattr(first, _HOSTS_POSSIBLE):
        found_hosts: dict[int, list[HostRecord]] = defaultdict(list)
        for host in session.connection().execute(_HOSTS_OF_CUSTOMER, params):
            if host.license_id is not None:
                found_hosts[host.license_id].append(_host_from_row(host))
        hosts_by_license = {license_id: tuple(found) for license_id, found in found_hosts.items()}
    # The statement says whether another customer's license went to one of its company domains
    # at all: most customers' never did, and their card skips the same-domain read.
    domains = (
        {row.company_domain for row in license_rows} - {None}
        if getattr(first, _SAME_DOMAIN_POSSIBLE, False)
        else set()
    )
    return CustomerLicenses(
        customer=customer,
        overview=summarise_licenses(licenses, today, hosts_by_license),
        hosts_by_license=hosts_by_license,
        data_times=_data_times_of(first, LICENSE_CARD_KINDS),
        today=today,
        same_domain=_same_domain_licenses(session, customer.key, domains),
    )


def _customer_license_rows(session: Session, customer_key: str) -> Sequence[Any]:
    """The license card's customer row with its licenses (none: the customer is gone)."""
    return _card_rows(session, customer_key, _license_card_statement)


def _card_rows(
    session: Session,
    customer_key: str,
    statement_for: Callable[[str], PreparedStatement],
) -> Sequence[Any]:
    """A card's rows: its customer with the data times of its kinds and what it lists, LEFT
    JOINed (none: the customer is gone). A key that no longer names a customer (an old
    button, App Home entry or unfurl, made before an import regrouped the customers) is
    followed to the customer it became, if exactly one."""
    connection = session.connection()
    found = statement_for(customer_key).rows(connection, {"customer_key": customer_key})
    if found:
        return found
    current = current_customer_key(session, customer_key)
    if current is None or current == customer_key:
        return []
    return statement_for(current).rows(connection, {"customer_key": current})


# The customer rule's anchored customers (rules 1-2): keyed by an account or a subscription.
_ANCHORED_KEY_PREFIXES = ("sf:", "za:", "sub:")


def is_anchored_key(customer_key: str) -> bool:
    return customer_key.startswith(_ANCHORED_KEY_PREFIXES)


def _same_domain_licenses(
    session: Session, customer_key: str, domains: set[str]
) -> tuple[SameDomainLicense, ...]:
    """Licenses sent to an anchored customer's company domains (`domains`: its licenses'
    contacts' that are no public mail provider's) that the customer rule filed elsewhere (another name: a subsidiary, a
    consultancy's trial for its client), newest first; not for a domain another anchored
    customer's licenses were also sent to (a reseller's)."""
    if not is_anchored_key(customer_key) or not domains:
        return ()
    parameters: dict[str, str] = {"customer_key": customer_key}
    for number, domain in enumerate(sorted(domains)):
        parameters[f"domain_{number}"] = domain
    rows = session.connection().execute(_same_domain_statement(len(domains)), parameters)
    return tuple(
        SameDomainLicense(
            license_id=row.id, company=row.company, trial=bool(row.trial), domain=row.domain
        )
        for row in rows
    )


def load_customer_reconciliations(
    session: Session, customer_key: str
) -> CustomerReconciliations | None:
    """The customer's seat reconciliations, newest first; None if the customer is gone.

    Which customer a reconciliation belongs to is the customer rule's (bot.store.customers),
    kept in `reconciliation.customer_key` by every import.
    """
    rows = _card_rows(session, customer_key, lambda _key: _RECON_CARD)
    if not rows:
        return None
    first = rows[0]
    # One row with no reconciliation when it has none.
    reconciliations = rows if first.id is not None else []
    return CustomerReconciliations(
        customer=_card_customer(first),
        reconciliations=tuple(reconciliation_record(row) for row in reconciliations),
        data_times=_data_times_of(first, RECON_CARD_KINDS),
    )


def current_customer_key(session: Session, old_key: str) -> str | None:
    """The customer an old customer key names now, or None when it names none or several
    (the user is told to search again).

    Keys name their evidence (bot.store.customers): a Salesforce account (a 15-character id
    in keys made before ids were converted), a Zuora account or a subscription is followed to
    the customer its licenses are under, as is an email domain (`domain:`, licenses without a
    company), a license (`license:`) and a prospect's spellings at one company domain
    (`name:<compact name>@<domain>`); a name (`name:<folded name>`, or an older key's name
    without its legal form) to the one customer with that folded name or search key."""
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
    elif kind == "license":
        if not value.isascii() or not value.isdigit() or int(value) > LICENSE_ID_MAX:
            return None
        statement = select(License.customer_key).where(License.id == int(value))
    elif kind == "name" and "@" in value:
        # A prospect's spellings joined by their company domain (`name:piedpiper@piedpiper.com`).
        compact, _, domain = value.rpartition("@")
        statement = (
            select(License.customer_key)
            .where(
                License.contact_email_domain == domain,
                func.replace(License.company_search_key, " ", "") == compact,
            )
            .distinct()
        )
    elif kind == "name":
        # Any name the customer is known by (a spelling the rule has since joined to another).
        company_names = CustomerName.kind != "contact"
        statement = union(
            select(Customer.key).where(Customer.folded_name == value),
            select(Customer.key).where(Customer.search_key == value),
            select(CustomerName.customer_key).where(CustomerName.folded == value, company_names),
            select(CustomerName.customer_key).where(
                CustomerName.search_key == value, company_names
            ),
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
    customers_by_keys, licenses_of_customers = _choices_statements(len(keys))
    params = {f"key_{position}": key for position, key in enumerate(keys)}
    customers = {row.key: row for row in customers_by_keys.rows(connection, params)}
    licenses_by_customer: dict[str, list[LicenseRecord]] = defaultdict(list)
    for row in licenses_of_customers.rows(connection, params):
        licenses_by_customer[row.customer_key].append(license_record(row))
    # Standing and counts need no servers: a pick list reads none.
    choices: list[CustomerChoice] = []
    for key in dict.fromkeys(keys):
        customer = customers.get(key)
        if customer is None:
            continue
        overview = summarise_licenses(licenses_by_customer[key], today)
        choices.append(customer_choice(customer_record(customer), overview))
    return choices


def customer_choice(customer: CustomerRecord, overview: LicenseOverview) -> CustomerChoice:
    """The pick-list line of a customer whose licenses are already loaded and summarised: the
    card's own counts and standing (bot.licensing), and what tells it from a same-named one."""
    standing = customer_standing(overview)
    active = overview.lead if standing is CustomerStanding.ACTIVE else None
    licenses = [ranked.license for ranked in (*overview.paid, *overview.trials)]
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
        subscription_names=_distinct(
            subscription.name
            for subscription in overview.subscriptions
            if subscription.name and not _is_zuora_id(subscription.name)
        ),
        email_domains=_distinct(_email_domain(row.contact_email) for row in licenses),
        account_numbers=_distinct(row.account_number for row in licenses),
        paid_count=overview.paid_count,
        trial_count=len(overview.trials),
        subscriptions_in_force=len(overview.in_force),
    )


def _is_zuora_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdefABCDEF" for c in value)


def _contact_email_domain(overview: LicenseOverview) -> str | None:
    """The domain of the first contact email in card order (the lead license's, usually)."""
    ranked = [*overview.paid, *overview.trials]
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
# A license's subscription as the customer rule names it (bot.store.customers: its name from
# the subscriptions export, any version's id joining it, else the name or id on the row), and
# that version's account number.
_VERSION = aliased(Subscription, name="version")
_LICENSE_READ = (
    *LICENSE_COLUMNS,
    func.coalesce(
        _VERSION.subscription_name, License.zuora_subscription_name, License.zuora_subscription_id
    ).label("subscription"),
    _VERSION.account_number.label("account_number"),
)
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


def _data_time_label(kind: str) -> str:
    return f"data_time_{kind}"


def _data_time(kind: str) -> Label[datetime]:
    """A kind's data time: its latest import's (by finish, then id) source time, else that
    import's finish; an index lookup (import_run's kind, finished_at)."""
    latest = (
        select(func.coalesce(ImportRun.source_time, ImportRun.finished_at))
        .where(ImportRun.kind == kind)
        .order_by(ImportRun.finished_at.desc(), ImportRun.id.desc())
        .limit(1)
    )
    return latest.scalar_subquery().label(_data_time_label(kind))


_DATA_TIMES = select(*(_data_time(kind) for kind in IMPORT_KINDS))
# The card's data times ride along with the customer: one round trip fewer per card.
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


@functools.lru_cache(maxsize=32)
def _choices_statements(count: int) -> tuple[PreparedStatement, PreparedStatement]:
    """The pick list's two statements for `count` keys (`key_0`, `key_1`, ...), built once per
    count (a pick list's page of keys, or one) and run on the driver's cursor. Not an expanding
    IN: that form is rendered anew on every execution (a regular expression over the
    statement), which cost as much as running it."""
    keys = [bindparam(f"key_{position}", type_=String()) for position in range(count)]
    customers = select(*CUSTOMER_COLUMNS).where(Customer.key.in_(keys))
    licenses = (
        select(*_LICENSE_READ)
        .outerjoin(_VERSION, _VERSION.zuora_subscription_id == License.zuora_subscription_id)
        .where(License.customer_key.in_(keys))
    )
    return PreparedStatement(customers), PreparedStatement(licenses)


def _anchored(key: Any) -> Any:
    return or_(*(key.startswith(prefix, autoescape=True) for prefix in _ANCHORED_KEY_PREFIXES))


_OTHER = aliased(License, name="other")


@functools.lru_cache(maxsize=16)
def _same_domain_statement(domain_count: int) -> Select[*tuple[Any, ...]]:
    # One statement per number of domains (most customers have one), each domain its own bound
    # parameter "domain_N": an expanding IN would render the SQL again at every card (most of
    # this statement's CPU).
    domains = [bindparam(f"domain_{number}", type_=String) for number in range(domain_count)]
    return (
        select(
            License.contact_email_domain.label("domain"),
            License.id,
            License.company,
            License.trial,
        )
        .where(
            License.contact_email_domain.in_(domains),
            License.customer_key != bindparam("customer_key"),
            not_(_anchored(License.customer_key)),
            ~exists().where(
                _OTHER.contact_email_domain == License.contact_email_domain,
                _OTHER.customer_key != bindparam("customer_key"),
                _anchored(_OTHER.customer_key),
            ),
        )
        .order_by(License.issued_at.desc().nulls_last(), License.id.desc())
        .limit(SAME_DOMAIN_SHOWN + 1)
    )


# The license card's first statement: the customer, its card's data times and its licenses
# (LEFT JOINed: a customer without licenses is one row whose license columns are NULL). The
# customer's columns are labelled apart from the license's own (both have a Salesforce id).
_CARD_CUSTOMER_COLUMNS = tuple(
    getattr(Customer, field.name).label(f"card_{field.name}")
    for field in dataclasses.fields(CustomerRecord)
)
# A license's contact domain unless a public mail provider's: the card's same-domain read takes
# only these, never reading every license sent to gmail.com to learn it is public.
_COMPANY_DOMAIN = case(
    (exists().where(PublicEmailDomain.domain == License.contact_email_domain), null()),
    else_=License.contact_email_domain,
).label("company_domain")
_MINE = aliased(License, name="mine")
_ELSEWHERE = aliased(License, name="elsewhere")
_SAME_DOMAIN_POSSIBLE = "same_domain_possible"
# Whether a license of another customer, not an anchored one, went to one of the customer's
# company domains: all `_same_domain_statement` can find is among those, so without any the
# card skips it (most customers' domains are their own). Uncorrelated: evaluated once, through
# the indexes on the customer's licenses and on contact domains.
_SAME_DOMAIN_POSSIBLE_COLUMN = (
    exists()
    .where(
        _ELSEWHERE.contact_email_domain.in_(
            select(_MINE.contact_email_domain).where(
                _MINE.customer_key == bindparam("customer_key"),
                ~exists().where(PublicEmailDomain.domain == _MINE.contact_email_domain),
            )
        ),
        _ELSEWHERE.customer_key != bindparam("customer_key"),
        not_(_anchored(_ELSEWHERE.customer_key)),
    )
    .label(_SAME_DOMAIN_POSSIBLE)
)


_HOSTED = aliased(License, name="hosted")
_HOSTS_POSSIBLE = "hosts_possible"
# Whether any server reports one of the customer's licenses, by its id or its MD5: what
# `_HOSTS_OF_CUSTOMER` reads, asked once (uncorrelated) through the same indexes.
_HOSTS_POSSIBLE_COLUMN = or_(
    exists().where(
        Host.license_id.in_(
            select(_HOSTED.id).where(_HOSTED.customer_key == bindparam("customer_key"))
        )
    ),
    exists().where(
        Host.license_id.is_(None),
        Host.license_md5 == _HOSTED.license_md5,
        _HOSTED.customer_key == bindparam("customer_key"),
    ),
).label(_HOSTS_POSSIBLE)


def _card_select(*, same_domain: bool) -> Select[*tuple[Any, ...]]:
    # The same-domain check last: the other columns' positions are the same in both forms.
    return (
        select(
            *_CARD_CUSTOMER_COLUMNS,
            *(_data_time(kind) for kind in LICENSE_CARD_KINDS),
            *_LICENSE_READ,
            _COMPANY_DOMAIN,
            _HOSTS_POSSIBLE_COLUMN,
            *((_SAME_DOMAIN_POSSIBLE_COLUMN,) if same_domain else ()),
        )
        .select_from(Customer)
        .outerjoin(License, License.customer_key == Customer.key)
        .outerjoin(_VERSION, _VERSION.zuora_subscription_id == License.zuora_subscription_id)
        .where(Customer.key == bindparam("customer_key"))
    )


# Only an anchored customer's card says what went to its domains (`_same_domain_licenses`).
# Run on the driver's cursor (bot/store/prepared.py): a card is read on most lookups.
_LICENSE_CARD_SELECT = _card_select(same_domain=False)
_LICENSE_CARD = PreparedStatement(_LICENSE_CARD_SELECT)
_ANCHORED_LICENSE_CARD = PreparedStatement(_card_select(same_domain=True))


def _license_card_statement(customer_key: str) -> PreparedStatement:
    return _ANCHORED_LICENSE_CARD if is_anchored_key(customer_key) else _LICENSE_CARD


# The reconciliation card's one statement: the customer, its data time and its
# reconciliations, newest first (LEFT JOINed, as the license card's).
_RECON_CARD = PreparedStatement(
    select(
        *_CARD_CUSTOMER_COLUMNS,
        *(_data_time(kind) for kind in RECON_CARD_KINDS),
        *Reconciliation.__table__.columns,
    )
    .select_from(Customer)
    .outerjoin(Reconciliation, Reconciliation.customer_key == Customer.key)
    .where(Customer.key == bindparam("customer_key"))
    .order_by(Reconciliation.reconcile_on.desc().nulls_last(), Reconciliation.id.desc())
)


def _record_values(record: type, names: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    """A record's fields' values read from a row by position (its columns are named as the
    fields), one C-level itemgetter (see `license_record`)."""
    return operator.itemgetter(*(names.index(field.name) for field in dataclasses.fields(record)))


_CARD_NAMES = list(_LICENSE_CARD_SELECT.selected_columns.keys())
_CARD_CUSTOMER_VALUES = operator.itemgetter(
    *(_CARD_NAMES.index(f"card_{field.name}") for field in dataclasses.fields(CustomerRecord))
)
_CARD_LICENSE_VALUES = _record_values(LicenseRecord, _CARD_NAMES)
_HOST_VALUES = _record_values(HostRecord, list(_HOSTS_OF_CUSTOMER.selected_columns.keys()))


def _card_customer(row: Any) -> CustomerRecord:
    return CustomerRecord(*_CARD_CUSTOMER_VALUES(row))


def _card_license_record(row: Any) -> LicenseRecord:
    values = list(_CARD_LICENSE_VALUES(row))
    values[_TRIAL] = bool(values[_TRIAL])
    return LicenseRecord(*values)


def _host_from_row(row: Row[*tuple[Any, ...]]) -> HostRecord:
    return HostRecord(*_HOST_VALUES(row))


def customer_record(customer: Customer | Row[*tuple[Any, ...]]) -> CustomerRecord:
    return CustomerRecord(
        key=customer.key,
        name=customer.name,
        salesforce_account_id=customer.salesforce_account_id,
        account_name=customer.account_name,
    )


# LicenseRecord is read from a license row by its fields' names: a License column the card needs
# is declared in LicenseRecord, and nothing here changes. The names are resolved to positions
# in `_LICENSE_READ` (which every statement passed to `license_record` starts with) once, here:
# one C-level itemgetter per row. A Row's attributes are looked up by name on each access,
# which cost twenty times more (a pick list reads every license of eight customers).
_LICENSE_RECORD_FIELDS = tuple(field.name for field in dataclasses.fields(LicenseRecord))
_LICENSE_READ_NAMES = list(select(*_LICENSE_READ).selected_columns.keys())
_LICENSE_RECORD_VALUES = operator.itemgetter(
    *(_LICENSE_READ_NAMES.index(name) for name in _LICENSE_RECORD_FIELDS)
)
_TRIAL = _LICENSE_RECORD_FIELDS.index("trial")


def license_record(row: Row[*tuple[Any, ...]]) -> LicenseRecord:
    """A license as the card reads it, from a row of the lookup path's statements (their first
    columns `_LICENSE_READ`: every License column, and the `subscription` and `account_number`
    its subscription's export gives)."""
    values = list(_LICENSE_RECORD_VALUES(row))
    values[_TRIAL] = bool(values[_TRIAL])
    return LicenseRecord(*values)


def host_record(row: Host | Row[*tuple[Any, ...]]) -> HostRecord:
    return HostRecord(
        hostname=row.hostname,
        license_id=row.license_id,
        gitlab_version=row.gitlab_version,
        active_user_count=row.active_user_count,
        historical_max_users=row.historical_max_users,
        last_ping_at=row.last_ping_at,
        billable_user_count=row.billable_user_count,
    )


def reconciliation_record(row: Reconciliation | Row[*tuple[Any, ...]]) -> ReconciliationRecord:
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


def customer_key_by_prefix(
    session: Session, prefix: str, matches: Callable[[str], bool]
) -> str | None:
    """The customer key starting with `prefix` that `matches` accepts (a long key a modal's
    option value carries as prefix + digest: bot/views/modals.py); None if there is none.

    The prefix is a range on the primary key, which both engines answer from its index (the
    bytewise order of SQLite and of the C collation); a database with a linguistic collation
    may order keys otherwise, so an empty range falls back to a plain prefix match."""
    last = ord(prefix[-1]) if prefix else 0x10FFFF
    after_prefix = prefix[:-1] + chr(last + 1) if last < 0x10FFFF else None
    ranged = select(Customer.key).where(Customer.key >= prefix)
    if after_prefix is not None:
        ranged = ranged.where(Customer.key < after_prefix)
    anywhere = select(Customer.key).where(Customer.key.startswith(prefix, autoescape=True))
    for statement in (ranged, anywhere):
        for key in session.scalars(statement):
            if matches(key):
                return key
    return None
