"""Which name-search statements a query runs (bot.search.probes._name_candidates), on both engines.

The costly statement is the fuzzy trigram probe: the engine ranks every name sharing a trigram
with the query (SQLite FTS5 `ORDER BY rank`, PostgreSQL pg_trgm `similarity`), thousands of
names when names share words. Cheaper, LIMITed probes answer most queries first, then misspelt
words corrected against the vocabulary of name words (`search_word`); these tests pin which
queries may reach the ranked probe. Results are asserted in tests/search/test_search.py.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from bot.search import CANDIDATE_LIMIT, company_search_key, find_customers, search_words
from bot.search.probes import (
    _POSTGRESQL_PROBES,
    _SQLITE_PROBES,
    COMPANY_NAMES,
    CONTACT_NAMES,
    _TrigramProbes,
)
from bot.search.ranking import _rank_names
from bot.store.models import CustomerName, SearchWord
from tests.helpers.sql_capture import captured_executions, captured_statements
from tests.helpers.store_rows import add_customer, add_name

# A statement with one of these ranks every trigram match before returning the first.
TODAY = date(2026, 11, 27)
RANKED_PROBE_MARKERS = ("ORDER BY rank", "similarity(")
# A statement with one of these reads a trigram index (FTS5 MATCH, pg_trgm LIKE '%x%' or `%`).
TRIGRAM_PROBE_MARKERS = ("MATCH", " LIKE ", *RANKED_PROBE_MARKERS)


def with_marker(statements: list[str], markers: tuple[str, ...]) -> list[str]:
    """Statements on names with a marker; the vocabulary's own ranking (search_word: a few
    thousand words, not every name) does not count."""
    return [
        s for s in statements if any(marker in s for marker in markers) and "search_word" not in s
    ]


@pytest.fixture
def shared_words(session: Session) -> Session:
    """More names per word than a probe's LIMIT, all sharing their words (as in datagen)."""
    for number in range(CANDIDATE_LIMIT + 20):
        for first, second in (("Mesa", "Media"), ("Mesa", "Labs"), ("Acme", "Media")):
            name = f"{first} {second} {number}"
            add_customer(session, f"name:{name}", name)
    add_customer(session, "sf:INITECH", "Initech")
    session.commit()
    return session


@pytest.fixture
def with_vocabulary(shared_words: Session) -> Session:
    """The names' words in the vocabulary, as the importer keeps it."""
    keys = shared_words.scalars(select(CustomerName.search_key)).all()
    words = set().union(*(search_words(key) for key in keys))
    shared_words.add_all(SearchWord(word=word) for word in sorted(words))
    shared_words.commit()
    return shared_words


@pytest.mark.parametrize(
    ("query", "expected_key"),
    [
        ("Mese Media 117", "name:Mesa Media 117"),
        ("Mesa Madia 117", "name:Mesa Media 117"),
        ("acme media 117 holdigns", "name:Acme Media 117"),
    ],
)
def test_a_typo_in_one_word_skips_the_ranked_probe(
    engine: Engine, shared_words: Session, query: str, expected_key: str
) -> None:
    with captured_statements(engine) as statements:
        result = find_customers(shared_words, query, today=TODAY)
    assert result.choices[0].key == expected_key
    assert with_marker(statements, RANKED_PROBE_MARKERS) == []


@pytest.mark.parametrize("query", ["Mesa Media 117", "mesa", "mesa l", "acm"])
def test_an_exact_key_or_a_full_key_range_reads_no_trigram_index(
    engine: Engine, shared_words: Session, query: str
) -> None:
    with captured_statements(engine) as statements:
        result = find_customers(shared_words, query, today=TODAY)
    assert result.choices
    assert with_marker(statements, TRIGRAM_PROBE_MARKERS) == []


