"""A store built from export files as an operator loads them, read back as the card and the
search read it: the customer rule's tests (tests/store/test_customer_rule.py and its neighbours)."""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.search import find_customers
from bot.store.importing import ImportKind, import_columns, import_file
from bot.store.models import Customer, License
from bot.store.queries import load_customer_licenses
from tests.helpers.import_files import (
    NOW,
    RECONCILIATION_COLUMNS,
    UNSUBSCRIBED,
    license_row,
    write_csv,
)

TODAY = date(2026, 11, 27)
INITECH_SF = "0016100001AbCdEAAV"
# The Zuora data source export's own header (the importer's aliases).
ZUORA_SUBSCRIPTION_HEADER = [
    "Subscription.Name",
    "Subscription.Id",
    "Subscription.Version",
    "Account.Id",
    "Account.Name",
    "Account.AccountNumber",
    "Account.CrmId",
]
LICENSE_COLUMNS = list(import_columns(ImportKind.LICENSES))


def paid(license_id: int, company: str, **overrides: Any) -> dict[str, Any]:
    """A paid license with no ids unless given (a subscription name gives it a subscription)."""
    return license_row(license_id, company=company, **{**UNSUBSCRIBED, **overrides})


def trial(license_id: int, company: str, **overrides: Any) -> dict[str, Any]:
    """A self-requested trial: no Salesforce account, no Zuora account, no subscription."""
    return paid(license_id, company, trial="true", plan="ultimate", **overrides)


class Store:
    def __init__(self, factory: sessionmaker[Session], directory: Path) -> None:
        self.factory = factory
        self.directory = directory
        self.files = itertools.count(1)

    def licenses(self, *rows: dict[str, Any], **kwargs: Any) -> Any:
        path = write_csv(self.directory / f"licenses-{next(self.files)}.csv", rows, LICENSE_COLUMNS)
        return import_file(self.factory, ImportKind.LICENSES, path, now=NOW, **kwargs)

    def subscriptions(self, *rows: tuple[Any, ...]) -> Any:
        path = self.directory / f"subscriptions-{next(self.files)}.csv"
        lines = [",".join(ZUORA_SUBSCRIPTION_HEADER)]
        lines += [",".join("" if cell is None else str(cell) for cell in row) for row in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return import_file(self.factory, ImportKind.SUBSCRIPTIONS, path, now=NOW)

    def reconciliations(self, *rows: dict[str, Any]) -> Any:
        path = write_csv(
            self.directory / f"recon-{next(self.files)}.csv", rows, RECONCILIATION_COLUMNS
        )
        return import_file(self.factory, ImportKind.RECONCILIATIONS, path, now=NOW)

    def customer_of(self, license_id: int) -> str:
        with self.factory() as session:
            key = session.scalar(select(License.customer_key).where(License.id == license_id))
        assert key is not None
        return key

    def grouping(self) -> dict[int, str]:
        with self.factory() as session:
            return dict(session.execute(select(License.id, License.customer_key)).all())

    def customers(self) -> dict[str, str]:
        with self.factory() as session:
            return dict(session.execute(select(Customer.key, Customer.name)).all())

    def card(self, key: str) -> Any:
        with self.factory() as session:
            return load_customer_licenses(session, key, today=TODAY)

    def search(self, query: str) -> Any:
        with self.factory() as session:
            return find_customers(session, query, today=TODAY)
