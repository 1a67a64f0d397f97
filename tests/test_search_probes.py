"""Which name-search statements a query runs (bot.search._name_candidates), on both engines.

The costly statement is the fuzzy trigram probe: the engine ranks every name sharing a trigram
with the query (SQLite FTS5 `ORDER BY rank`, PostgreSQL pg_trgm `similarity`), thousands of
names when names share words. Cheaper, LIMITed probes answer most queries first; these tests
pin which queries may reach the ranked probe. Results are asserted in tests/test_search.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from bot.search import CANDIDATE_LIMIT, company_search_key, find_customers
from bot.store.models import Customer

# A statement with one of these ranks every trigram match before returning the first.
RANKED_PROBE_MARKERS = ("ORDER BY rank", "similarity(")
# A statement with one of these reads a trigram index (FTS5 MATCH, pg_trgm LIKE '%x%' or `%`).
TRIGRAM_PROBE_MARKERS = ("MATCH", " LIKE ", *RANKED_PROBE_MARKERS)


@contextmanager
def captured_statements(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def capture(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def with_marker(statements: list[str], markers: tuple[str, ...]) -> list[str]:
    return [s for s in statements if any(marker in s for marker in markers)]


@pytest.fixture
def shared_words(session: Session) -> Session:
    """More names per word than a probe's LIMIT, all sharing their words (as in datagen)."""
    for number in range(CANDIDATE_LIMIT + 20):
        for first, second in (("Mesa", "Media"), ("Mesa", "Labs"), ("Acme", "Media")):
            name = f"{first} {second} {number}"
            session.add(
                Customer(key=f"name:{name}", name=name, search_key=company_search_key(name))
            )
    session.add(Customer(key="sf:INITECH", name="Initech", search_key="initech"))
    session.commit()
    return session


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
        result = find_customers(shared_words, query)
    assert result.choices[0].key == expected_key
    assert with_marker(statements, RANKED_PROBE_MARKERS) == []


@pytest.mark.parametrize("query", ["Mesa Media 117", "mesa", "mesa l", "acm"])
def test_an_exact_key_or_a_full_key_range_reads_no_trigram_index(
    engine: Engine, shared_words: Session, query: str
) -> None:
    with captured_statements(engine) as statements:
        result = find_customers(shared_words, query)
    assert result.choices
    assert with_marker(statements, TRIGRAM_PROBE_MARKERS) == []


@pytest.mark.parametrize(
    ("query", "expected_key"), [("initek", "sf:INITECH"), ("inittech", "sf:INITECH")]
)
def test_a_one_word_typo_falls_back_to_the_ranked_probe(
    engine: Engine, shared_words: Session, query: str, expected_key: str
) -> None:
    # Nothing starts with or contains it, and there is no other word to match exactly.
    with captured_statements(engine) as statements:
        result = find_customers(shared_words, query)
    assert result.choices[0].key == expected_key
    assert len(with_marker(statements, RANKED_PROBE_MARKERS)) == 1