@pytest.mark.parametrize(
    ("query", "expected_key"),
    [
        ("initek", "sf:INITECH"),
        ("inittech", "sf:INITECH"),
        ("meesa", "name:Mesa Labs 0"),  # a word of thousands of names, as in the benchmark
        ("mese medai 117", "name:Mesa Media 117"),  # typos in two words
        ("acmme meddia", "name:Acme Media 0"),
    ],
)
def test_misspelt_words_are_corrected_by_the_vocabulary_not_the_ranked_probe(
    engine: Engine, with_vocabulary: Session, query: str, expected_key: str
) -> None:
    with captured_statements(engine) as statements:
        result = find_customers(with_vocabulary, query, today=TODAY)
    assert expected_key in [choice.key for choice in result.choices]
    assert with_marker(statements, RANKED_PROBE_MARKERS) == []
    assert any("search_word" in statement for statement in statements)


@pytest.mark.parametrize(
    ("query", "expected_key"), [("initek", "sf:INITECH"), ("inittech", "sf:INITECH")]
)
def test_without_a_vocabulary_a_one_word_typo_falls_back_to_the_ranked_probe(
    engine: Engine, shared_words: Session, query: str, expected_key: str
) -> None:
    # A store whose vocabulary lacks the word: nothing starts with or contains the query,
    # there is no other word to match exactly, and no word to correct it to.
    with captured_statements(engine) as statements:
        result = find_customers(shared_words, query, today=TODAY)
    assert result.choices[0].key == expected_key
    assert len(with_marker(statements, RANKED_PROBE_MARKERS)) == 1


def test_a_stale_vocabulary_word_falls_through_to_the_ranked_probe(
    engine: Engine, with_vocabulary: Session
) -> None:
    # "initeck" is left from a renamed customer; the nearest word to "initeckk" names nobody.
    with_vocabulary.execute(delete(SearchWord).where(SearchWord.word == "initech"))
    with_vocabulary.add(SearchWord(word="initeck"))
    with_vocabulary.commit()
    with captured_statements(engine) as statements:
        result = find_customers(with_vocabulary, "initeckk", today=TODAY)
    assert result.choices[0].key == "sf:INITECH"
    assert len(with_marker(statements, RANKED_PROBE_MARKERS)) == 1


def test_a_word_of_some_name_is_not_corrected(engine: Engine, with_vocabulary: Session) -> None:
    # Every word is a vocabulary word: no name has them together, and no correction is tried.
    with captured_statements(engine) as statements:
        find_customers(with_vocabulary, "initech mesa labs", today=TODAY)
    assert len(with_marker(statements, RANKED_PROBE_MARKERS)) == 1


def test_a_word_too_long_for_any_name_is_not_sent_to_the_vocabulary(
    engine: Engine, with_vocabulary: Session
) -> None:
    # SQLite's vocabulary probe pairs the word's trigrams: 200 letters made ~20,000 clauses and
    # took over a second. No name word is that long, so there is nothing to correct it to.
    with captured_statements(engine) as statements:
        result = find_customers(with_vocabulary, "initech" + "q" * 193, today=TODAY)
    assert not any("search_word" in statement for statement in statements)
    assert result.choices == () or result.choices[0].key == "sf:INITECH"


@pytest.mark.parametrize("query", ["Elizabeth Wang", "Wang"])
def test_a_persons_name_skips_the_corrected_and_ranked_probes(
    engine: Engine, with_vocabulary: Session, query: str
) -> None:
    """A contact named by the query ranks above any company guess: the vocabulary and the
    ranked fuzzy probe (the costliest statements, 35 ms at 1M names) are not run for it."""
    for number in range(3):
        add_name(with_vocabulary, f"name:Mesa Media {number}", "Elizabeth Wang", kind="contact")
    with_vocabulary.commit()
    with captured_statements(engine) as statements:
        result = find_customers(with_vocabulary, query, today=TODAY)
    assert {c.matched_as for c in result.choices} == {("contact", "Elizabeth Wang")}
    assert with_marker(statements, RANKED_PROBE_MARKERS) == []
    assert not [s for s in statements if "search_word" in s]


def _reads_people(statement: str) -> bool:
    return CONTACT_NAMES.predicate in statement or CONTACT_NAMES.sqlite_index in statement


