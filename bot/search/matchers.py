"""The exact matchers: the customers a license id, email, domain, subscription, Salesforce
account, Zuora id or account number, or hostname names, each a few indexed statements (the
queries other than names, in the order tried).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from bot.search.parsing import ParsedQuery, QueryKind
from bot.store.models import Customer, Host, License, Reconciliation, Subscription

_Matcher = Callable[[Session, int], list[str]]


def _exact_matchers(query: ParsedQuery) -> list[tuple[QueryKind, _Matcher]]:
    """The matchers other than names for this query, in the order they are tried."""
    value = query.value
    if query.kind is QueryKind.LICENSE_ID and query.license_id is not None:
        license_id = query.license_id
        return [(query.kind, lambda s, n: _customers_of(s, License.id == license_id, n))]
    if query.kind is QueryKind.EMAIL:
        # An address no license was sent to most likely belongs to a customer of its domain;
        # `matched_by` tells the caller which of the two answered (see `unsent_email`).
        domain = query.email_domain or ""
        return [
            (query.kind, lambda s, n: _customers_of(s, License.contact_email_key == value, n)),
            (QueryKind.EMAIL_DOMAIN, lambda s, n: _domain_customers(s, domain, n)),
        ]
    if query.kind is QueryKind.EMAIL_DOMAIN:
        return [(query.kind, lambda s, n: _domain_customers(s, value, n))]
    if query.kind is QueryKind.SUBSCRIPTION_NAME:
        return [(query.kind, lambda s, n: _subscription_customers(s, value, n))]
    if query.kind is QueryKind.SALESFORCE_ID:
        return [(query.kind, lambda s, n: _salesforce_customers(s, value, n))]
    if query.kind is QueryKind.ZUORA_ID:
        return [(query.kind, lambda s, n: _zuora_id_customers(s, value, n))]
    if query.kind is QueryKind.ACCOUNT_NUMBER:
        versions = select(Subscription.zuora_subscription_id).where(
            Subscription.account_number == value
        )
        return [(query.kind, lambda s, n: _versions_customers(s, versions, n))]
    if query.kind is QueryKind.HOSTNAME:
        return [
            (QueryKind.HOSTNAME, lambda s, n: _host_customers(s, value, n)),
            (QueryKind.EMAIL_DOMAIN, lambda s, n: _domain_customers(s, value, n)),
        ]
    return []


def _customers_of(session: Session, license_filter: ColumnElement[bool], limit: int) -> list[str]:
    """Customers of the licenses matching the filter: most matching licenses first."""
    statement = (
        select(License.customer_key)
        .join(Customer, Customer.key == License.customer_key)
        .where(license_filter)
        .group_by(License.customer_key)
        .order_by(
            func.count().desc(),
            func.max(License.issued_at).desc().nulls_last(),
            License.customer_key,
        )
        .limit(limit)
    )
    return list(session.scalars(statement))


def _domain_customers(session: Session, domain: str, limit: int) -> list[str]:
    return _customers_of(session, License.contact_email_domain == domain, limit)


def _host_customers(session: Session, hostname: str, limit: int) -> list[str]:
    # An instance reports its license by our id, else by the license file's MD5: two
    # statements, the second only when the first finds nothing (one statement with OR was
    # planned as a scan of the licenses on PostgreSQL: 40 ms at 100,000).
    licensed = select(Host.license_id).where(Host.hostname == hostname)
    found = _customers_of(session, License.id.in_(licensed), limit)
    if found:
        return found
    by_md5 = select(Host.license_md5).where(Host.hostname == hostname, Host.license_id.is_(None))
    return _customers_of(session, License.license_md5.in_(by_md5), limit)


def _subscription_customers(session: Session, subscription_name: str, limit: int) -> list[str]:
    """Licenses of the subscription (by name, else by any of its versions' Zuora ids from the
    subscriptions export), else its reconciliations' customers (bot.store.customers)."""
    found = _customers_of(session, License.zuora_subscription_name == subscription_name, limit)
    if found:
        return found
    versions = select(Subscription.zuora_subscription_id).where(
        Subscription.subscription_name == subscription_name
    )
    found = _customers_of(session, License.zuora_subscription_id.in_(versions), limit)
    if found:
        return found
    return _reconciliations_customers(
        session, Reconciliation.subscription_name == subscription_name, limit
    )


def _reconciliations_customers(
    session: Session, reconciliation_filter: ColumnElement[bool], limit: int
) -> list[str]:
    """The customers the matching reconciliations belong to (bot.store.customers), by name."""
    owners = select(Reconciliation.customer_key).where(reconciliation_filter)
    statement = (
        select(Customer.key)
        .where(Customer.key.in_(owners))
        .order_by(Customer.name, Customer.key)
        .limit(limit)
    )
    return list(session.scalars(statement))


def _versions_customers(session: Session, versions: Select[str], limit: int) -> list[str]:
    """Customers of the subscriptions some versions belong to (the subscriptions export): by
    each version's id on a license, else by the subscription's name."""
    found = _customers_of(session, License.zuora_subscription_id.in_(versions), limit)
    if found:
        return found
    names = select(Subscription.subscription_name).where(
        Subscription.zuora_subscription_id.in_(versions)
    )
    found = _customers_of(session, License.zuora_subscription_name.in_(names), limit)
    if found:
        return found
    every_version = select(Subscription.zuora_subscription_id).where(
        Subscription.subscription_name.in_(names)
    )
    return _customers_of(session, License.zuora_subscription_id.in_(every_version), limit)


def _salesforce_customers(session: Session, salesforce_id: str, limit: int) -> list[str]:
    """The customer of a Salesforce account (rule 1 keys it by the account), else the customers
    of the licenses and subscriptions that name it."""
    key = session.scalar(select(Customer.key).where(Customer.key == f"sf:{salesforce_id}"))
    if key is not None:
        return [key]
    found = _customers_of(session, License.salesforce_account_id == salesforce_id, limit)
    if found:
        return found
    versions = select(Subscription.zuora_subscription_id).where(
        Subscription.salesforce_account_id == salesforce_id
    )
    return _versions_customers(session, versions, limit)


def _zuora_id_customers(session: Session, zuora_id: str, limit: int) -> list[str]:
    """32 hex digits: a subscription version's Zuora id (any version), else a Zuora account's,
    else a license file's MD5, else a reconciliation's subscription id."""
    found = _customers_of(session, License.zuora_subscription_id == zuora_id, limit)
    if found:
        return found
    versions = select(Subscription.zuora_subscription_id).where(
        Subscription.zuora_subscription_id == zuora_id
    )
    found = _versions_customers(session, versions, limit)
    if found:
        return found
    found = _customers_of(session, License.zuora_account_id == zuora_id, limit)
    if found:
        return found
    found = _versions_customers(
        session,
        select(Subscription.zuora_subscription_id).where(Subscription.zuora_account_id == zuora_id),
        limit,
    )
    if found:
        return found
    found = _customers_of(session, License.license_md5 == zuora_id, limit)
    if found:
        return found
    return _reconciliations_customers(
        session, Reconciliation.zuora_subscription_id == zuora_id, limit
    )
