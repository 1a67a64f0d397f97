from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from alembic import command
from alembic.config import Config
from hypothesis import assume, given
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, text, update
from sqlalchemy.orm import Session

from bot.search import (
    CANDIDATE_LIMIT,
    MAX_QUERY_LENGTH,
    MAX_SEARCH_KEY_LENGTH,
    QueryKind,
    company_name,
    company_search_key,
    find_customers,
    parse_query,
    trigram_score,
)
from bot.search.trigrams import _similarity, trigrams
from bot.store.models import CustomerName, Host, License, Reconciliation
from bot.store.schema import MIGRATIONS_DIR, upgrade
from tests.helpers.store_rows import add_customer, add_name, assert_name_indexes_in_step

# --- company_search_key ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Acme, Inc.", "acme"),
        ("ACME Corp", "acme"),
        ("Acme GmbH", "acme"),
        ("Société Générale S.A.", "societe generale"),
        ("Müller Logistik GmbH & Co. KG", "muller logistik"),
        ("A B Testing Co.", "ab testing"),  # "A B" is a name here, not the Swedish AB
        ("AB Volvo", "ab volvo"),  # a legal form at the front is part of how people say it
        ("Volvo AB", "volvo"),
        ("I.B.M.", "ibm"),
        ("Company X A/S", "company x"),
        ("Ørsted A/S", "orsted"),
        ("McDonald’s Corporation", "mcdonalds"),
        ("Company Ltd", "company ltd"),  # only suffix words: kept whole
        ("  Globex   Corporation  ", "globex"),
        ("3M Company", "3m"),
        ("Booking.com B.V.", "booking com"),
        ("snake_case Ltd", "snake case"),
        ("", ""),
        ("!!!", ""),
    ],
)
def test_company_search_key(name: str, key: str) -> None:
    assert company_search_key(name) == key


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=400))
def test_an_ascii_name_folds_as_the_unicode_path_would(name: str) -> None:
    """ASCII names skip the Unicode passes (bot.names): the same name with a combining
    mark after it, which sends it down the Unicode path and folds away, gives the same name.
    (A name of punctuation only is kept as typed instead, mark and all.)"""
    assume(any(character.isalnum() for character in name))
    assert company_name(name) == company_name(name + "\u0301")


@given(st.text(max_size=400))
def test_company_search_key_is_stable_and_bounded(name: str) -> None:
    key = company_search_key(name)
    # A user who types a key finds it: normalising it again changes nothing.
    assert company_search_key(key) == key
    assert len(key) <= MAX_SEARCH_KEY_LENGTH
    assert key == key.strip() and "  " not in key


