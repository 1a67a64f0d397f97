from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.demo import ZUORA_SUBSCRIPTION_COLUMNS, build_demo_data, load_demo, write_demo_files
from bot.money import minor_unit_exponent
from bot.records import Standing
from bot.store.importing import ImportKind
from bot.store.models import Customer, Host, License, Reconciliation, Subscription
from bot.store.queries import load_customer_licenses, load_customer_reconciliations

TODAY = date(2026, 11, 27)


@pytest.fixture
def demo_store(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    summaries = load_demo(session_factory, TODAY)
    assert [s.kind for s in summaries] == [
        ImportKind.LICENSES,
        ImportKind.SUBSCRIPTIONS,
        ImportKind.RECONCILIATIONS,
        ImportKind.HOSTS,
    ]
    assert all(s.rows > 0 and s.inserted == s.rows and not s.warnings for s in summaries)
    return session_factory


def lead_standings(session: Session) -> Counter[Standing | None]:
    """How each customer's license card would lead today (None: only trials)."""
    counts: Counter[Standing | None] = Counter()
    for key in session.scalars(select(Customer.key)):
        found = load_customer_licenses(session, key, today=TODAY)
        assert found is not None
        lead = found.overview.lead
        counts[lead.standing if lead else None] += 1
    return counts


def test_demo_has_the_promised_customers(demo_store):
    with demo_store() as session:
        keys = session.scalars(select(Customer.key)).all()
        names = set(session.scalars(select(Customer.name)))
        standings = lead_standings(session)

    assert 280 <= len(keys) <= 320
    assert sum(key.startswith("sf:") for key in keys) > 100
    # Customers of a Zuora account with no Salesforce id, or only of trials (by name).
    assert sum(key.startswith(("za:", "name:")) for key in keys) > 60
    assert {
        "Initech, Inc.",
        "Initech Labs",
        "Initek GmbH",
        "Acme Corp",
        "ACME Inc.",
        "Acmé Systems",
    } <= names
    assert any(not name.isascii() for name in names - {"Acmé Systems"})
    # Renewals with a license active today, customers in grace, long expired, trial-only.
    assert standings[Standing.ACTIVE] > 120
    assert standings[Standing.IN_GRACE] >= 5
    assert standings[Standing.EXPIRED] >= 20
    assert standings[None] >= 20


def test_demo_covers_every_plan_type_status_and_currency_shape(demo_store):
    with demo_store() as session:
        plans = set(session.scalars(select(License.plan).distinct()))
        types = set(session.scalars(select(License.license_type).distinct()))
        statuses = set(session.scalars(select(Reconciliation.status).distinct()))
        currencies = set(session.scalars(select(Reconciliation.currency).distinct()))
        trials_per_customer = session.execute(
            select(License.customer_key, func.count())
            .where(License.trial.is_(True))
            .group_by(License.customer_key)
        ).all()
        skip_reasons = session.scalars(
            select(Reconciliation.skip_reason).where(Reconciliation.status == "skipped")
        ).all()
        errors = session.scalars(
            select(Reconciliation.error_message).where(Reconciliation.status == "failed")
        ).all()
        amounts = session.scalars(
            select(Reconciliation.invoiced_amount_minor).where(Reconciliation.status == "processed")
        ).all()
        hosts = session.scalar(select(func.count()).select_from(Host))

    assert {"starter", "premium", "ultimate", "gitlab_com_premium", "gitlab_com_ultimate"} <= plans
    assert {"cloud", "offline_cloud", "legacy"} <= types
    assert statuses == {"pending", "processed", "skipped", "failed"}
    assert {minor_unit_exponent(c) for c in currencies - {None}} == {0, 2, 3}
    assert max(count for _key, count in trials_per_customer) >= 5
    assert all(skip_reasons) and all(errors)
    assert all(amount and amount > 0 for amount in amounts)
    assert hosts > 50


def test_initech_shows_its_salesforce_account_name_from_the_zuora_export(demo_store, tmp_path):
    # The subscriptions file is in the Zuora data source export's own layout.
    path = write_demo_files(tmp_path, TODAY)[ImportKind.SUBSCRIPTIONS]
    assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(ZUORA_SUBSCRIPTION_COLUMNS)
    with demo_store() as session:
        key = session.scalars(
            select(License.customer_key).where(License.company == "Initech").distinct()
        ).one()
        customer = load_customer_licenses(session, key, today=TODAY).customer
        exported = session.scalars(
            select(Customer.key).where(Customer.account_name.is_not(None))
        ).all()
        subscriptions = session.scalar(select(func.count()).select_from(Subscription))

    # CustomersDot says "Initech"; the card shows the account's name, linked to Salesforce.
    assert (customer.name, customer.account_name) == ("Initech, Inc.", "Initech, Inc.")
    assert key == f"sf:{customer.salesforce_account_id}"
    # Some customers, not all: the others show their licenses' company name.
    assert 20 <= len(exported) <= 100 and all(k.startswith("sf:") for k in exported)
    assert subscriptions >= len(exported)


def test_initech_has_an_active_renewal_hosts_and_every_reconciliation_status(demo_store):
    with demo_store() as session:
        key = session.scalars(select(Customer.key).where(Customer.name == "Initech, Inc.")).one()
        licenses = load_customer_licenses(session, key, today=TODAY)
        reconciliations = load_customer_reconciliations(session, key)

    assert key.startswith("sf:")
    lead = licenses.overview.lead
    assert lead is not None and lead.standing is Standing.ACTIVE
    assert lead.license.plan == "premium" and not lead.license.trial
    assert lead.license.previous_user_count is not None  # a renewal
    assert len(licenses.overview.others) >= 3
    assert len(licenses.overview.trials) >= 1
    assert len(licenses.hosts_by_license.get(lead.license.id, ())) == 3
    assert {r.status for r in reconciliations.reconciliations} == {
        "pending",
        "processed",
        "skipped",
        "failed",
    }
    # "Initech, Inc." in Salesforce still lands on Initech through the subscription id.
    assert "Initech, Inc." in {r.customer_name for r in reconciliations.reconciliations}


def test_loading_the_demo_again_the_same_day_changes_nothing(demo_store):
    again = load_demo(demo_store, TODAY)
    assert [(s.inserted, s.updated, s.deleted) for s in again] == [(0, 0, 0)] * 4


def test_demo_files_are_deterministic_per_day(tmp_path):
    first = write_demo_files(tmp_path / "a", TODAY)
    second = write_demo_files(tmp_path / "b", TODAY)
    later = write_demo_files(tmp_path / "c", TODAY + timedelta(days=100))

    assert set(first) == set(ImportKind)
    for kind in first:
        assert first[kind].read_bytes() == second[kind].read_bytes()
    assert first[ImportKind.LICENSES].read_bytes() != later[ImportKind.LICENSES].read_bytes()


@pytest.mark.parametrize("today", [TODAY, date(2030, 2, 28), date(2028, 2, 29)])
def test_demo_is_relative_to_today(today):
    data = build_demo_data(today)
    initech_active = [
        row
        for row in data.licenses
        if row["company"] == "Initech"
        and row["trial"] == "false"
        and date.fromisoformat(row["starts_at"]) <= today <= date.fromisoformat(row["expires_at"])
    ]
    assert len(initech_active) == 1
    ids = [row["id"] for row in data.licenses]
    assert len(ids) == len(set(ids))
    hostnames = [row["hostname"] for row in data.hosts]
    assert len(hostnames) == len(set(hostnames))
    assert {row["license_id"] for row in data.hosts} <= set(ids)