@pytest.fixture
def first_words_shared(with_vocabulary: Session) -> Session:
    """Fewer names than a probe's LIMIT start with "Stark Wayne", but more customers than a
    pick list shows; "Wayne Labs" is inside them all; a contact and names sharing one word
    are there to be outranked."""
    for number in range(30):
        name = f"Stark Wayne Labs {number}"
        add_customer(with_vocabulary, f"name:{name}", name)
        add_name(with_vocabulary, f"name:{name}", f"{name} Incorporated", kind="company")
    for number in range(5):
        add_customer(with_vocabulary, f"name:Wayne Stark {number}", f"Wayne Stark {number}")
        add_customer(with_vocabulary, f"name:Stark Labs {number}", f"Stark Labs {number}")
    add_name(with_vocabulary, "sf:INITECH", "Stark Wayne", kind="contact")
    with_vocabulary.commit()
    return with_vocabulary


@pytest.mark.parametrize(
    ("query", "limit"),
    [("Stark Wayne", 8), ("stark wayne ", 8), ("Wayne Labs", 8), ("Stark Wayne", 24)],
)
def test_the_first_words_of_enough_names_stop_before_the_costly_probes(
    engine: Engine, first_words_shared: Session, query: str, limit: int
) -> None:
    """Once the names containing the query are more customers than the caller shows, no later
    probe could place a customer among them: the people's names, the all-but-one-word, the
    vocabulary and the ranked probes are not run, and the page is what ranking every
    candidate gives."""
    with captured_statements(engine) as statements:
        result = find_customers(first_words_shared, query, today=TODAY, limit=limit)
    assert with_marker(statements, RANKED_PROBE_MARKERS) == []
    assert not [s for s in statements if "search_word" in s or _reads_people(s)]
    everything = _rank_names(first_words_shared, company_search_key(query), query)
    assert [choice.key for choice in result.choices] == [c.key for c in everything[:limit]]
    assert result.has_more
    assert all("Stark Wayne Labs" in choice.name for choice in result.choices)


def test_fewer_customers_than_a_page_still_run_every_probe(
    engine: Engine, first_words_shared: Session
) -> None:
    # 30 customers' names start with it; a page of 40 is not full: the people's names, the
    # all-but-one-word and ranked probes still run, and their finds follow on the page.
    with captured_statements(engine) as statements:
        result = find_customers(first_words_shared, "Stark Wayne", today=TODAY, limit=40)
    assert [s for s in statements if _reads_people(s)]
    keys = [choice.key for choice in result.choices]
    assert keys[:30] == [c.key for c in _rank_names(first_words_shared, "stark wayne")[:30]]
    assert "sf:INITECH" in keys  # the contact named "Stark Wayne", after every company


@pytest.fixture
def few_with_every_word(with_vocabulary: Session) -> Session:
    """Three names with the words "stark", "wayne" and "labs", among more names with two of
    them, and more with one, than a probe's LIMIT."""
    for number in range(3):
        add_customer(
            with_vocabulary, f"name:Stark Wayne Labs {number}", f"Stark Wayne Labs {number}"
        )
    for number in range(CANDIDATE_LIMIT + 10):
        add_customer(with_vocabulary, f"name:Stark Wayne {number}", f"Stark Wayne Media {number}")
        add_customer(with_vocabulary, f"name:Wayne Data {number}", f"Wayne Data {number}")
    with_vocabulary.commit()
    return with_vocabulary


@pytest.mark.parametrize("query", ["Stark Wayne La", "Stark Wayne Labs", "labs wayne stark"])
def test_few_names_with_every_word_skip_the_ranked_probe(
    engine: Engine, few_with_every_word: Session, query: str
) -> None:
    """A name's first words and the start of the next, or its words in another order: the
    names with every word lead, found without ranking every name sharing a trigram."""
    with captured_statements(engine) as statements:
        result = find_customers(few_with_every_word, query, today=TODAY)
    assert with_marker(statements, RANKED_PROBE_MARKERS) == []
    assert [choice.key for choice in result.choices[:3]] == [
        f"name:Stark Wayne Labs {number}" for number in range(3)
    ]