# --- parse_query ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind", "value"),
    [
        ("", QueryKind.EMPTY, ""),
        ("   ", QueryKind.EMPTY, ""),
        ("12345", QueryKind.LICENSE_ID, "12345"),
        (" 12345 ", QueryKind.LICENSE_ID, "12345"),
        ("#10778", QueryKind.LICENSE_ID, "10778"),  # as the card prints a license id
        ("jane@acme.io", QueryKind.EMAIL, "jane@acme.io"),
        ("Jane.Doe@ACME.io", QueryKind.EMAIL, "jane.doe@acme.io"),
        ("<mailto:jane@acme.io|jane@acme.io>", QueryKind.EMAIL, "jane@acme.io"),
        ("@acme.io", QueryKind.EMAIL_DOMAIN, "acme.io"),
        ("@ACME.co.uk", QueryKind.EMAIL_DOMAIN, "acme.co.uk"),
        ("A-S00012345", QueryKind.SUBSCRIPTION_NAME, "A-S00012345"),
        ("a-s00012345", QueryKind.SUBSCRIPTION_NAME, "A-S00012345"),
        ("S00012345", QueryKind.SUBSCRIPTION_NAME, "A-S00012345"),  # without its `A-`
        ("s00012345", QueryKind.SUBSCRIPTION_NAME, "A-S00012345"),
        ("#", QueryKind.NAME, ""),
        ("#12a", QueryKind.NAME, "12a"),
        ("S12a", QueryKind.NAME, "s12a"),
        ("B-S00012345", QueryKind.NAME, "b s00012345"),
        ("gitlab.acme.io", QueryKind.HOSTNAME, "gitlab.acme.io"),
        ("GitLab.Acme.IO.", QueryKind.HOSTNAME, "gitlab.acme.io"),
        ("<http://gitlab.acme.io|gitlab.acme.io>", QueryKind.HOSTNAME, "gitlab.acme.io"),
        ("<https://gitlab.acme.io/users/sign_in>", QueryKind.HOSTNAME, "gitlab.acme.io"),
        ("https://gitlab.acme.io:8443/explore", QueryKind.HOSTNAME, "gitlab.acme.io"),
        ("gitlab.acme.io:8080", QueryKind.HOSTNAME, "gitlab.acme.io"),
        ("10.0.0.12", QueryKind.HOSTNAME, "10.0.0.12"),
        ("Acme", QueryKind.NAME, "acme"),
        ("Acme Inc.", QueryKind.NAME, "acme"),
        ("St. Jude Medical", QueryKind.NAME, "st jude medical"),
        ("Yahoo!.com", QueryKind.NAME, "yahoo com"),
        ("<@U123ABC>", QueryKind.NAME, "u123abc"),
        ("<@U123ABC|jane>", QueryKind.NAME, "jane"),
        ("<!channel>", QueryKind.NAME, "channel"),
        ("<#C123|deals>", QueryKind.NAME, "deals"),
        ("<!subteam^S123|@sales>", QueryKind.NAME, "sales"),
        ("@acme", QueryKind.NAME, "acme"),
        # Identifiers a rep copies out of Salesforce and Zuora (issue 17).
        ("0016100001AbCdE", QueryKind.SALESFORCE_ID, "0016100001AbCdEAAV"),
        ("0016100001AbCdEAAV", QueryKind.SALESFORCE_ID, "0016100001AbCdEAAV"),
        (
            "https://gitlab.my.salesforce.com/0016100001AbCdE",
            QueryKind.SALESFORCE_ID,
            "0016100001AbCdEAAV",
        ),
        (
            "<https://gitlab.lightning.force.com/lightning/r/Account/0016100001AbCdEAAV/view>",
            QueryKind.SALESFORCE_ID,
            "0016100001AbCdEAAV",
        ),
        ("https://evil.example/0016100001AbCdE", QueryKind.HOSTNAME, "evil.example"),
        ("0026100001AbCdE", QueryKind.NAME, "0026100001abcde"),  # not an Account's prefix
        (
            "2C92A0FD5E0D1A2B015E1F4A5B6C0001",
            QueryKind.ZUORA_ID,
            "2c92a0fd5e0d1a2b015e1f4a5b6c0001",
        ),
        ("a00009001", QueryKind.ACCOUNT_NUMBER, "A00009001"),
        ("A123", QueryKind.NAME, "a123"),
        ("ヤマト", QueryKind.NAME, "ヤマト"),
    ],
)
def test_parse_query_kinds(raw: str, kind: QueryKind, value: str) -> None:
    parsed = parse_query(raw)
    assert parsed.kind is kind
    assert parsed.value == value


def test_license_ids_beyond_a_bigint_parse_without_an_id() -> None:
    assert parse_query("9223372036854775807").license_id == 2**63 - 1
    assert parse_query("#10778").license_id == 10778
    huge = parse_query("9" * 40)
    assert huge.kind is QueryKind.LICENSE_ID
    assert huge.license_id is None


def test_long_input_is_capped() -> None:
    parsed = parse_query("Acme " * 1000)
    assert len(parsed.text) <= MAX_QUERY_LENGTH
    assert parsed.name_key.startswith("acme acme")


@given(st.text(max_size=300))
def test_parse_query_accepts_anything(raw: str) -> None:
    parsed = parse_query(raw)
    assert len(parsed.text) <= MAX_QUERY_LENGTH
    assert (parsed.kind is QueryKind.EMPTY) == (parsed.text == "")


def test_trigram_score_prefers_the_intended_name() -> None:
    assert trigram_score("initek", "initech") > trigram_score("initek", "initrode industries")
    # A word inside a longer name scores as well as the word alone.
    assert trigram_score("initek", "initech global services") == trigram_score("initek", "initech")
    assert trigram_score("acme", "acme") == 1.0
    assert trigram_score("zzzz", "acme") == 0.0


