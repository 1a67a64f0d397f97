"""Store rows written directly, for tests that exercise a query without the importer (which
would run the customer rule): a customer with its name in the name index, as the rule writes
them (bot/store/customers.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from bot.search import company_name
from bot.search.probes import COMPANY_NAMES, CONTACT_NAMES
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


def assert_name_indexes_in_step(session: Session) -> None:
    """SQLite: each name index (migration 0009) holds exactly the rows of its kind. FTS5's own
    `integrity-check` against the content table cannot say so: each index holds only some of
    the table's rows. A key shorter than a trigram gives the index nothing to hold."""
    if session.get_bind().dialect.name != "sqlite":
        return
    for names in (COMPANY_NAMES, CONTACT_NAMES):
        index = names.sqlite_index
        session.execute(text(f"INSERT INTO {index} ({index}) VALUES ('integrity-check')"))
        vocabulary = f"temp.{index}_instances"
        session.execute(
            text(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {vocabulary}"
                f" USING fts5vocab(main, {index}, instance)"
            )
        )
        indexed = set(session.scalars(text(f"SELECT DISTINCT doc FROM {vocabulary}")))
        expected = set(
            session.scalars(
                text(
                    f"SELECT id FROM customer_name WHERE {names.predicate}"
                    " AND length(search_key) >= 3"
                )
            )
        )
        assert indexed == expected, (index, indexed ^ expected)
