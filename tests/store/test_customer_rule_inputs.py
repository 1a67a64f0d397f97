"""An import regroups the customers only when it changed what the customer rule reads
(bot/store/customers.py: LICENSE_COLUMNS_READ): a license inserted or deleted, or updated in a
column the rule reads. A daily export whose rows changed only seats, dates, plan or notes leaves
the customers as they are. Both engines, through the importer.

Whether `regroup` ran is read from the store itself: a customer row tampered with directly
stays tampered when it did not run, and is rewritten when it did.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.store import customers as customer_rule
from bot.store.customers import LICENSE_COLUMNS_READ
from bot.store.importing import BATCH_SIZE, ImportKind
from bot.store.importing.kinds import spec_for
from bot.store.models import Customer, License
from tests.helpers.customer_rule import INITECH_SF, Store, paid, trial
from tests.helpers.import_files import leftover_tables, snapshot

TAMPERED = "Tampered By Hand"


@pytest.fixture
def store(session_factory: sessionmaker[Session], tmp_path: Path) -> Store:
    return Store(session_factory, tmp_path)


def tamper_with_customers(store: Store) -> None:
    """Every customer's name overwritten in the store: only a regroup puts them right."""
    with store.factory() as session, session.begin():
        session.execute(update(Customer).values(name=TAMPERED))


def tampered(store: Store) -> set[str]:
    return {key for key, name in store.customers().items() if name == TAMPERED}


# Every row changed, in columns the rule never reads: seats, dates, plan, notes.
NOT_GROUPING = {
    "user_count": 51,
    "previous_user_count": 40,
    "trueup_quantity": 3,
    "starts_at": "2026-02-01",
    "expires_at": "2027-02-01",
    "plan": "ultimate",
    "notes": "renewed",
    "license_type": "offline_cloud",
}


def base_rows(**overrides: Any) -> list[dict[str, Any]]:
    return [
        paid(1, "Initech", salesforce_account_id=INITECH_SF, zuora_subscription_name="A-S1"),
        dict(trial(2, "Initech"), **overrides),
        paid(3, "Globex Corp", zuora_subscription_name="A-S3"),
    ]


# --- The declared columns are the ones the rule's SQL reads --------------------------------

_ALL_STEP_SQL = [
    sql
    for _, sql, _ in (
        *customer_rule._GROUPING_STEPS,
        *customer_rule._NAME_STEPS,
        *customer_rule._RECONCILIATION_STEPS,
    )
]
_WORD = re.compile(r"\b[a-z_]+\b")


def license_columns_read(sql: str) -> set[str]:
    """The license columns a statement reads: `license.<column>`, and the unqualified columns
    of a `SELECT ... FROM license ...` (up to its UNION, or the parenthesis closing it)."""
    license_columns = set(License.__table__.c.keys())
    assert not re.search(r"\blicense\.\*|SELECT \* FROM license\b", sql), sql
    read = set(re.findall(r"\blicense\.([a-z_]+)", sql))
    for select_list, rest in re.findall(
        r"SELECT ((?:(?!SELECT).)*?) FROM license\b((?:(?!\bUNION\b|\)).)*)", sql
    ):
        read |= {word for word in _WORD.findall(select_list + rest) if word in license_columns}
    return read & license_columns


def test_the_declared_columns_are_every_license_column_the_rule_reads() -> None:
    read = set().union(*(license_columns_read(sql) for sql in _ALL_STEP_SQL))
    # `id` is the key; `customer_key` is the rule's own output (the importer writes it only
    # with a new row, which regroups anyway).
    missing = read - set(LICENSE_COLUMNS_READ) - {"id", "customer_key"}
    assert not missing, f"the customer rule reads {sorted(missing)}: add to LICENSE_COLUMNS_READ"
    # And the parser sees the reads it must: both forms, in both kinds of step.
    assert {"company", "trial", "issued_at", "contact_email_domain"} <= read
    assert {"contact_name", "contact_search_key", "company_search_key"} <= license_columns_read(
        customer_rule._NAME_STEPS[0][1]
    )
    # Every declared column is one an update compares (an import can change it), and one the
    # rule really reads (no dead entries hiding a missing one).
    assert set(LICENSE_COLUMNS_READ) <= set(spec_for(ImportKind.LICENSES).updated_columns)
    assert set(LICENSE_COLUMNS_READ) <= read


def test_the_guard_finds_unqualified_columns_of_a_license_select() -> None:
    sql = "SELECT a.x FROM (SELECT plan, customer_key FROM license WHERE notes IS NULL) AS a"
    assert license_columns_read(sql) == {"plan", "customer_key", "notes"}
    assert license_columns_read("SELECT license.user_count FROM license JOIN t ON t.id = 1") >= {
        "user_count"
    }


# --- Which updates regroup -----------------------------------------------------------------