_WORDS = st.sampled_from(
    [
        "acme",
        "acm",
        "global",
        "globel",
        "systems",
        "sy",
        "umbrella",
        "nakatomi",
        "se",
        "kk",
        "株式会社",
    ]
)


@given(query=st.lists(_WORDS, min_size=1, max_size=4), key=st.lists(_WORDS, min_size=1, max_size=6))
def test_trigram_score_is_the_best_of_the_whole_key_and_each_run_of_as_many_words(
    query: list[str], key: list[str]
) -> None:
    """The reference computation, spelt out: the key's runs of as many consecutive words as
    the query has, each compared with the query (the score's windows are cached per key)."""
    query_trigrams = trigrams(" ".join(query))
    width = min(len(query), len(key))
    runs = [" ".join(key)] + [
        " ".join(key[start : start + width]) for start in range(len(key) - width + 1)
    ]
    expected = max(_similarity(query_trigrams, trigrams(run)) for run in runs)
    assert trigram_score(" ".join(query), " ".join(key)) == pytest.approx(expected)


# --- find_customers over both engines -------------------------------------------------------

# Pick lists are computed for a given day, never the wall clock's.
TODAY = date(2026, 11, 27)
CUSTOMERS = {
    "sf:INITECH": "Initech",
    "sf:INITECH-GS": "Initech Global Services",
    "sf:INITRODE": "Initrode Industries",
    "sf:ACME": "ACME Corp",
    "name:acme widgets": "Acme Widgets",
    "sf:SOCGEN": "Société Générale S.A.",
    "sf:GE": "General Electric Company",
    "sf:VOLVO": "AB Volvo",
    "name:ab testing": "A B Testing Co.",
    "sf:IBM": "IBM",
    "sf:3M": "3M Company",
    "sf:MCD": "McDonald's Corporation",
    "sf:GLOBEX": "Globex Corporation",
    "sf:UMBRELLA": "Umbrella Pharmaceuticals GmbH",
    "sf:ORSTED": "Ørsted A/S",
    "sf:BOOKING": "Booking.com B.V.",
    "sf:MULLER": "Müller Logistik GmbH & Co. KG",
    "sf:HOOLI": "Hooli",
    "sf:PIEDPIPER": "Pied Piper",
}


def add_license(
    session: Session,
    license_id: int,
    customer_key: str,
    *,
    email: str | None = None,
    subscription_name: str | None = None,
    subscription_id: str | None = None,
    issued_at: datetime | None = None,
) -> None:
    session.add(
        License(
            id=license_id,
            customer_key=customer_key,
            company=CUSTOMERS.get(customer_key, customer_key),
            plan="premium",
            user_count=50,
            trial=False,
            starts_at=date(2020, 1, 1),
            contact_email=email,
            contact_email_key=email.lower() if email else None,
            contact_email_domain=email.lower().rsplit("@", 1)[1] if email else None,
            zuora_subscription_name=subscription_name,
            zuora_subscription_id=subscription_id,
            issued_at=issued_at,
        )
    )


@pytest.fixture
def customers(session: Session) -> Session:
    for key, name in CUSTOMERS.items():
        add_customer(session, key, name)
    add_license(
        session, 1001, "sf:INITECH", email="Jane@Initech.com", subscription_name="A-S00000001"
    )
    add_license(session, 1002, "sf:INITECH-GS", email="ops@initech-gs.com")
    add_license(session, 2001, "sf:GLOBEX", email="bob@globex.io", subscription_name="A-S00000002")
    add_license(session, 2002, "sf:HOOLI", email="it@hooli.xyz")
    add_license(session, 2003, "sf:BOOKING", email="licensing@booking.com")
    add_license(session, 4_000_000_000, "sf:PIEDPIPER", email="richard@piedpiper.com")
    session.add(Host(hostname="gitlab.globex.io", license_id=2001))
    session.add(Host(hostname="gitlab.hooli.xyz", license_id=2002))
    session.add(
        Reconciliation(
            id=1,
            customer_name="Umbrella Pharmaceuticals",
            customer_search_key=company_search_key("Umbrella Pharmaceuticals"),
            subscription_name="A-S00000009",
            status="pending",
            customer_key="sf:UMBRELLA",  # as the customer rule assigns it (by name)
        )
    )
    session.commit()
    return session