@pytest.mark.parametrize(("query", "union_runs"), [("edia 117", 0), ("edia", 1)])
def test_word_starts_are_read_apart_only_when_the_names_containing_the_query_fill_the_probe(
    engine: Engine, shared_words: Session, query: str, union_runs: int
) -> None:
    # Below the LIMIT, the names containing the query are every match, word starts included:
    # the word-start scan (an FTS5 phrase, a pg_trgm GIN scan, as costly as the first) would
    # find none more. A full probe is read again with the word starts LIMITed on their own, so
    # they are not crowded out (tests/search/test_search.py: a four-letter prefix lists the
    # names starting with it).
    with captured_statements(engine) as statements:
        result = find_customers(shared_words, query, today=TODAY)
    assert result.choices
    if engine.dialect.name == "sqlite":
        both = [s for s in statements if s.count("customer_name_search MATCH") == 2]
    else:
        both = [s for s in statements if " UNION " in s and " LIKE " in s and not _reads_people(s)]
    assert len(both) == union_runs


def engine_probes(engine: Engine) -> _TrigramProbes:
    return _SQLITE_PROBES if engine.dialect.name == "sqlite" else _POSTGRESQL_PROBES


@pytest.fixture
def phrases(session: Session) -> Session:
    """Names holding a phrase's words, together, apart, in another order, inside a word."""
    for number, name in enumerate(
        [
            "Soylent Acme Systems",
            "Big Soylent Acme Sys",
            "Soylent Big Acme Systems",
            "Acme Soylent Systems",
            "Soylent Acmesy",
        ]
    ):
        add_customer(session, f"name:{number}", f"{name} {number}")
    for number, contact in enumerate(
        ["Elizabeth Wang", "Mary Elizabeth Wangari", "Wang Elizabeth", "Maryelizabeth Wang"]
    ):
        add_name(session, f"name:{number}", contact, kind="contact")
    session.commit()
    return session


def matched_keys(rows: list[tuple[str, ...]]) -> set[str]:
    return {row[0] for row in rows}


def test_a_phrase_of_several_words_is_found_whole(engine: Engine, phrases: Session) -> None:
    # PostgreSQL looks a phrase up by its words (pg_trgm's padded trigrams of '  a', '  s' are
    # every name's) and checks it whole: the names holding the words apart are not matches.
    probes = engine_probes(engine)
    assert matched_keys(probes.containing(phrases, COMPANY_NAMES, "soylent acme sy")) == {
        "name:0",
        "name:1",
    }
    every_word = probes.with_all_words_of_any(phrases, COMPANY_NAMES, [["soylent", "acme sy"]])
    assert matched_keys(every_word) == {"name:0", "name:1", "name:2"}
    people = probes.starting_or_containing(phrases, CONTACT_NAMES, "elizabeth wang")
    assert {row[3] for row in people} == {"Elizabeth Wang", "Mary Elizabeth Wangari"}


def test_a_full_probe_still_finds_a_phrase_starting_a_word(
    engine: Engine, shared_words: Session
) -> None:
    # More names hold "esa media" inside a word than the probe's LIMIT: the word-start scan,
    # by the phrase's words and the phrase with its leading space, finds the one that starts so.
    add_customer(shared_words, "name:Big Esa Media", "Big Esa Media")
    shared_words.commit()
    result = find_customers(shared_words, "esa media", today=TODAY)
    assert result.choices[0].key == "name:Big Esa Media"


def _vocabulary_probes(executions: list[tuple[str, Any]]) -> list[str]:
    """The vocabulary statements run: "ranked" (FTS5 orders the words sharing two trigrams by
    bm25) or "unranked" (the words sharing any one, picked from in Python)."""
    return [
        "ranked" if "ORDER BY rank" in statement else "unranked"
        for statement, _ in executions
        if "search_word" in statement
    ]


