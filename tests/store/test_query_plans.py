"""Every statement a lookup runs is served by an index, on both engines (asserted from plans).

The statements are captured as the real lookup runs them, then explained: SQLite's
`EXPLAIN QUERY PLAN` must not SCAN a store table, and PostgreSQL's plan must have no Seq Scan on
one. The test tables are tiny, where PostgreSQL's planner rightly prefers a sequential scan, so
`enable_seqscan` is turned off: a plan that still scans has no index able to serve it.
"""

from __future__ import annotations

import json
import re
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, delete

from bot.search import find_customers
from bot.store.models import SearchWord
from bot.store.queries import load_customer_licenses, load_customer_reconciliations
from tests.helpers.customer_now_dataset import (
    ULTIMATE_V1,
    WAYNE_ACCOUNT_ID,
    WAYNE_ACCOUNT_NUMBER,
    WAYNE_KEY,
    WAYNE_SALESFORCE_ID,
    YAMATO_ACCOUNT_ID,
    load_exports,
)
from tests.helpers.e2e_dataset import load_dataset
from tests.helpers.sql_capture import captured_executions

TODAY = date(2026, 11, 27)
STORE_TABLES = {
    "customer",
    "customer_name",
    "name_bigram",
    "public_email_domain",
    "license",
    "reconciliation",
    "host",
    "search_word",
    "subscription",
}
QUERIES = [
    "initech",  # exact name
    "initek",  # typo
    "in",  # short prefix
    "umbrel",  # prefix of two
    "brella",  # inside names: the substring probe
    "umbrella pharmaceuticls",  # a typo in one word: the all-but-one-word probe
    "umbrela pharmaceuticls",  # typos in both words: corrected by the name vocabulary
    "pharmacuticals umbrela",  # corrected, then every corrected word (no key starts so)
    "pharmacuticals",  # corrected, then a word starting with it
    "bill.lumbergh@initech.example",
    "@initech.example",
    "A-S00090001",
    "9001",
    "gitlab.initech.example",
    # Every name and id a customer is known by (issue 17).
    "lumbergh",  # a contact's name
    "8a8aa0b1c2d3e4f5a6b7c8d9e0f1a2b3",  # a Zuora subscription id on a license
    WAYNE_SALESFORCE_ID,  # a Salesforce account id, known from the subscriptions export
    ULTIMATE_V1,  # a subscription version's id no license carries
    WAYNE_ACCOUNT_ID,  # a Zuora account's id
    WAYNE_ACCOUNT_NUMBER,  # its account number
    "技研",  # a CJK substring: character pairs
    "ヤマト技研",
]


def captured_selects(engine: Engine) -> AbstractContextManager[list[tuple[str, Any]]]:
    return captured_executions(
        engine, lambda statement: statement.lstrip().upper().startswith(("SELECT", "WITH"))
    )


def full_scans(engine: Engine, statement: str, parameters: Any) -> list[str]:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            details = [row[-1] for row in rows]
            return [
                d
                for d in details
                if re.match(r"SCAN (\w+)", d)
                and re.match(r"SCAN (\w+)", d).group(1) in STORE_TABLES
                and "USING" not in d  # "SCAN t USING INDEX" walks an index in order
            ]
        connection.exec_driver_sql("SET enable_seqscan = off")
        [plan_json] = connection.exec_driver_sql(
            f"EXPLAIN (FORMAT JSON) {statement}", parameters
        ).one()
        plan = plan_json if isinstance(plan_json, list) else json.loads(plan_json)
        scans: list[str] = []

        def walk(node: dict[str, Any]) -> None:
            if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") in STORE_TABLES:
                scans.append(f"Seq Scan on {node['Relation Name']}")
            for child in node.get("Plans", []):
                walk(child)

        walk(plan[0]["Plan"])
        return scans


@pytest.fixture
def loaded(session_factory, tmp_path):
    load_dataset(session_factory, tmp_path, datetime.now(UTC).date())
    # The shapes of every name and id a customer is known by (subscriptions export, CJK names).
    load_exports(session_factory, tmp_path, datetime.now(UTC).date())
    return session_factory


@pytest.mark.parametrize("query", QUERIES)
def test_search_statements_use_indexes(engine, loaded, query):
    with captured_selects(engine) as statements, loaded() as session:
        result = find_customers(session, query, today=TODAY)
    assert result.choices, f"{query!r} should find a customer in the dataset"
    assert statements
    for statement, parameters in statements:
        assert full_scans(engine, statement, parameters) == [], statement


@pytest.mark.parametrize("query", ["initek", "umbrela pharmaceuticls"])
def test_fuzzy_fallback_statements_use_indexes(engine, loaded, query):
    # Without the words in the vocabulary (a stale one), typos reach the fuzzy probe.
    with loaded() as session:
        session.execute(delete(SearchWord))
        session.commit()
    with captured_selects(engine) as statements, loaded() as session:
        result = find_customers(session, query, today=TODAY)
    assert result.choices, f"{query!r} should find a customer in the dataset"
    ranked_names = [
        s
        for s, _ in statements
        if ("ORDER BY rank" in s or "similarity(" in s) and "search_word" not in s
    ]
    assert ranked_names
    for statement, parameters in statements:
        assert full_scans(engine, statement, parameters) == [], statement


def test_card_statements_use_indexes(engine, loaded):
    today = datetime.now(UTC).date()
    with captured_selects(engine) as statements, loaded() as session:
        assert load_customer_licenses(session, "sf:0016100000INITEC", today=today)
        assert load_customer_reconciliations(session, "sf:0016100000INITEC")
        # Two subscriptions, servers by MD5.
        assert load_customer_licenses(session, WAYNE_KEY, today=today)
        # A license sent to its domain filed elsewhere: the same-domain read runs too.
        yamato = load_customer_licenses(session, f"za:{YAMATO_ACCOUNT_ID}", today=today)
        assert yamato is not None and yamato.same_domain
    for statement, parameters in statements:
        assert full_scans(engine, statement, parameters) == [], statement


@pytest.mark.parametrize(
    "old_key",
    [
        "name:initech inc",
        "sf:0016100000INITE",
        "za:ZA-INITECH",
        "sub:A-S00090001",
        "sub:none",
        "domain:initech.example",
    ],
)
def test_old_customer_keys_are_followed_through_indexes(engine, loaded, old_key):
    # A button or App Home entry made before an import regrouped the customers (issue 12).
    today = datetime.now(UTC).date()
    with captured_selects(engine) as statements, loaded() as session:
        load_customer_licenses(session, old_key, today=today)
    assert len(statements) >= 2  # the missing key, then the statement that follows it
    for statement, parameters in statements:
        assert full_scans(engine, statement, parameters) == [], statement


def test_a_subscription_known_only_from_exports_is_found_through_indexes(engine, loaded):
    # No license names it: its versions' ids (subscriptions export), then its reconciliations.
    with captured_selects(engine) as statements, loaded() as session:
        result = find_customers(session, "A-S00090009", today=TODAY)
    assert result.choices  # reconciled for Initech, by its name
    assert len(statements) == 5  # names, versions, reconciliations; then the pick list
    for statement, parameters in statements:
        assert full_scans(engine, statement, parameters) == [], statement