FINDS = [
    # Names: case, punctuation, accents, legal suffixes, typos.
    ("Initech", "sf:INITECH", QueryKind.NAME),
    ("INITECH, Inc.", "sf:INITECH", QueryKind.NAME),
    ("Initek", "sf:INITECH", QueryKind.NAME),
    ("initech global", "sf:INITECH-GS", QueryKind.NAME),
    ("initrode", "sf:INITRODE", QueryKind.NAME),
    ("acme inc", "sf:ACME", QueryKind.NAME),
    ("Acme", "sf:ACME", QueryKind.NAME),
    ("acme widgets", "name:acme widgets", QueryKind.NAME),
    ("societe generale", "sf:SOCGEN", QueryKind.NAME),
    ("Société Générale SA", "sf:SOCGEN", QueryKind.NAME),
    ("societe generalle", "sf:SOCGEN", QueryKind.NAME),
    ("general electric", "sf:GE", QueryKind.NAME),
    ("volvo", "sf:VOLVO", QueryKind.NAME),
    ("AB Volvo", "sf:VOLVO", QueryKind.NAME),
    ("a b testing", "name:ab testing", QueryKind.NAME),
    ("mcdonalds", "sf:MCD", QueryKind.NAME),
    ("McDonald's Corp", "sf:MCD", QueryKind.NAME),
    ("orsted", "sf:ORSTED", QueryKind.NAME),
    ("Ørsted", "sf:ORSTED", QueryKind.NAME),
    ("muller", "sf:MULLER", QueryKind.NAME),
    ("umbrela pharma", "sf:UMBRELLA", QueryKind.NAME),
    ("glbex", "sf:GLOBEX", QueryKind.NAME),
    ("pharmaceuticals", "sf:UMBRELLA", QueryKind.NAME),
    # Short queries: a prefix of the key.
    ("ib", "sf:IBM", QueryKind.NAME),
    ("3m", "sf:3M", QueryKind.NAME),
    ("h", "sf:HOOLI", QueryKind.NAME),
    # Emails, domains, subscriptions, ids, hostnames.
    ("jane@initech.com", "sf:INITECH", QueryKind.EMAIL),
    ("JANE@INITECH.COM", "sf:INITECH", QueryKind.EMAIL),
    ("<mailto:jane@initech.com|jane@initech.com>", "sf:INITECH", QueryKind.EMAIL),
    ("@globex.io", "sf:GLOBEX", QueryKind.EMAIL_DOMAIN),
    ("A-S00000002", "sf:GLOBEX", QueryKind.SUBSCRIPTION_NAME),
    ("a-s00000001", "sf:INITECH", QueryKind.SUBSCRIPTION_NAME),
    ("A-S00000009", "sf:UMBRELLA", QueryKind.SUBSCRIPTION_NAME),  # reconciled, never licensed
    ("1001", "sf:INITECH", QueryKind.LICENSE_ID),
    ("#1001", "sf:INITECH", QueryKind.LICENSE_ID),
    ("S00000002", "sf:GLOBEX", QueryKind.SUBSCRIPTION_NAME),
    ("s00000001", "sf:INITECH", QueryKind.SUBSCRIPTION_NAME),
    ("S00000009", "sf:UMBRELLA", QueryKind.SUBSCRIPTION_NAME),
    ("4000000000", "sf:PIEDPIPER", QueryKind.LICENSE_ID),
    ("gitlab.globex.io", "sf:GLOBEX", QueryKind.HOSTNAME),
    ("<http://gitlab.hooli.xyz|gitlab.hooli.xyz>", "sf:HOOLI", QueryKind.HOSTNAME),
    ("https://GitLab.Hooli.xyz/users/sign_in", "sf:HOOLI", QueryKind.HOSTNAME),
    ("initech.com", "sf:INITECH", QueryKind.EMAIL_DOMAIN),  # no such host: an email domain
    ("booking.com", "sf:BOOKING", QueryKind.EMAIL_DOMAIN),
    # Nothing found their own way: names.
    ("Booking.com BV", "sf:BOOKING", QueryKind.NAME),
    ("hooli.com", "sf:HOOLI", QueryKind.NAME),
    ("nobody@globex.com", "sf:GLOBEX", QueryKind.NAME),  # no license sent to globex.com either
    ("nobody@initech.com", "sf:INITECH", QueryKind.EMAIL_DOMAIN),  # the address's domain
    ("A-S99999999", None, None),
    ("424242", None, None),
]