def test_sqlite_ranks_the_vocabulary_only_when_more_words_than_its_limit_share_two_trigrams(
    engine: Engine, with_vocabulary: Session
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's FTS5 vocabulary probe")
    with captured_executions(engine) as executions:
        result = find_customers(with_vocabulary, "initek", today=TODAY)
    assert result.choices[0].key == "sf:INITECH"
    assert _vocabulary_probes(executions) == ["unranked"]
    # More words than the ranked probe returns share two trigrams with "initek" ("  i", " in",
    # "ini", "nit"): which of them it hands back is bm25's to say, so it is asked.
    with_vocabulary.add_all(
        SearchWord(word=f"init{first}{second}")
        for first in "abcdfg"
        for second in "abcdfghijklm"
        if f"{first}{second}" != "ec"
    )
    with_vocabulary.commit()
    with captured_executions(engine) as executions:
        result = find_customers(with_vocabulary, "initek", today=TODAY)
    assert result.choices[0].key == "sf:INITECH"
    assert _vocabulary_probes(executions) == ["unranked", "ranked"]


def test_sqlite_leaves_a_vocabulary_word_it_would_fold_to_fts5(
    engine: Engine, with_vocabulary: Session
) -> None:
    # FTS5 matches trigrams case-insensitively; a word not folded already is not compared in
    # Python (whose folding may not be FTS5's), the engine's own ranking decides.
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's FTS5 vocabulary probe")
    with_vocabulary.add(SearchWord(word="INITECK"))
    with_vocabulary.commit()
    with captured_executions(engine) as executions:
        result = find_customers(with_vocabulary, "initek", today=TODAY)
    assert result.choices[0].key == "sf:INITECH"
    assert _vocabulary_probes(executions) == ["unranked", "ranked"]


def _company_matches(executions: list[tuple[str, Any]]) -> list[str]:
    """The FTS5 expressions the single-expression probes of the companies' names were given."""
    return [
        parameters[0]
        for statement, parameters in executions
        if statement.count("customer_name_search MATCH") == 1 and "ORDER BY rank" not in statement
    ]


def test_sqlite_picks_the_names_containing_the_query_from_those_with_every_word(
    engine: Engine, few_with_every_word: Session
) -> None:
    # "stark wayne la": the three names with every word are read once (the all-but-one probe
    # fills, so they are needed anyway), and those containing the query picked from them.
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's FTS5 probes")
    with captured_executions(engine) as executions:
        result = find_customers(few_with_every_word, "Stark Wayne La", today=TODAY)
    assert _company_matches(executions) == [
        '("stark" AND "wayne la")',
        '("wayne") OR ("stark")',
    ]
    assert [choice.key for choice in result.choices[:3]] == [
        f"name:Stark Wayne Labs {number}" for number in range(3)
    ]


def test_sqlite_reads_the_names_containing_the_query_when_those_with_every_word_fill_the_probe(
    engine: Engine, few_with_every_word: Session
) -> None:
    # More names hold "data" and "wayne" than the probe's LIMIT: the names containing "data
    # wayne" cannot be picked from them, and are read; the all-but-one probe fills too, and
    # the names with every word already read are not read again.
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's FTS5 probes")
    with captured_executions(engine) as executions:
        result = find_customers(few_with_every_word, "data wayne", today=TODAY)
    assert _company_matches(executions) == [
        '("data" AND "wayne")',
        '"data wayne"',
        '("wayne") OR ("data")',
    ]
    everything = _rank_names(few_with_every_word, "data wayne", "data wayne")
    assert [choice.key for choice in result.choices] == [c.key for c in everything[:8]]


def test_both_engines_pick_the_names_containing_the_query_from_those_with_every_word(
    engine: Engine, few_with_every_word: Session
) -> None:
    # "stark wayne la" on either engine: the key range, the names with every word (read once:
    # those containing the query are picked from them, where PostgreSQL read the phrase in a
    # statement of its own), the people's names, the all-but-one probe, and the pick list's
    # customers and licenses.
    with captured_statements(engine) as statements:
        result = find_customers(few_with_every_word, "Stark Wayne La", today=TODAY)
    assert len(statements) == 6, statements
    assert [choice.key for choice in result.choices[:3]] == [
        f"name:Stark Wayne Labs {number}" for number in range(3)
    ]