def test_an_update_of_seats_and_dates_only_does_not_regroup(store: Store) -> None:
    store.licenses(*base_rows())
    tamper_with_customers(store)
    summary = store.licenses(*(dict(row, **NOT_GROUPING) for row in base_rows()))
    assert (summary.inserted, summary.updated, summary.deleted) == (0, 3, 0)
    assert not summary.regrouped
    assert summary.describe().endswith(
        "; customers: unchanged (nothing they are grouped by changed)"
    )
    assert tampered(store) == set(store.customers())
    with store.factory() as session:
        assert set(session.scalars(select(License.user_count))) == {51}


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("company", "Globex Corp"),
        ("salesforce_account_id", INITECH_SF),
        ("zuora_subscription_name", "A-S3"),
        ("zuora_subscription_id", "2c92a0fe7a3f1d2b017a4e5c6d7e0003"),
        ("zuora_account_id", "2c92a0fe7a3f1d2b017a4e5c6d7eacc1"),
        ("trial", "false"),
        ("issued_at", "2026-03-01T10:00:00Z"),
        ("contact_email", "jane@globex.example"),
        # A contact's name is a name the customer is known by (the name index).
        ("contact_name", "John Roe"),
    ],
)
def test_an_update_of_a_column_the_rule_reads_regroups(
    store: Store, column: str, value: str
) -> None:
    store.licenses(*base_rows())
    initech, globex = store.customer_of(1), store.customer_of(3)
    assert store.customer_of(2) == initech
    expected = store.customers()
    tamper_with_customers(store)
    # First seats and dates only: no regroup (so the regroup below is the change's doing).
    store.licenses(*(dict(row, **NOT_GROUPING) for row in base_rows()))
    assert tampered(store) == set(expected)

    summary = store.licenses(*(dict(row, **NOT_GROUPING) for row in base_rows(**{column: value})))
    assert (summary.updated, summary.regrouped) == (1, True)
    assert not tampered(store)
    if column == "company":
        # Initech's trial, now typed as Globex Corp, moves to Globex's customer.
        assert store.customer_of(2) == globex
        assert store.customers() == expected
    elif column in ("salesforce_account_id", "zuora_subscription_name"):
        assert store.customer_of(2) == (initech if column == "salesforce_account_id" else globex)
        assert store.customers() == expected


def test_a_first_grouping_change_in_a_late_batch_is_noticed(store: Store) -> None:
    count = BATCH_SIZE + 10
    rows = [paid(n, f"Company {n % 50}") for n in range(1, count + 1)]
    store.licenses(*rows)
    tamper_with_customers(store)
    changed = [dict(row, user_count=7) for row in rows]
    summary = store.licenses(*changed)
    assert (summary.updated, summary.regrouped) == (count, False)

    # Every row's seats change again; only the last row's company does, in the second batch.
    changed = [dict(row, user_count=8) for row in rows]
    changed[-1] = dict(changed[-1], company="Late Newcomer Ltd")
    summary = store.licenses(*changed)
    assert (summary.updated, summary.regrouped) == (count, True)
    assert store.customer_of(count) == "name:late newcomer ltd"
    assert store.customers()["name:late newcomer ltd"] == "Late Newcomer Ltd"
    assert not tampered(store)


def test_an_insert_or_a_deletion_regroups(store: Store) -> None:
    store.licenses(*base_rows())
    tamper_with_customers(store)
    assert store.licenses(*base_rows(), paid(4, "Hooli")).regrouped
    assert not tampered(store)
    tamper_with_customers(store)
    summary = store.licenses(*base_rows(), full=True, allow_mass_delete=True)
    assert (summary.deleted, summary.regrouped) == (1, True)
    assert not tampered(store) and "name:hooli" not in store.customers()


def test_a_failed_import_rolls_back_everything_and_the_next_one_is_judged_afresh(
    store: Store, engine: Engine
) -> None:
    count = BATCH_SIZE + 10
    rows = [paid(n, f"Company {n % 50}") for n in range(1, count + 1)]
    store.licenses(*rows)
    tamper_with_customers(store)
    before = snapshot(store.factory)
    # A grouping change in the first batch (noticed, so no later batch is compared), then a
    # bad value in the second.
    failing = [dict(row, user_count=9) for row in rows]
    failing[0] = dict(failing[0], company="Renamed Co")
    failing[1] = dict(failing[1], company="Renamed Co")
    failing[-1] = dict(failing[-1], user_count="many")
    with pytest.raises(Exception, match="user_count 'many'"):
        store.licenses(*failing)
    assert snapshot(store.factory) == before
    assert leftover_tables(engine) == []

    # The next import on the same pooled connection: seats only, so no regroup...
    summary = store.licenses(*(dict(row, user_count=9) for row in rows))
    assert (summary.updated, summary.regrouped) == (count, False)
    assert tampered(store) == set(store.customers())
    # ...and a grouping change is noticed again.
    renamed = [dict(row, user_count=9) for row in rows]
    renamed[0] = dict(renamed[0], company="Renamed Co")
    renamed[1] = dict(renamed[1], company="Renamed Co")
    assert store.licenses(*renamed).regrouped
    assert store.customer_of(1) == store.customer_of(2) == "name:renamed co"
    assert leftover_tables(engine) == []


def test_a_subscriptions_import_that_changed_a_row_still_regroups(store: Store) -> None:
    store.licenses(paid(1, "Initech", zuora_subscription_name="A-S1"))
    store.subscriptions(("A-S1", "2c92a0fe00000001", 1, "ZA1", "Initech Inc.", "N1", ""))
    tamper_with_customers(store)
    summary = store.subscriptions(("A-S1", "2c92a0fe00000001", 1, "ZA1", "Initech Inc.", "N2", ""))
    assert (summary.updated, summary.regrouped) == (1, True)
    assert not tampered(store)