@pytest.mark.parametrize(("query", "expected_key", "matched_by"), FINDS)
def test_finds_the_intended_customer_first(
    customers: Session, query: str, expected_key: str | None, matched_by: QueryKind | None
) -> None:
    result = find_customers(customers, query, today=TODAY)
    assert result.matched_by is matched_by
    if expected_key is None:
        assert result.choices == ()
        assert result.resolved is None
    else:
        assert result.choices, f"{query!r} found nothing"
        assert result.choices[0].key == expected_key, [c.key for c in result.choices]


@pytest.mark.parametrize(
    "query", ["Initech", "initech inc", "jane@initech.com", "1001", "A-S00000001", "mcdonalds"]
)
def test_a_query_that_means_one_customer_resolves(customers: Session, query: str) -> None:
    result = find_customers(customers, query, today=TODAY)
    assert result.resolved is not None
    assert result.resolved.key == result.choices[0].key


def test_an_exact_name_resolves_even_when_longer_names_also_match(customers: Session) -> None:
    result = find_customers(customers, "acme", today=TODAY)
    assert [c.key for c in result.choices] == ["sf:ACME", "name:acme widgets"]
    assert result.resolved is not None and result.resolved.key == "sf:ACME"


def test_several_matches_without_a_winner_give_a_pick_list(customers: Session) -> None:
    result = find_customers(customers, "gen", today=TODAY)
    assert result.resolved is None
    assert {c.key for c in result.choices} == {"sf:GE", "sf:SOCGEN"}


def test_a_query_that_is_one_customers_name_shows_it_and_offers_the_others(
    customers: Session,
) -> None:
    # `Hooli` is Hooli's folded name exactly; Hooli GmbH (another legal form: another
    # company) shares its words and is offered beside the card (issue 12).
    add_customer(customers, "sf:HOOLI-EU", "Hooli GmbH")
    customers.commit()
    result = find_customers(customers, "Hooli", today=TODAY)
    assert result.resolved_key == "sf:HOOLI"
    assert result.also_matching == (("sf:HOOLI-EU", "Hooli GmbH"),)


def test_two_customers_with_the_same_name_are_not_resolved(customers: Session) -> None:
    add_customer(customers, "sf:HOOLI-EU", "Hooli GmbH")
    add_customer(customers, "sf:HOOLI-DE", "Hooli GmbH")
    customers.commit()
    result = find_customers(customers, "Hooli GmbH", today=TODAY)
    assert result.resolved is None
    assert {c.key for c in result.choices} == {"sf:HOOLI-EU", "sf:HOOLI-DE", "sf:HOOLI"}
    # `Hooli` is only one of them by name: the other two share its words.
    assert find_customers(customers, "Hooli", today=TODAY).also_matching == (
        ("sf:HOOLI-DE", "Hooli GmbH"),
        ("sf:HOOLI-EU", "Hooli GmbH"),
    )


def test_an_email_shared_by_two_customers_gives_a_pick_list(customers: Session) -> None:
    add_license(customers, 3001, "sf:ACME", email="buyer@reseller.com")
    add_license(customers, 3002, "sf:GLOBEX", email="buyer@reseller.com")
    add_license(customers, 3003, "sf:GLOBEX", email="buyer@reseller.com")
    customers.commit()
    result = find_customers(customers, "buyer@reseller.com", today=TODAY)
    assert result.matched_by is QueryKind.EMAIL
    assert result.resolved is None
    # Most licenses sent to that address first.
    assert [c.key for c in result.choices] == ["sf:GLOBEX", "sf:ACME"]


@pytest.mark.parametrize(
    ("query", "unsent"),
    [
        ("nobody@initech.com", True),  # found by its domain
        ("nobody@globex.com", True),  # found by name
        ("jane@initech.com", False),
        ("@initech.com", False),
        ("Initech", False),
        ("nobody@nowhere.example", False),  # nothing found: the not-found answer says so
    ],
)
def test_an_address_no_license_was_sent_to_is_told_apart(
    customers: Session, query: str, unsent: bool
) -> None:
    assert find_customers(customers, query, today=TODAY).unsent_email is unsent


