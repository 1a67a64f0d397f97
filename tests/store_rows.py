"""Store rows written directly, for tests that exercise a query without the importer (which
would run the customer rule): a customer with its name in the name index, as the rule writes
them (bot/store/customers.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from bot.search import company_name
from bot.store.models import Customer, CustomerName


def add_customer(session: Session, key: str, name: str, **columns: Any) -> None:
    """A customer shown and known as `name` (a row of `customer_name`, kind "customer")."""
    folded = company_name(name)
    session.add(
        Customer(
            key=key,
            name=name,
            search_key=folded.search_key,
            folded_name=folded.folded,
            **columns,
        )
    )
    add_name(session, key, name)


def add_name(session: Session, key: str, name: str, kind: str = "customer") -> None:
    """Another name customer `key` is known by (`company`, `account`, `contact`)."""
    folded = company_name(name)
    session.add(
        CustomerName(
            customer_key=key,
            search_key=folded.search_key,
            name=name,
            folded=folded.folded,
            kind=kind,
        )
    )
