"""The customer rule (issue 12; bot/store/customers.py), through the importer, on both engines.

Each case is a store built from export files as an operator would load them; the customers are
read back as the card and the search read them.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.salesforce_ids import salesforce_id_18
from bot.search import company_name, find_customer_in_text
from bot.store.db import create_store_engine, make_session_factory
from bot.store.models import (
    Customer,
    CustomerName,
    License,
    Reconciliation,
    SearchWord,
    Subscription,
)
from bot.store.queries import (
    current_customer_key,
    load_customer_reconciliations,
)
from tests.helpers.customer_rule import (
    INITECH_SF,
    TODAY,
    Store,
    paid,
    trial,
)
from tests.helpers.import_files import (
    reconciliation_row,
)
from tests.helpers.sql_capture import captured_statements


@pytest.fixture
def store(session_factory: sessionmaker[Session], tmp_path: Path) -> Store:
    return Store(session_factory, tmp_path)


# --- The cases of issue 12 ----------------------------------------------------------------


def test_the_initech_trial_is_on_initechs_card_and_counted(store: Store) -> None:
    store.licenses(
        paid(1, "Initech", salesforce_account_id=INITECH_SF, zuora_subscription_name="A-S00000001"),
        paid(2, "Initech", salesforce_account_id=INITECH_SF, zuora_subscription_name="A-S00000002"),
        trial(3, "Initech", issued_at="2024-02-01T00:00:00Z"),
    )
    assert store.customers() == {f"sf:{INITECH_SF}": "Initech"}
    card = store.card(f"sf:{INITECH_SF}")
    assert [ranked.license.id for ranked in card.overview.trials] == [3]
    result = store.search("Initech")
    assert result.resolved_key == f"sf:{INITECH_SF}"


def test_an_initrode_trial_joins_initrode_inc(store: Store) -> None:
    # A 15-character Salesforce id is the same account as its 18-character form.
    store.licenses(
        paid(1, "Initrode Inc.", salesforce_account_id="0016100001XyZaB"),
        paid(2, "Initrode, Inc.", salesforce_account_id=salesforce_id_18("0016100001XyZaB")),
        trial(3, "Initrode"),
        trial(4, "Initrode LLC"),  # a legal form of its own: a different company
    )
    key = f"sf:{salesforce_id_18('0016100001XyZaB')}"
    assert [store.customer_of(n) for n in (1, 2, 3)] == [key] * 3
    assert store.customer_of(4) == "name:initrode llc"


def test_acme_corp_acme_holdings_and_acme_gmbh_are_three_customers(store: Store) -> None:
    store.licenses(
        paid(1, "Acme Corp", zuora_subscription_name="A-S00081001"),
        paid(2, "Acme Holdings", zuora_subscription_name="A-S00081002"),
        paid(3, "ACME GmbH", zuora_subscription_name="A-S00081003", plan="ultimate"),
        trial(4, "ACME Corporation"),  # joins Acme Corp: the same legal form
    )
    assert len(set(store.grouping().values())) == 3
    assert store.customer_of(4) == store.customer_of(1)
    card = store.card(store.customer_of(1))
    assert {ranked.license.id for ranked in card.overview.others} == set()
    result = store.search("Acme")
    assert result.resolved is None
    assert {choice.name for choice in result.choices} == {"Acme Corp", "Acme Holdings", "ACME GmbH"}


def test_a_kramerica_trial_joins_the_paid_kramerica_corporation(store: Store) -> None:
    store.licenses(
        trial(1, "Kramerica Corp"),
        trial(2, "Kramerica Corp."),
        paid(3, "KRAMERICA CORPORATION", zuora_subscription_name="A-S00000077"),
    )
    assert set(store.grouping().values()) == {"sub:A-S00000077"}


def test_two_vandelay_industries_under_two_salesforce_accounts_are_two(store: Store) -> None:
    store.licenses(
        paid(1, "Vandelay Industries", salesforce_account_id="0016100001VanAAA"),
        paid(2, "Vandelay Industries", salesforce_account_id="0016100001VanBBB"),
        trial(3, "Vandelay Industries"),  # both qualify: it joins neither
    )
    grouping = store.grouping()
    assert len({grouping[1], grouping[2], grouping[3]}) == 3
    assert grouping[3] == "name:vandelay industries"
    result = store.search("Vandelay Industries")
    assert len(result.choices) == 3


def test_a_subscription_export_row_merges_two_customers(store: Store) -> None:
    store.licenses(
        paid(1, "Globex", zuora_subscription_name="A-S00000101"),
        paid(2, "Globex International", zuora_subscription_name="A-S00000102"),
    )
    assert store.customer_of(1) != store.customer_of(2)
    summary = store.subscriptions(
        ("A-S00000101", "1" * 32, 1, "Z-GLOBEX", "Globex Corporation", "A0001", "0016100001GlbXy"),
        ("A-S00000102", "2" * 32, 3, "Z-GLOBEX", "Globex Corporation", "A0001", "0016100001GlbXy"),
    )
    sf = salesforce_id_18("0016100001GlbXy")
    assert store.customer_of(1) == store.customer_of(2) == f"sf:{sf}"
    # Shown with the account's name, and found by it.
    assert store.customers() == {f"sf:{sf}": "Globex Corporation"}
    assert (summary.customers_written, summary.customers_deleted) == (1, 2)
    assert store.card(f"sf:{sf}").customer.account_name == "Globex Corporation"
    assert store.search("Globex Corporation").resolved_key == f"sf:{sf}"


def test_the_export_wins_over_the_ids_on_a_license_row(store: Store) -> None:
    store.licenses(
        paid(1, "Hooli", zuora_account_id="Z-OLD", zuora_subscription_id="3" * 32),
        paid(2, "Hooli XYZ", zuora_account_id="Z-NEW"),
    )
    assert store.customer_of(1) == "za:Z-OLD"
    # The license names its subscription only by a version's Zuora id; the newest version's
    # account is the subscription's.
    store.subscriptions(
        ("A-S00000200", "3" * 32, 1, "Z-OLD", "Hooli", "", ""),
        ("A-S00000200", "4" * 32, 2, "Z-NEW", "Hooli XYZ", "", ""),
    )
    assert store.customer_of(1) == store.customer_of(2) == "za:Z-NEW"


def test_a_paid_license_takes_in_the_trials_and_old_keys_follow(store: Store) -> None:
    store.licenses(trial(1, "Pied Piper Inc"), trial(2, "Pied Piper, Inc."))
    assert set(store.grouping().values()) == {"name:pied piper inc"}
    store.licenses(paid(3, "Pied Piper Inc.", salesforce_account_id="0016100001PiedP"))
    key = f"sf:{salesforce_id_18('0016100001PiedP')}"
    assert set(store.grouping().values()) == {key}
    assert store.customers() == {key: "Pied Piper Inc."}
    # A button or App Home entry made before still answers: the customer it became.
    card = store.card("name:pied piper inc")
    assert card is not None and card.customer.key == key
    assert len(card.overview.trials) == 2
    # So does a 15-character Salesforce key made before ids were converted.
    assert store.card("sf:0016100001PiedP").customer.key == key


def test_a_trial_whose_match_becomes_ambiguous_leaves(store: Store) -> None:
    store.licenses(
        paid(1, "Bluth Company", salesforce_account_id="0016100001BluthA"),
        trial(2, "Bluth Co."),
    )
    assert store.customer_of(2) == store.customer_of(1)
    store.licenses(paid(3, "Bluth Company", salesforce_account_id="0016100001BluthB"))
    assert store.customer_of(2) == "name:bluth co"
    # An old key that names several customers now: the card says to search again.
    assert store.card("name:bluth") is None


def test_different_salesforce_accounts_split_a_shared_subscription(store: Store) -> None:
    store.licenses(
        paid(1, "Wayne", salesforce_account_id="0016100001WayneA", zuora_subscription_name="A-S1"),
        paid(2, "Wayne", salesforce_account_id="0016100001WayneB", zuora_subscription_name="A-S1"),
        paid(3, "Wayne", zuora_subscription_name="A-S1"),  # its subscription's accounts disagree
        paid(4, "Stark", zuora_account_id="Z-STARK", zuora_subscription_name="A-S2"),
        paid(5, "Stark Industries", zuora_subscription_name="A-S2"),  # joins its subscription's
    )
    grouping = store.grouping()
    assert len({grouping[1], grouping[2], grouping[3]}) == 3
    assert grouping[3] == "sub:A-S1"
    assert grouping[4] == grouping[5] == "za:Z-STARK"


def test_reconciliations_belong_to_their_subscriptions_customer_else_its_folded_name(
    store: Store,
) -> None:
    store.licenses(
        paid(
            1, "ACME Corp", salesforce_account_id="0016100001AcmeX", zuora_subscription_id="a" * 32
        ),
        paid(2, "Globex", salesforce_account_id="0016100001GlobX", zuora_subscription_id="b" * 32),
        paid(3, "Acme Inc", zuora_subscription_name="A-S00000300"),
    )
    acme = f"sf:{salesforce_id_18('0016100001AcmeX')}"
    globex = f"sf:{salesforce_id_18('0016100001GlobX')}"
    sub = {"subscription_name": "", "zuora_subscription_id": ""}
    store.reconciliations(
        # Acme's by subscription id, whatever name Salesforce gave it.
        reconciliation_row(
            10, customer="Acme Holdings", **{**sub, "zuora_subscription_id": "a" * 32}
        ),
        # By folded name: no license has its subscription.
        reconciliation_row(
            11, customer="Acme Corporation", **{**sub, "zuora_subscription_id": "c" * 32}
        ),
        # Named like Acme but its subscription is Globex's.
        reconciliation_row(12, customer="Acme Corp", **{**sub, "zuora_subscription_id": "b" * 32}),
        # By subscription name.
        reconciliation_row(13, customer="Someone", **{**sub, "subscription_name": "A-S00000300"}),
        # `Acme` names no customer exactly, and two without their legal forms: nobody's.
        reconciliation_row(14, customer="Acme", **sub),
    )
    with store.factory() as session:
        owners = dict(session.execute(select(Reconciliation.id, Reconciliation.customer_key)).all())
        assert [r.id for r in load_customer_reconciliations(session, acme).reconciliations] == [
            11,
            10,
        ]
    assert owners == {10: acme, 11: acme, 12: globex, 13: "sub:A-S00000300", 14: None}


# --- By email (issue 17: rule 4) -------------------------------------------------------------


def _at(domain: str, local: str = "someone") -> dict[str, str]:
    return {"contact_email": f"{local}@{domain}"}


def test_a_prospects_spellings_at_one_company_domain_are_one_customer(store: Store) -> None:
    store.licenses(
        trial(1, "Pied Piper", **_at("piedpiper.com", "richard")),
        trial(2, "Pied Piper, Inc.", **_at("piedpiper.com", "jared")),
        trial(3, "piedpiper", **_at("piedpiper.com", "dinesh")),
        # The same name typed from a personal address: its folded name's group has the domain.
        trial(4, "Pied Piper", **_at("gmail.com", "richard.hendricks")),
    )
    key = "name:piedpiper@piedpiper.com"
    assert set(store.grouping().values()) == {key}
    assert store.customers() == {key: "Pied Piper, Inc."}  # shown by its fullest spelling
    # A key made before still finds it.
    assert store.card("name:pied piper").customer.key == key


def test_spellings_at_two_company_domains_stay_apart(store: Store) -> None:
    store.licenses(
        trial(1, "Pied Piper", **_at("piedpiper.com")),
        trial(2, "PiedPiper", **_at("piedpiper.io")),
    )
    assert store.grouping() == {1: "name:pied piper", 2: "name:piedpiper"}


def test_spellings_at_a_public_mail_domain_are_never_merged(store: Store) -> None:
    store.licenses(
        trial(1, "Pied Piper", **_at("gmail.com", "a")),
        trial(2, "Pied Piper, Inc.", **_at("gmail.com", "b")),
    )
    assert store.grouping() == {1: "name:pied piper", 2: "name:pied piper inc"}


def test_a_trial_from_a_customers_domain_joins_it_when_its_name_is_the_domains(
    store: Store,
) -> None:
    yamato = "za:Z-YAMATO"
    store.licenses(
        paid(1, "株式会社ヤマト技研", zuora_account_id="Z-YAMATO", **_at("yamato-giken.co.jp")),
        # Romaji, without the legal form: the domain's own label is its name.
        trial(2, "Yamato Giken", **_at("yamato-giken.co.jp", "kenji")),
        # Another name from the same domain (a consultancy's trial for its client): not merged.
        trial(3, "Yamato Consulting", **_at("yamato-giken.co.jp", "sato")),
    )
    assert store.grouping() == {1: yamato, 2: yamato, 3: "name:yamato consulting"}
    card = store.card(yamato)
    assert [r.license.id for r in card.overview.trials] == [2]
    assert [(found.license_id, found.domain) for found in card.same_domain] == [
        (3, "yamato-giken.co.jp")
    ]


def test_licenses_sent_to_each_of_a_customers_domains_are_shown(store: Store) -> None:
    # Two company domains: the statement binds each domain on its own (one per count of them).
    store.licenses(
        paid(1, "Hooli", zuora_account_id="Z-HOOLI", **_at("hooli.example")),
        paid(2, "Hooli", zuora_account_id="Z-HOOLI", **_at("hooli-labs.example")),
        trial(3, "Nucleus", **_at("hooli.example", "gavin")),
        trial(4, "Endframe", **_at("hooli-labs.example", "bighead")),
    )
    card = store.card("za:Z-HOOLI")
    assert {(found.license_id, found.domain) for found in card.same_domain} == {
        (3, "hooli.example"),
        (4, "hooli-labs.example"),
    }


def test_a_trial_joins_by_the_customers_own_name_at_its_domain(store: Store) -> None:
    # The label says nothing (a short domain), but the name is the customer's without spaces.
    store.licenses(
        paid(1, "Hooli XYZ", zuora_account_id="Z-HOOLI", **_at("hx.example")),
        trial(2, "HooliXYZ", **_at("hx.example")),
    )
    assert store.grouping() == {1: "za:Z-HOOLI", 2: "za:Z-HOOLI"}


def test_a_domain_several_customers_licenses_went_to_joins_none(store: Store) -> None:
    # A reseller requesting licenses for its clients at its own domain.
    store.licenses(
        paid(1, "Initech", zuora_account_id="Z-1", **_at("reseller.example")),
        paid(2, "Globex", zuora_account_id="Z-2", **_at("reseller.example")),
        trial(3, "Reseller", **_at("reseller.example")),
        trial(4, "Initech Labs", **_at("reseller.example")),
        # Two spellings at it: no company's domain, so no evidence they are one (rule 4b).
        trial(5, "Re Seller", **_at("reseller.example", "b")),
    )
    grouping = store.grouping()
    assert (grouping[3], grouping[4]) == ("name:reseller", "name:initech labs")
    assert grouping[5] == "name:re seller"
    assert store.card("za:Z-1").same_domain == ()  # not said of a shared domain either


def test_a_public_mail_domain_never_joins_a_customer(store: Store) -> None:
    store.licenses(
        paid(1, "Gmail Fan Club", zuora_account_id="Z-FANS", **_at("gmail.com")),
        trial(2, "Gmail", **_at("gmail.com")),  # its name is the domain's label
    )
    assert store.grouping()[2] == "name:gmail"
    # Nor is it said on the card, whose same-domain read never runs for a public domain (it
    # would read every license sent there).
    engine = store.factory.kw["bind"]
    with captured_statements(engine, lambda sql: "other" in sql) as same_domain_reads:
        assert store.card("za:Z-FANS").same_domain == ()
    assert same_domain_reads == []


def test_licenses_without_a_company_at_a_public_domain_are_each_their_own(store: Store) -> None:
    store.licenses(
        paid(1, "", contact_name="Jane Roe", **_at("gmail.com", "jane.roe")),
        paid(2, "", contact_name="", **_at("gmail.com", "john")),
        paid(3, "", **_at("initech.example")),
        paid(4, "", **_at("initech.example", "other")),
    )
    assert store.grouping() == {
        1: "license:1",
        2: "license:2",
        3: "domain:initech.example",
        4: "domain:initech.example",
    }
    # Named after their contact, else the license: never after the mail provider.
    assert store.customers() == {
        "license:1": "Jane Roe",
        "license:2": "License #2",
        "domain:initech.example": "initech.example",
    }
    assert store.card("license:1").customer.name == "Jane Roe"
    # Shown by a person's name, which is indexed as one: a deal thread naming her proposes no
    # customer, and a company's name comes first in a search.
    with store.factory() as session:
        kinds = set(
            session.execute(
                select(CustomerName.customer_key, CustomerName.name, CustomerName.kind).where(
                    CustomerName.customer_key.in_(["license:1", "domain:initech.example"])
                )
            ).all()
        )
        assert ("license:1", "Jane Roe", "contact") in kinds
        assert ("domain:initech.example", "initech.example", "customer") in kinds
        assert not {kind for key, _, kind in kinds if key == "license:1"} - {"contact"}
        assert find_customer_in_text(session, "Call Jane Roe about it", today=TODAY) is None
    assert store.search("Jane Roe").resolved_key == "license:1"


def test_an_operators_own_public_domains_regroup_at_the_next_import(store: Store) -> None:
    rows = [paid(1, "", **_at("bigmail.example")), paid(2, "", **_at("bigmail.example", "b"))]
    store.licenses(*rows)
    assert set(store.grouping().values()) == {"domain:bigmail.example"}
    # The same file again, with bigmail.example declared public (PUBLIC_EMAIL_DOMAINS).
    summary = store.licenses(*rows, public_email_domains=["BigMail.example"])
    assert summary.regrouped
    assert store.grouping() == {1: "license:1", 2: "license:2"}


def test_japanese_legal_forms_fold_like_inc_and_gmbh() -> None:
    for written in (
        "株式会社ヤマト技研",
        "ヤマト技研株式会社",
        "(株)ヤマト技研",
        "㈱ヤマト技研",
        "ヤマト技研（株）",
    ):
        assert company_name(written).folded == "ヤマト技研 kk", written
        assert company_name(written).search_key == "ヤマト技研"
    assert company_name("Yamato Giken K.K.").folded == "yamato giken kk"
    assert company_name("有限会社山田商店").folded == "山田商店 yk"
    assert company_name("合同会社ヤマト").folded == "ヤマト gk"
    # Not a legal form inside a name.
    assert company_name("株式市場データ").folded == "株式市場データ"


def test_a_reimport_writes_nothing_and_keeps_the_vocabulary(store: Store) -> None:
    rows = [
        paid(1, "Initech", salesforce_account_id=INITECH_SF, zuora_subscription_name="A-S1"),
        trial(2, "Initech"),
    ]
    store.licenses(*rows)
    again = store.licenses(*rows)
    assert (again.updated, again.customers_written, again.customers_deleted) == (0, 0, 0)
    with store.factory() as session:
        # The names it is known by: its company and its contact (Jane Doe).
        assert set(session.scalars(select(SearchWord.word))) == {"initech", "jane", "doe"}


def test_salesforce_ids_are_converted_and_their_case_is_kept() -> None:
    assert salesforce_id_18("0016100001AbCdE") == "0016100001AbCdEAAV"
    assert salesforce_id_18("0016100001abcde") == "0016100001abcdeAAA"
    assert salesforce_id_18("0016100001AbCdEAAV") == "0016100001AbCdEAAV"
    assert salesforce_id_18("not-an-id") == "not-an-id"


def test_the_legal_form_is_kept_in_one_spelling() -> None:
    assert company_name("ACME Corporation").folded == company_name("Acme Corp.").folded
    assert company_name("Acme Incorporated").folded == "acme inc"
    assert company_name("Acme Limited").folded == "acme ltd"
    assert company_name("Acme Corp").folded != company_name("ACME GmbH").folded
    assert not company_name("Initrode").has_legal_form
    assert company_name("Initrode LLC").has_legal_form


def test_an_unknown_key_shape_names_no_customer(session: Session) -> None:
    assert current_customer_key(session, "whatever") is None


# --- Properties -----------------------------------------------------------------------------

_SALESFORCE = st.sampled_from([None, "0016100001SfAAAA", "0016100001SfBBBB"])
_ZUORA = st.sampled_from([None, "Z-1", "Z-2", "Z-3"])
_SUBSCRIPTION = st.sampled_from([None, "A-S1", "A-S2", "A-S3"])
_NAME = st.sampled_from(
    ["Acme Corp", "ACME Corporation", "Acme", "Acme GmbH", "Globex", "Pied Piper", "piedpiper", ""]
)
# Where the license was sent: company domains (one whose label is a name), a public one.
_DOMAIN = st.sampled_from(["acme.io", "piedpiper.example", "globex.example", "gmail.com"])
_LICENSE = st.tuples(_SALESFORCE, _ZUORA, _SUBSCRIPTION, _NAME, st.booleans(), _DOMAIN)
# A subscriptions export row: (subscription, Zuora account, Salesforce account).
_EXPORT = st.lists(
    st.tuples(st.sampled_from(["A-S1", "A-S2", "A-S3"]), _ZUORA, _SALESFORCE),
    max_size=3,
    unique_by=lambda row: row[0],
)
_PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _license_rows(licenses: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [
        (trial if is_trial else paid)(
            number,
            name,
            salesforce_account_id=salesforce or "",
            zuora_account_id=zuora or "",
            zuora_subscription_name=subscription or "",
            contact_email=f"someone{number}@{domain}",
        )
        for number, (salesforce, zuora, subscription, name, is_trial, domain) in enumerate(
            licenses, start=1
        )
    ]


def _export_rows(export: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [
        (name, f"{number:032x}", 1, zuora, "Account", "", salesforce)
        for number, (name, zuora, salesforce) in enumerate(export, start=1)
    ]


def _clear(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        for model in (License, Customer, CustomerName, Subscription, Reconciliation):
            session.execute(delete(model))
        session.commit()


@_PROPERTY_SETTINGS
@given(licenses=st.lists(_LICENSE, min_size=1, max_size=8), export=_EXPORT)
def test_accounts_are_never_merged_against_the_evidence(
    session_factory: sessionmaker[Session], tmp_path: Path, licenses, export
) -> None:
    _clear(session_factory)
    store = Store(session_factory, tmp_path)
    store.licenses(*_license_rows(licenses))
    if export:
        store.subscriptions(*_export_rows(export))
    grouping = store.grouping()
    accounts = {name: (zuora, salesforce) for name, zuora, salesforce in export}
    salesforce_of: dict[str, set[str]] = defaultdict(set)
    zuora_of: dict[str, set[str]] = defaultdict(set)
    for number, (salesforce, zuora, subscription, *_) in enumerate(licenses, start=1):
        if subscription in accounts:  # the export wins
            zuora = accounts[subscription][0] or zuora
            salesforce = accounts[subscription][1] or salesforce
        if salesforce:
            salesforce_of[grouping[number]].add(salesforce)
        if zuora:
            zuora_of[grouping[number]].add(zuora)
    for key, found in salesforce_of.items():
        assert len(found) == 1, (key, found)
    for key, found in zuora_of.items():
        assert len(found) == 1 or key.startswith("sf:"), (key, found)


@_PROPERTY_SETTINGS
@given(
    licenses=st.lists(_LICENSE, min_size=1, max_size=8),
    export=_EXPORT,
    split=st.integers(min_value=0, max_value=8),
    order=st.permutations(["first", "second", "export"]),
)
def test_the_order_of_the_files_does_not_change_the_customers(
    session_factory: sessionmaker[Session], tmp_path: Path, licenses, export, split, order
) -> None:
    rows = _license_rows(licenses)
    files = {"first": rows[:split], "second": rows[split:], "export": _export_rows(export)}

    def load(sequence: list[str]) -> tuple[dict[int, str], dict[str, str]]:
        _clear(session_factory)
        store = Store(session_factory, tmp_path)
        for name in sequence:
            if name == "export":
                if files["export"]:
                    store.subscriptions(*files["export"])
            elif files[name]:
                store.licenses(*files[name])
        return store.grouping(), store.customers()

    assert load(list(order)) == load(["first", "second", "export"])


# --- The migration ------------------------------------------------------------------------


def test_the_migration_regroups_a_store_built_by_the_previous_schema(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    from alembic import command
    from alembic.config import Config

    from bot.store.schema import MIGRATIONS_DIR, upgrade

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
    # As 0006's importer left it: keyed by Salesforce id as given, else by the name without
    # its legal form (so Acme Corp and ACME GmbH were one, and Initech's trial apart).
    old_customers = [
        ("sf:0016100001AbCdE", "Initech", "initech", "0016100001AbCdE"),
        ("name:initech", "Initech", "initech", None),
        ("name:acme", "ACME GmbH", "acme", None),
    ]
    old_licenses = [
        (1, "sf:0016100001AbCdE", "Initech", False, "0016100001AbCdE", None),
        (2, "name:initech", "Initech", True, None, None),
        (3, "name:acme", "Acme Corp", False, None, "A-S00081001"),
        (4, "name:acme", "ACME GmbH", False, None, "A-S00081003"),
    ]
    with engine.begin() as connection:
        for row in old_customers:
            connection.execute(
                text(
                    "INSERT INTO customer (key, name, search_key, salesforce_account_id)"
                    " VALUES (:key, :name, :search_key, :sf)"
                ),
                dict(zip(("key", "name", "search_key", "sf"), row, strict=True)),
            )
        for row in old_licenses:
            connection.execute(
                text(
                    "INSERT INTO license (id, customer_key, company, plan, trial,"
                    " salesforce_account_id, zuora_subscription_name)"
                    " VALUES (:id, :key, :company, 'premium', :trial, :sf, :sub)"
                ),
                dict(zip(("id", "key", "company", "trial", "sf", "sub"), row, strict=True)),
            )
        connection.execute(
            text(
                "INSERT INTO host (hostname, license_id, gitlab_version)"
                " VALUES ('gitlab.initech.example', 1, '17.0.0')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO reconciliation (id, customer_name, customer_search_key,"
                " subscription_name, status) VALUES (7, 'ACME GmbH', 'acme', 'A-S00081003',"
                " 'pending')"
            )
        )
    upgrade(engine)
    store = Store(session_factory, Path())
    assert store.grouping() == {
        1: f"sf:{INITECH_SF}",
        2: f"sf:{INITECH_SF}",
        3: "sub:A-S00081001",
        4: "sub:A-S00081003",
    }
    assert store.customers() == {
        f"sf:{INITECH_SF}": "Initech",
        "sub:A-S00081001": "Acme Corp",
        "sub:A-S00081003": "ACME GmbH",
    }
    with session_factory() as session:
        assert session.get(License, 1).salesforce_account_id == INITECH_SF
        assert session.get(Reconciliation, 7).customer_key == "sub:A-S00081003"
        assert session.get(Customer, "sub:A-S00081001").folded_name == "acme corp"
    # Hosts were keyed by hostname: the instance they were is kept.
    hosts = store.card(f"sf:{INITECH_SF}").hosts_by_license[1]
    assert [(h.hostname, h.gitlab_version) for h in hosts] == [("gitlab.initech.example", "17.0.0")]
    # Keys held by old buttons and App Home entries.
    assert store.card("sf:0016100001AbCdE").customer.key == f"sf:{INITECH_SF}"
    assert store.card("name:initech").customer.key == f"sf:{INITECH_SF}"
    assert store.card("name:acme") is None  # two customers now: search again


# --- Search and the answers around it ---------------------------------------------------------


def _lookups(factory: sessionmaker[Session]) -> Any:
    from bot.answers.lookups import LookupService
    from bot.config import Settings
    from bot.links import Links

    return LookupService(factory, Links.from_settings(Settings()), rate_limit_per_hour=0)


def _acme(store: Store) -> None:
    store.licenses(
        paid(10778, "Acme Corp", zuora_subscription_name="A-S00081001"),
        paid(2, "Acme Holdings", zuora_subscription_name="A-S00081002"),
        paid(3, "ACME GmbH", zuora_subscription_name="A-S00081003", contact_email="it@acme.de"),
    )


def test_acme_corp_is_its_card_with_the_others_offered_and_acme_a_pick_list(
    store: Store,
) -> None:
    from bot import ids
    from bot.answers.audited import Requester

    _acme(store)
    lookups = _lookups(store.factory)
    alice = Requester("UALICE", "T1", channel_id="C1")
    card = lookups.answer_query(ids.LICENSE_COMMAND, "Acme Corp", alice).message.to_dict()
    assert card["blocks"][0]["text"]["text"] == "Acme Corp"
    texts = [
        element["text"]
        for block in card["blocks"]
        if block["type"] == "context"
        for element in block["elements"]
    ]
    assert "Also matching: ACME GmbH, Acme Holdings" in texts  # best match first
    shown = {
        block["accessory"]["value"]
        for block in card["blocks"]
        if block.get("block_id", "").startswith(ids.ALSO_MATCHING_BLOCK_PREFIX)
    }
    assert shown == {"sub:A-S00081002", "sub:A-S00081003"}
    picked = lookups.answer_query(ids.LICENSE_COMMAND, "Acme", alice)
    assert (picked.outcome, picked.result_count) == ("ambiguous", 3)
    # A query that matches only one customer shows nothing extra.
    only = lookups.answer_query(ids.LICENSE_COMMAND, "Acme Holdings", alice).message.to_dict()
    assert "Also matching" not in str(only)


def test_printed_license_ids_and_bare_subscription_names_mean_what_they_look_like(
    store: Store,
) -> None:
    _acme(store)
    assert store.search("#10778").resolved_key == "sub:A-S00081001"
    assert store.search("S00081003").resolved_key == "sub:A-S00081003"
    assert store.search("s00081002").resolved_key == "sub:A-S00081002"


def test_an_address_that_received_no_license_says_so_then_shows_its_domain(
    store: Store,
) -> None:
    from bot import ids
    from bot.answers.audited import Requester
    from bot.search import QueryKind

    _acme(store)
    result = store.search("nobody@acme.de")
    assert (result.matched_by, result.resolved_key) == (QueryKind.EMAIL_DOMAIN, "sub:A-S00081003")
    answer = _lookups(store.factory).answer_query(
        ids.LICENSE_COMMAND, "nobody@acme.de", Requester("UALICE", "T1", channel_id="C1")
    )
    first = answer.message.to_dict()["blocks"][0]
    assert first["text"]["text"].startswith("No license was sent to nobody@acme.de;")


def test_more_matches_than_the_pick_list_holds_are_announced(store: Store) -> None:
    from bot import ids
    from bot.answers.audited import Requester

    store.licenses(
        *(paid(n, f"Acme Unit {n}", zuora_subscription_name=f"A-S{n}") for n in range(1, 13))
    )
    answer = _lookups(store.factory).answer_query(
        ids.LICENSE_COMMAND, "acme", Requester("UALICE", "T1", channel_id="C1")
    )
    assert answer.outcome == "ambiguous"
    assert "More customers match than are shown here" in str(answer.message.to_dict())


def test_a_modal_holding_an_old_customer_key_selects_the_customer_it_became(store: Store) -> None:
    from bot.answers.audited import Requester

    store.licenses(trial(1, "Pied Piper Inc"))
    store.licenses(paid(2, "Pied Piper Inc.", salesforce_account_id="0016100001PiedP"))
    selection = _lookups(store.factory).customer_selection(
        "name:pied piper inc", Requester("UALICE", "T1", channel_id="C1")
    )
    assert selection is not None
    assert selection.choice.key == f"sf:{salesforce_id_18('0016100001PiedP')}"


def test_an_unchanged_file_does_not_regroup(store: Store, engine: Engine) -> None:
    from tests.helpers.sql_capture import captured_statements

    rows = [paid(1, "Initech", salesforce_account_id=INITECH_SF), trial(2, "Initech")]
    store.licenses(*rows)
    with captured_statements(engine) as statements:
        store.licenses(*rows)
    assert not [s for s in statements if "customer_rule_" in s]
    # Seats changed only: nothing the rule reads (tests/store/test_customer_rule_inputs.py).
    with captured_statements(engine) as statements:
        store.licenses(rows[0], trial(2, "Initech", user_count=7))
    assert not [s for s in statements if "customer_rule_" in s]
    with captured_statements(engine) as statements:
        store.licenses(rows[0], trial(2, "Initech Labs", user_count=7))
    assert [s for s in statements if "customer_rule_" in s]


def _pick_list_page(message: Any) -> tuple[list[str], str | None]:
    """(the customer keys a pick list offers, its "Show more" value or None)."""
    from bot import ids
    from tests.helpers.cards import check_message

    blocks = check_message(message)["blocks"]
    keys = [
        block["accessory"]["value"]
        for block in blocks
        if block.get("block_id", "").startswith(ids.PICK_LIST_BLOCK_PREFIX)
    ]
    more = [
        element["value"]
        for block in blocks
        if block.get("block_id") == ids.PICK_MORE_BLOCK
        for element in block["elements"]
    ]
    assert len(more) <= 1
    return keys, (more[0] if more else None)


def test_show_more_offers_the_rest_of_a_long_pick_list(store: Store) -> None:
    from bot import ids
    from bot.answers.audited import Requester

    store.licenses(
        *(paid(n, f"Acme Unit {n}", zuora_subscription_name=f"A-S{n}") for n in range(1, 13))
    )
    lookups = _lookups(store.factory)
    alice = Requester("UALICE", "T1", channel_id="C1")
    first = lookups.answer_query(ids.LICENSE_COMMAND, "acme", alice)
    first_keys, more = _pick_list_page(first.message)
    assert len(first_keys) == 8 and more is not None
    assert "More customers match than are shown here" in str(first.message.to_dict())

    rest = lookups.answer_more_matches(ids.LICENSE_COMMAND, more, alice)
    rest_keys, no_more = _pick_list_page(rest.message)
    assert rest.outcome == "ambiguous"
    assert len(rest_keys) == 4 and no_more is None
    assert "from number 9" in str(rest.message.to_dict())
    every_unit = {f"sub:A-S{n}" for n in range(1, 13)}
    assert set(first_keys) | set(rest_keys) == every_unit
    assert not set(first_keys) & set(rest_keys)


def test_a_forged_show_more_value_is_only_a_search(store: Store) -> None:
    import json

    from bot import ids
    from bot.answers.audited import Requester
    from bot.views.notices import MORE_GONE

    store.licenses(
        *(paid(n, f"Acme Unit {n}", zuora_subscription_name=f"A-S{n}") for n in range(1, 13))
    )
    lookups = _lookups(store.factory)
    alice = Requester("UALICE", "T1", channel_id="C1")
    for forged in ("not json", "[]", '{"q": "acme", "o": -1}', '{"q": 1, "o": 8}'):
        answer = lookups.answer_more_matches(ids.LICENSE_COMMAND, forged, alice)
        assert answer.outcome == "not_found"
        assert MORE_GONE in answer.message.text
    # An offset past the cap is capped; past the matches, it says the list cannot go on.
    far = lookups.answer_more_matches(
        ids.LICENSE_COMMAND, json.dumps({"q": "acme", "o": 10**9}), alice
    )
    assert far.outcome == "not_found" and MORE_GONE in far.message.text
    # Another query is just that search, for whoever clicked.
    other = lookups.answer_more_matches(
        ids.LICENSE_COMMAND, json.dumps({"q": "Acme Unit 7", "o": 0}), alice
    )
    assert other.outcome == "ok" and "Acme Unit 7" in other.message.text


def test_regrouping_puts_the_statistics_target_back(engine: Engine):
    """PostgreSQL analyses the rule's work tables from a small sample; the rest of the
    transaction (an import's own ANALYZE of the license table) keeps the configured target."""
    from bot.store.customers import regroup

    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL setting")
    with engine.begin() as connection:
        connection.exec_driver_sql("SET LOCAL default_statistics_target = 123")
        regroup(connection)
        assert connection.exec_driver_sql("SHOW default_statistics_target").scalar() == "123"


_NAME_INDEX = "ix_customer_name_company_key_trgm"  # migration 0009


def _name_index_options(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        options = connection.exec_driver_sql(
            f"SELECT reloptions FROM pg_class WHERE relname = '{_NAME_INDEX}'"
        ).scalar_one()
    return list(options)


def _found_through_the_name_index(engine: Engine, word: str) -> list[str]:
    with engine.connect() as connection, connection.begin() as transaction:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        # Only the trigram index left to read (DDL is transactional: rolled back below).
        connection.exec_driver_sql("DROP INDEX ix_customer_name_company_key_prefix")
        plan = connection.exec_driver_sql(
            "EXPLAIN SELECT name FROM customer_name"
            f" WHERE search_key %% '{word}' AND kind <> 'contact'"
        ).scalars()
        assert _NAME_INDEX in " ".join(plan)
        found = connection.exec_driver_sql(
            f"SELECT name FROM customer_name WHERE search_key %% '{word}'"
            " AND kind <> 'contact' ORDER BY name"
        ).scalars()
        names = list(found)
        transaction.rollback()
        return names


def test_a_first_load_fills_the_name_index_in_bulk_and_leaves_it_as_declared(
    engine: Engine, store: Store
):
    """PostgreSQL writes the names of a first load through the trigram index's pending
    list, then merges it and puts `fastupdate = off` back: the index ends as migration 0009
    made it, nothing left pending for searches to scan, and it finds every customer."""
    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL index")
    declared = _name_index_options(engine)
    assert declared == ["fastupdate=off"]
    rows = [
        paid(i, f"Globex Unit {i}", salesforce_account_id=f"0016100001Gx{i:03d}AAA")
        for i in range(1, 301)
    ]
    store.licenses(*rows)
    assert _name_index_options(engine) == declared
    with engine.begin() as connection:
        pending_pages = connection.exec_driver_sql(
            f"SELECT gin_clean_pending_list('{_NAME_INDEX}'::regclass)"
        ).scalar_one()
    assert pending_pages == 0
    assert len(_found_through_the_name_index(engine, "globex unit")) == 300


def _name_index_held(connection: Any) -> bool:
    return bool(
        connection.exec_driver_sql(
            "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid()"
            f" AND relation = '{_NAME_INDEX}'::regclass AND mode = 'AccessExclusiveLock'"
        ).scalar_one()
    )


def test_regrouping_a_filled_store_leaves_the_name_index_alone(engine: Engine, store: Store):
    """Only an empty name table takes the bulk path: ALTER INDEX locks the index against
    searches until the commit, which a store with customers to find must not do."""
    from bot.store.customers import regroup

    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL index")
    store.licenses(paid(1, "Globex Corporation", salesforce_account_id="0016100001GxAAAAAA"))
    # Emptied: a first load's; every name stale (a new rule version): emptied only by this
    # regrouping, while searches still read the old names.
    for before, bulk in (("emptied", True), ("as it is", False), ("every name stale", False)):
        with engine.connect() as connection:
            transaction = connection.begin()
            if before == "emptied":
                connection.exec_driver_sql("DELETE FROM customer_name")
            elif before == "every name stale":
                connection.exec_driver_sql("UPDATE customer_name SET folded = 'old ' || folded")
            regroup(connection)
            assert _name_index_held(connection) is bulk
            transaction.rollback()


def test_a_first_load_beside_a_reconciliations_import_does_not_deadlock(
    engine: Engine, store: Store
):
    """A first load that holds the name index must not then wait for a lock another import
    holds while that import waits for the index: a reconciliations import holds its table and
    reads the customers. The first load takes its table locks before the index, so it waits
    for the other import instead, and both finish."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's locks")
    store.reconciliations(reconciliation_row(1, customer="Globex Corporation"))
    outcome: dict[str, object] = {}

    def first_load() -> None:
        try:
            outcome["summary"] = store.licenses(
                paid(1, "Globex Corporation", salesforce_account_id="0016100001GxAAAAAA")
            )
        except Exception as error:  # reported by the assertion below
            outcome["error"] = error

    with engine.connect() as other_import:
        transaction = other_import.begin()
        other_import.exec_driver_sql("SET LOCAL statement_timeout = '5s'")
        other_import.exec_driver_sql("LOCK TABLE reconciliation IN SHARE ROW EXCLUSIVE MODE")
        loader = threading.Thread(target=first_load)
        loader.start()
        deadline = time.monotonic() + 10
        while not _waiting_for_a_lock(engine) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _waiting_for_a_lock(engine), "the first load never reached the other import's lock"
        # The other import reads the customers: it must not wait for the first load.
        other_import.exec_driver_sql("SELECT key FROM customer WHERE search_key = 'globex'").all()
        transaction.commit()
    loader.join(30)
    assert "error" not in outcome, outcome.get("error")
    assert store.customers() == {"sf:0016100001GxAAAAAA": "Globex Corporation"}


def _waiting_for_a_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        return bool(
            connection.exec_driver_sql(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'relation'"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).scalar_one()
        )


def test_an_import_role_that_does_not_own_the_name_index_still_loads(
    engine: Engine, tmp_path: Path
):
    """Where the importing role may write the tables but not alter their indexes, a first load
    writes the customers the ordinary way."""
    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL privilege")
    with engine.begin() as connection:
        database = connection.exec_driver_sql("SELECT current_database()").scalar_one()
        # Roles are the server's: one per test database, so parallel runs never share it.
        role = f"{database}_importer"[:63]
        if connection.exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'").first():
            connection.exec_driver_sql(f'DROP OWNED BY "{role}"')
        else:
            connection.exec_driver_sql(f'CREATE ROLE "{role}"')
        for grant in (
            f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"',
            f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"',
            f'GRANT TEMPORARY ON DATABASE "{database}" TO "{role}"',
        ):
            connection.exec_driver_sql(grant)
    as_importer = create_store_engine(
        engine.url.render_as_string(hide_password=False),
        connect_args={"options": f"-c role={role}"},  # connects as the test's user, acts as role
    )
    try:
        importer_store = Store(make_session_factory(as_importer), tmp_path)
        importer_store.licenses(
            paid(1, "Globex Corporation", salesforce_account_id="0016100001GxAAAAAA")
        )
        assert importer_store.customers() == {"sf:0016100001GxAAAAAA": "Globex Corporation"}
    finally:
        as_importer.dispose()
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP OWNED BY "{role}"')
            connection.exec_driver_sql(f'DROP ROLE "{role}"')
    assert _name_index_options(engine) == ["fastupdate=off"]
    assert _found_through_the_name_index(engine, "globex") == ["Globex Corporation"]


def _salesforce_id_18_by_the_definition(raw: str) -> str:
    """Salesforce's checksum written out as documented: per five-character chunk, bit i set when
    character i is an upper-case letter, the sum an index into A-Z0-5."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    suffix = ""
    for start in (0, 5, 10):
        chunk = raw[start : start + 5]
        suffix += alphabet[sum(1 << i for i, c in enumerate(chunk) if "A" <= c <= "Z")]
    return raw + suffix


def test_a_15_character_salesforce_id_gets_salesforce_s_own_suffix():
    assert salesforce_id_18("001D000000IqhSL") == "001D000000IqhSLIAZ"  # Salesforce's example
    assert salesforce_id_18("001D000000IqhSLIAZ") == "001D000000IqhSLIAZ"
    assert salesforce_id_18("not-an-id") == "not-an-id"


@given(
    st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        min_size=15,
        max_size=15,
    )
)
def test_the_salesforce_suffix_is_the_documented_checksum(raw: str):
    assert salesforce_id_18(raw) == _salesforce_id_18_by_the_definition(raw)


def test_a_very_long_company_name_keys_a_customer_within_a_keys_width(store: Store) -> None:
    """Folding caps a name (MAX_SEARCH_KEY_LENGTH) so that `name:` and the name fit a
    customer's key, 300 characters (PostgreSQL refuses a longer value, SQLite would keep it)."""
    long_name = "Consolidated " + "Widgets " * 60 + "Inc"
    store.licenses(trial(1, long_name), trial(2, long_name.upper()))
    [key] = set(store.grouping().values())
    assert key.startswith("name:consolidated widgets") and len(key) <= 300
    assert store.card(key) is not None