def test_choices_carry_license_counts_and_the_active_license(customers: Session) -> None:
    result = find_customers(customers, "jane@initech.com", today=TODAY)
    assert result.resolved is not None
    assert result.resolved.name == "Initech"
    assert result.resolved.license_count == 1
    assert (result.resolved.active_plan, result.resolved.active_user_count) == ("premium", 50)


def test_nothing_found_suggests_the_closest_names(customers: Session) -> None:
    result = find_customers(customers, "Initechnical Holdings", today=TODAY)
    assert result.choices == ()
    assert result.resolved is None
    assert result.suggestions
    assert result.suggestions[0] in {"Initech", "Initech Global Services"}


def test_nothing_like_it_suggests_nothing(customers: Session) -> None:
    result = find_customers(customers, "qqqq zzzz", today=TODAY)
    assert (result.choices, result.suggestions, result.resolved) == ((), (), None)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "9" * 40,
        '"',
        'acme" OR "x',
        "acme*",
        "NEAR(acme widgets)",
        "%_%",
        "\\",
        "<@U123>",
        "<!here>",
        "<>",
        "a" * 5000,
        "\x00acme",
        "🙂🙂🙂",
        "@",
        "@.",
        "a@b",
    ],
)
def test_odd_input_never_crashes(customers: Session, query: str) -> None:
    result = find_customers(customers, query, today=TODAY)
    assert all(choice.key in CUSTOMERS for choice in result.choices)


def test_many_similar_names_keep_the_exact_match_first(customers: Session) -> None:
    for number in range(300):
        add_customer(customers, f"name:acme {number:03}", f"Acme {number:03} Holdings")
    customers.commit()
    result = find_customers(customers, "ACME, Inc.", today=TODAY, limit=5)
    assert result.resolved is not None and result.resolved.key == "sf:ACME"
    assert len(result.choices) == 5
    assert result.has_more
    typo = find_customers(customers, "Acme 117 Holdigns", today=TODAY, limit=5)
    assert typo.choices[0].key == "name:acme 117"


def add_shared_word_names(session: Session, count: int) -> None:
    """Names made of the same few words, told apart by a number, as in benchmarks/datagen.py."""
    for number in range(count):
        add_customer(session, f"name:mesa media {number}", f"Mesa Media {number} Ltd")
        add_customer(session, f"name:mesa labs {number}", f"Mesa Labs {number} GmbH")
        add_customer(session, f"name:acme media {number}", f"Acme Media {number}")
    session.commit()


@pytest.mark.parametrize(
    "query",
    [
        "Mesa Madia 117",  # a typo in the second word
        "Mesa Meida 117 Ltd",  # letters swapped, legal suffix kept
        "Mase Media 117",  # a typo in the first word
        "mesa media 117 holdigns",  # a word the name lacks, itself misspelt
    ],
)
def test_a_typo_in_one_word_of_names_sharing_their_words_finds_the_name(
    customers: Session, query: str
) -> None:
    add_shared_word_names(customers, 150)
    result = find_customers(customers, query, today=TODAY)
    assert result.choices, f"{query!r} found nothing"
    assert result.choices[0].key == "name:mesa media 117", [c.key for c in result.choices]


def test_a_typo_in_a_two_word_name_finds_it_among_names_sharing_its_words(
    customers: Session,
) -> None:
    add_shared_word_names(customers, 150)
    add_customer(customers, "sf:MESA-ROBOTICS", "Mesa Robotics")
    customers.commit()
    assert (
        find_customers(customers, "mesa robtics", today=TODAY).choices[0].key == "sf:MESA-ROBOTICS"
    )
    assert (
        find_customers(customers, "mesaa robotics", today=TODAY).choices[0].key
        == "sf:MESA-ROBOTICS"
    )


