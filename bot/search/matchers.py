"""The exact matchers: the customers a license id, email, domain, subscription, Salesforce
account, Zuora id or account number, or hostname names, each a few indexed statements (the
queries other than names, in the order tried).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from sqlalchemy import ColumnElement, Select, bindparam, func, select
from sqlalchemy.orm import Session

from bot.search.parsing import ParsedQuery, QueryKind
from bot.store.models import Customer, Host, License, Reconciliation, Subscription

_Matcher = Callable[[Session, int], list[str]]


def _exact_matchers(query: ParsedQuery) -> list[tuple[QueryKind, _Matcher]]:
    """The matchers other than names for this query, in the order they are tried."""
    value = query.value
    if query.kind is QueryKind.LICENSE_ID and query.license_id is not None:
        license_id = query.license_id
        return [(query.kind, lambda s, n: _customers_of(s, _BY_LICENSE_ID, license_id, n))]
    if query.kind is QueryKind.EMAIL:
        # An address no license was sent to most likely belongs to a customer of its domain;
        # `matched_by` tells the caller which of the two answered (see `unsent_email`).
        domain = query.email_domain or ""
        return [
            (query.kind, lambda s, n: _customers_of(s, _BY_EMAIL, value, n)),
            (QueryKind.EMAIL_DOMAIN, lambda s, n: _customers_of(s, _BY_DOMAIN, domain, n)),
        ]
    if query.kind is QueryKind.EMAIL_DOMAIN:
        return [(query.kind, lambda s, n: _customers_of(s, _BY_DOMAIN, value, n))]
    if query.kind is QueryKind.SUBSCRIPTION_NAME:
        return [(query.kind, lambda s, n: _subscription_customers(s, value, n))]
    if query.kind is QueryKind.SALESFORCE_ID:
        return [(query.kind, lambda s, n: _salesforce_customers(s, value, n))]
    if query.kind is QueryKind.ZUORA_ID:
        return [(query.kind, lambda s, n: _zuora_id_customers(s, value, n))]
    if query.kind is QueryKind.ACCOUNT_NUMBER:
        return [(query.kind, lambda s, n: _versions_customers(s, "account_number", value, n))]
    if query.kind is QueryKind.HOSTNAME:
        return [
            (QueryKind.HOSTNAME, lambda s, n: _host_customers(s, value, n)),
            (QueryKind.EMAIL_DOMAIN, lambda s, n: _customers_of(s, _BY_DOMAIN, value, n)),
        ]
    return []


# Every statement here is built once, with the value looked for and the LIMIT bound when it
# runs, and run as Core on the session's connection: an exact lookup runs one to a few of them,
# and building and cache-keying a statement cost several times more than running it.
_Statement = Select[str]


def _customers_where(license_filter: ColumnElement[bool]) -> _Statement:
    """Customers of the licenses matching the filter (on `:value`): most matching licenses
    first."""
    return (
        select(License.customer_key)
        .join(Customer, Customer.key == License.customer_key)
        .where(license_filter)
        .group_by(License.customer_key)
        .order_by(
            func.count().desc(),
            func.max(License.issued_at).desc().nulls_last(),
            License.customer_key,
        )
        .limit(bindparam("limit"))
    )


def _customers_of(session: Session, statement: _Statement, value: object, limit: int) -> list[str]:
    return list(session.connection().scalars(statement, {"value": value, "limit": limit}))


_BY_LICENSE_ID = _customers_where(License.id == bindparam("value"))
_BY_EMAIL = _customers_where(License.contact_email_key == bindparam("value"))
_BY_DOMAIN = _customers_where(License.contact_email_domain == bindparam("value"))
_BY_SUBSCRIPTION_NAME = _customers_where(License.zuora_subscription_name == bindparam("value"))
_BY_SUBSCRIPTION_ID = _customers_where(License.zuora_subscription_id == bindparam("value"))
_BY_SALESFORCE_ID = _customers_where(License.salesforce_account_id == bindparam("value"))
_BY_ZUORA_ACCOUNT_ID = _customers_where(License.zuora_account_id == bindparam("value"))
_BY_LICENSE_MD5 = _customers_where(License.license_md5 == bindparam("value"))
# An instance reports its license by our id, else by the license file's MD5: two statements,
# the second only when the first finds nothing (one statement with OR was planned as a scan of
# the licenses on PostgreSQL: 40 ms at 100,000).
_BY_HOST = _customers_where(
    License.id.in_(select(Host.license_id).where(Host.hostname == bindparam("value")))
)
_BY_HOST_MD5 = _customers_where(
    License.license_md5.in_(
        select(Host.license_md5).where(
            Host.hostname == bindparam("value"), Host.license_id.is_(None)
        )
    )
)


def _host_customers(session: Session, hostname: str, limit: int) -> list[str]:
    found = _customers_of(session, _BY_HOST, hostname, limit)
    if found:
        return found
    return _customers_of(session, _BY_HOST_MD5, hostname, limit)


def _subscription_customers(session: Session, subscription_name: str, limit: int) -> list[str]:
    """Licenses of the subscription (by name, else by any of its versions' Zuora ids from the
    subscriptions export), else its reconciliations' customers (bot.store.customers)."""
    found = _customers_of(session, _BY_SUBSCRIPTION_NAME, subscription_name, limit)
    if found:
        return found
    found = _customers_of(session, _BY_VERSIONS_OF_SUBSCRIPTION, subscription_name, limit)
    if found:
        return found
    return _customers_of(session, _RECONCILED_SUBSCRIPTION_NAME, subscription_name, limit)


