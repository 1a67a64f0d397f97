"""Names that spoof (SECURITY.md: hostile input): zero-width characters, bidi overrides and
mrkdwn markers in company and contact names. Shown, they are dropped (bidi controls, U+200B,
U+2060, U+FEFF; ZWJ and ZWNJ stay) or shown as look-alikes (markers); folded, every format
character is ignored, so `Ini\u200btech` is Initech and groups and is told apart like any
other same-named customer. On both engines, through the importer and the card builders.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bot.links import Links
from bot.search import NAME_FOLDING_VERSION, company_name, find_customers
from bot.store.models import License, StoreMeta
from bot.store.queries import load_customer_licenses
from bot.store.schema import upgrade
from bot.views.blocks import clean_plain_text, escape_text
from bot.views.license_card import build_license_card
from bot.views.pick_list import build_pick_list
from tests.helpers.cards import freshness_of
from tests.helpers.customer_rule import Store, paid, trial

TODAY = date(2026, 11, 27)


@pytest.fixture
def store(session_factory: sessionmaker[Session], tmp_path: Path) -> Store:
    return Store(session_factory, tmp_path)


HIDDEN = ("\u200b", "\u202e", "\u2066", "\u2069", "\u2060", "\ufeff")
LINKS = Links("https://c.example", "https://z.example", "https://v.example", "https://s.example")


def test_shown_names_drop_what_reorders_or_hides_text_and_format_nothing() -> None:
    assert escape_text("Ini\u200btech") == "Initech"
    assert escape_text("\u202eAcme\u202c Corp") == "Acme Corp"
    assert clean_plain_text("\u2066Acme\u2069\ufeff", 50) == "Acme"
    # Persian and Indic names keep their joiners.
    assert escape_text("می\u200cخواهم") == "می\u200cخواهم"
    assert escape_text("क्\u200dष") == "क्\u200dष"
    # Markers format nothing: "*Active license*" as a company is not the card's own words.
    assert escape_text("*Active license* _now_ ~x~ `y`") == "∗Active license∗ ＿now＿ ∼x∼ ˋyˋ"


def test_folding_ignores_every_format_character() -> None:
    for spoof in (
        "Ini\u200btech",
        "\u202eInitech",
        "Init\u2060ech",
        "\ufeffInitech",
        "In\u200ditech",
    ):
        assert company_name(spoof) == company_name("Initech"), spoof


def test_a_spoofed_name_groups_with_the_real_one_and_is_told_apart_when_it_must(
    store: Store,
) -> None:
    # Without accounts of their own, one company: the hidden character changes nothing.
    store.licenses(
        paid(1, "Initech", salesforce_account_id="0016100001AbCdE"),
        trial(2, "Ini\u200btech"),
    )
    assert store.customer_of(2) == store.customer_of(1)
    # Under another Salesforce account: another company of the same name, shown alike and
    # told apart by what differs, never by a hidden character.
    store.licenses(paid(3, "Ini\u200btech", salesforce_account_id="0016100001ZzZzZ",
                        contact_email="spoof@evil.example"))  # fmt: skip
    result = store.search("Initech")
    assert len(result.choices) == 2
    message = build_pick_list("Initech", result.choices, action_id="pick").to_dict()
    shown = str(message)
    assert not any(hidden in shown for hidden in HIDDEN)
    lines = [b["text"]["text"] for b in message["blocks"] if b.get("accessory")]
    assert len(set(lines)) == 2 and all(line.startswith("*Initech*") for line in lines)


def test_a_reversed_name_reads_as_written_in_the_card(store: Store) -> None:
    store.licenses(
        paid(
            1, "\u202eAcme Corp", contact_name="*Bill* \u202eLumbergh", **{"zuora_account_id": "Z1"}
        )
    )
    card = store.card("za:Z1")
    freshness = freshness_of(card.data_times)
    message = build_license_card(
        card, LINKS, freshness=freshness, include_contact_emails=False
    ).to_dict()
    shown = str(message)
    assert not any(hidden in shown for hidden in HIDDEN)
    assert message["blocks"][0]["text"]["text"] == "Acme Corp"
    assert "∗Bill∗ Lumbergh" in shown


def test_an_upgrade_refolds_names_folded_the_old_way(store: Store, engine) -> None:
    store.licenses(paid(1, "Initech", zuora_account_id="Z1"), trial(2, "Ini\u200btech"))
    # As the previous folding left them: the zero-width space split the name in two words.
    with store.factory() as session, session.begin():
        session.execute(
            update(License)
            .where(License.id == 2)
            .values(
                company_folded="ini tech",
                company_search_key="ini tech",
                customer_key="name:ini tech",
            )
        )
        session.execute(update(StoreMeta).where(StoreMeta.key == "name_folding").values(value="2"))
    upgrade(engine)
    with store.factory() as session:
        assert session.get(License, 2).company_folded == "initech"
        assert (
            session.scalar(select(StoreMeta.value).where(StoreMeta.key == "name_folding"))
            == NAME_FOLDING_VERSION
        )
        assert session.execute(text("SELECT count(*) FROM customer")).scalar_one() == 1
    assert store.customer_of(2) == "za:Z1"
    with store.factory() as session:
        assert find_customers(session, "initech", today=TODAY).resolved_key == "za:Z1"
        # The key the old folding gave follows the customer the license is under now.
        assert load_customer_licenses(session, "name:ini tech", today=TODAY) is None