@pytest.mark.parametrize("starting", [5, 150])
def test_a_four_letter_prefix_lists_the_names_starting_with_it_first(
    customers: Session, starting: int
) -> None:
    # Names with "mesa" inside (as a word, or inside one) must not crowd out those starting
    # with it, however many of either there are (written first: an index probe reading in
    # rowid order meets them first).
    for number in range(150):
        add_customer(customers, f"name:comesa {number}", f"Comesa {number}")
    for number in range(150):
        add_customer(customers, f"name:acme mesa {number}", f"Acme Mesa {number}")
    for number in range(starting):
        add_customer(customers, f"name:mesa {number}", f"Mesa Labs {number}")
    customers.commit()
    result = find_customers(customers, "Mesa", today=TODAY, limit=8)
    assert result.resolved is None
    assert result.has_more
    shown = min(starting, 8)
    assert all(c.name.startswith("Mesa") for c in result.choices[:shown]), result.choices
    assert all(not c.name.startswith("Mesa") for c in result.choices[shown:]), result.choices
    if starting < 8:
        # Then the names with a word starting with it, before those with it inside a word.
        assert result.choices[shown].name.startswith("Acme Mesa"), result.choices


def test_an_exact_name_among_names_sharing_its_words_resolves(customers: Session) -> None:
    add_shared_word_names(customers, 150)
    for query in ("Mesa Media 117", "mesa media 117 ltd"):
        result = find_customers(customers, query, today=TODAY, load_choices=False)
        assert result.resolved_key == "name:mesa media 117"


def test_name_index_follows_inserts_updates_and_deletes(customers: Session) -> None:
    renamed = company_name("Hooli XYZ")
    customers.execute(
        update(CustomerName)
        .where(CustomerName.customer_key == "sf:HOOLI")
        .values(name="Hooli XYZ", search_key=renamed.search_key, folded=renamed.folded)
    )
    customers.execute(delete(CustomerName).where(CustomerName.customer_key == "sf:GLOBEX"))
    add_customer(customers, "sf:NEW", "Nucleus Platforms")
    customers.commit()

    assert find_customers(customers, "nucleus platfroms", today=TODAY).choices[0].key == "sf:NEW"
    assert find_customers(customers, "hooli xyz", today=TODAY).resolved.key == "sf:HOOLI"  # type: ignore[union-attr]
    assert all(
        c.key != "sf:GLOBEX" for c in find_customers(customers, "globex", today=TODAY).choices
    )
    # A name whose kind changes moves between the companies' and the people's indexes.
    add_name(customers, "sf:NEW", "Peter Gibbons", kind="contact")
    customers.commit()
    assert_name_indexes_in_step(customers)
    customers.execute(
        update(CustomerName).where(CustomerName.name == "Peter Gibbons").values(kind="company")
    )
    customers.execute(
        update(CustomerName).where(CustomerName.customer_key == "sf:HOOLI").values(kind="contact")
    )
    customers.commit()
    assert_name_indexes_in_step(customers)
    assert find_customers(customers, "gibons", today=TODAY).choices[0].key == "sf:NEW"
    assert find_customers(customers, "hooli xyz", today=TODAY).resolved_key == "sf:HOOLI"


def test_upsert_keeps_the_name_index_in_step(customers: Session) -> None:
    dialect = customers.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(CustomerName.__table__)
    statement = statement.on_conflict_do_update(
        index_elements=[CustomerName.__table__.c.customer_key, CustomerName.__table__.c.folded],
        set_={"name": statement.excluded.name, "search_key": statement.excluded.search_key},
    )
    customers.execute(
        statement,
        [
            {
                "customer_key": "sf:INITRODE",
                "folded": company_name("Initrode Industries").folded,
                "name": "Vandelay Industries",
                "search_key": "vandelay industries",
                "kind": "customer",
            }
        ],
    )
    customers.commit()
    assert find_customers(customers, "vandelay", today=TODAY).resolved.key == "sf:INITRODE"  # type: ignore[union-attr]
    assert all(
        c.key != "sf:INITRODE" for c in find_customers(customers, "initrode", today=TODAY).choices
    )


def test_found_licenses_whose_customer_row_is_missing_are_skipped(customers: Session) -> None:
    add_license(customers, 9001, "sf:GONE", email="x@gone.example")
    customers.commit()
    result = find_customers(customers, "9001", today=TODAY)
    assert result.choices == ()