_BY_VERSIONS_OF_SUBSCRIPTION = _customers_where(
    License.zuora_subscription_id.in_(
        select(Subscription.zuora_subscription_id).where(
            Subscription.subscription_name == bindparam("value")
        )
    )
)


def _reconciliations_where(reconciliation_filter: ColumnElement[bool]) -> _Statement:
    """The customers the matching reconciliations belong to (bot.store.customers), by name."""
    owners = select(Reconciliation.customer_key).where(reconciliation_filter)
    return (
        select(Customer.key)
        .where(Customer.key.in_(owners))
        .order_by(Customer.name, Customer.key)
        .limit(bindparam("limit"))
    )


_RECONCILED_SUBSCRIPTION_NAME = _reconciliations_where(
    Reconciliation.subscription_name == bindparam("value")
)
_RECONCILED_SUBSCRIPTION_ID = _reconciliations_where(
    Reconciliation.zuora_subscription_id == bindparam("value")
)


@functools.cache
def _versions_statements(version_column: str) -> tuple[_Statement, _Statement, _Statement]:
    """`_versions_customers`' three statements for the versions whose `version_column` (a
    Subscription column) is `:value`."""
    versions = select(Subscription.zuora_subscription_id).where(
        getattr(Subscription, version_column) == bindparam("value")
    )
    names = select(Subscription.subscription_name).where(
        Subscription.zuora_subscription_id.in_(versions)
    )
    every_version = select(Subscription.zuora_subscription_id).where(
        Subscription.subscription_name.in_(names)
    )
    return (
        _customers_where(License.zuora_subscription_id.in_(versions)),
        _customers_where(License.zuora_subscription_name.in_(names)),
        _customers_where(License.zuora_subscription_id.in_(every_version)),
    )


def _versions_customers(session: Session, version_column: str, value: str, limit: int) -> list[str]:
    """Customers of the subscriptions some versions belong to (the subscriptions export; the
    versions whose `version_column` is `value`): by each version's id on a license, else by
    the subscription's name, else by any version of that name."""
    for statement in _versions_statements(version_column):
        found = _customers_of(session, statement, value, limit)
        if found:
            return found
    return []


_SALESFORCE_CUSTOMER = select(Customer.key).where(Customer.key == bindparam("value"))


def _salesforce_customers(session: Session, salesforce_id: str, limit: int) -> list[str]:
    """The customer of a Salesforce account (rule 1 keys it by the account), else the customers
    of the licenses and subscriptions that name it."""
    key = session.connection().scalar(_SALESFORCE_CUSTOMER, {"value": f"sf:{salesforce_id}"})
    if key is not None:
        return [key]
    found = _customers_of(session, _BY_SALESFORCE_ID, salesforce_id, limit)
    if found:
        return found
    return _versions_customers(session, "salesforce_account_id", salesforce_id, limit)


def _zuora_id_customers(session: Session, zuora_id: str, limit: int) -> list[str]:
    """32 hex digits: a subscription version's Zuora id (any version), else a Zuora account's,
    else a license file's MD5, else a reconciliation's subscription id."""
    found = _customers_of(session, _BY_SUBSCRIPTION_ID, zuora_id, limit)
    if found:
        return found
    found = _versions_customers(session, "zuora_subscription_id", zuora_id, limit)
    if found:
        return found
    found = _customers_of(session, _BY_ZUORA_ACCOUNT_ID, zuora_id, limit)
    if found:
        return found
    found = _versions_customers(session, "zuora_account_id", zuora_id, limit)
    if found:
        return found
    found = _customers_of(session, _BY_LICENSE_MD5, zuora_id, limit)
    if found:
        return found
    return _customers_of(session, _RECONCILED_SUBSCRIPTION_ID, zuora_id, limit)