def test_issued_at_orders_customers_found_by_domain(customers: Session) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    add_license(customers, 5001, "sf:ACME", email="a@shared.example", issued_at=at)
    add_license(customers, 5002, "sf:HOOLI", email="b@shared.example", issued_at=None)
    add_license(
        customers, 5003, "sf:IBM", email="c@shared.example", issued_at=at.replace(year=2025)
    )
    customers.commit()
    result = find_customers(customers, "@shared.example", today=TODAY)
    assert [c.key for c in result.choices] == ["sf:ACME", "sf:IBM", "sf:HOOLI"]


def _name_index_exists(session: Session) -> bool:
    if session.get_bind().dialect.name == "sqlite":
        found = "SELECT count(*) FROM sqlite_master WHERE name = 'contact_name_search'"
    else:
        found = (
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_customer_name_contact_key_trgm'"
        )
    return bool(session.execute(text(found)).scalar_one())


def test_search_index_migration_downgrades_and_rebuilds(engine: Engine, customers: Session) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))

    def migrate(step: Callable[[Config, str], None], revision: str) -> None:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            step(config, revision)

    customers.close()
    try:
        migrate(command.downgrade, "0001")
        assert not _name_index_exists(customers)
        customers.close()
        # Written while unindexed, in 0001's columns (the models are the head's).
        customers.execute(
            text(
                "INSERT INTO customer (key, name, search_key) VALUES"
                " ('sf:LATE', 'Latecomer Analytics', 'latecomer analytics')"
            )
        )
        customers.execute(
            text(
                "INSERT INTO license (id, customer_key, company, plan, trial) VALUES"
                " (9001, 'sf:LATE', 'Latecomer Analytics', 'premium', false)"
            )
        )
        customers.commit()
    finally:
        customers.close()
        upgrade(engine)
    assert _name_index_exists(customers)
    # Rows written before the index existed are indexed by the upgrade (the store's upkeep
    # regroups them by the customer rule at the head, so they are found by name, not by their
    # old keys).
    assert (
        find_customers(customers, "latecomer anlytics", today=TODAY).choices[0].name
        == "Latecomer Analytics"
    )
    assert find_customers(customers, "Initek", today=TODAY).choices[0].name == "Initech"


# --- People's names (the contacts licenses were sent to) -------------------------------------


def test_people_sharing_a_first_name_never_crowd_out_a_company(session: Session) -> None:
    """More contacts called John than a probe reads (CANDIDATE_LIMIT), each at a customer of
    their own: `John` still lists John Deere, first, and `Smith` the people."""
    for number in range(CANDIDATE_LIMIT + 20):
        add_customer(session, f"sf:C{number:04d}", f"Customer {number:04d}")
        add_name(session, f"sf:C{number:04d}", f"John Aaron {number:04d}", kind="contact")
    add_customer(session, "sf:DEERE", "John Deere")
    add_name(session, "sf:C0007", "Abigail Smith", kind="contact")
    session.commit()
    result = find_customers(session, "John", today=TODAY)
    assert result.resolved_key is None
    assert [choice.key for choice in result.choices][:2] == ["sf:DEERE", "sf:C0000"]
    assert result.has_more
    assert find_customers(session, "Smith", today=TODAY).resolved_key == "sf:C0007"
    assert_name_indexes_in_step(session)


def test_a_person_named_exactly_as_the_query_does_not_outrank_a_company(
    session: Session,
) -> None:
    add_customer(session, "sf:FOUNDATION", "Bruce Wayne Foundation")
    add_customer(session, "sf:WAYNE", "Wayne Enterprises")
    add_name(session, "sf:WAYNE", "Bruce Wayne", kind="contact")
    session.commit()
    result = find_customers(session, "Bruce Wayne", today=TODAY)
    assert result.resolved_key is None  # which of the two is meant is the rep's to say
    assert [(c.key, c.matched_as) for c in result.choices] == [
        ("sf:FOUNDATION", None),
        ("sf:WAYNE", ("contact", "Bruce Wayne")),
    ]
    # With no company matching by its words, the person's customer is the answer.
    assert find_customers(session, "Wayne Enterprises", today=TODAY).resolved_key == "sf:WAYNE"
    session.execute(delete(CustomerName).where(CustomerName.customer_key == "sf:FOUNDATION"))
    session.commit()
    assert find_customers(session, "Bruce Wayne", today=TODAY).resolved_key == "sf:WAYNE"
