"""The name vocabulary (`search_word`, migration 0006) follows the customers every way they are
written: each import path, the demo, and the migration's fill of an existing store.

bot.search corrects a misspelt query word against it; a word missing from it sends a typo back
to the costly fuzzy probe (tests/search/test_search_probes.py), so it must not fall behind.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.demo import load_demo
from bot.search import find_customers, search_words
from bot.store.models import CustomerName, SearchWord
from bot.store.schema import MIGRATIONS_DIR, upgrade
from tests.helpers.import_files import UNSUBSCRIBED, import_licenses, license_row, licenses_file
from tests.helpers.sql_capture import captured_statements


def vocabulary(factory: sessionmaker[Session]) -> set[str]:
    with factory() as session:
        return set(session.scalars(select(SearchWord.word)))


def customers_words(factory: sessionmaker[Session]) -> set[str]:
    """The words of every name a customer is known by (the name index)."""
    with factory() as session:
        keys = session.scalars(select(CustomerName.search_key)).all()
    return set().union(*(search_words(key) for key in keys))


def ranked_name_probes(statements: list[str]) -> list[str]:
    return [
        s
        for s in statements
        if ("ORDER BY rank" in s or "similarity(" in s) and "search_word" not in s
    ]


TODAY = date(2026, 11, 27)
COMPANIES = ["Acme Inc.", "Globex 2500 Corporation", "Société Générale S.A.", "AB Volvo", "Q7 Labs"]


def test_an_import_adds_its_customers_name_words(session_factory, tmp_path: Path) -> None:
    rows = [
        license_row(n, company=company, **UNSUBSCRIBED)
        for n, company in enumerate(COMPANIES, start=1)
    ]
    import_licenses(session_factory, licenses_file(tmp_path, rows))
    # No digits ("2500", "q7"), nothing under three letters ("ab"), no legal forms; and the
    # contact's name (Jane Doe), a name the customers are known by too.
    assert vocabulary(session_factory) == {
        "acme",
        "globex",
        "societe",
        "generale",
        "volvo",
        "labs",
        "jane",
        "doe",
    }


def test_a_renamed_customer_adds_its_new_words_and_its_old_ones_stay(
    engine: Engine, session_factory, tmp_path: Path
) -> None:
    import_licenses(session_factory, licenses_file(tmp_path, [license_row(1, company="Initech")]))
    renamed = [license_row(1, company="Initrode Systems")]
    import_licenses(session_factory, licenses_file(tmp_path, renamed, name="renamed.csv"))
    assert customers_words(session_factory) == {"initrode", "systems", "jane", "doe"}
    # "initech" names nobody now: a query corrected to it finds nothing and falls through.
    assert vocabulary(session_factory) == {"initech", "initrode", "systems", "jane", "doe"}
    with captured_statements(engine) as statements, session_factory() as session:
        result = find_customers(session, "initrodde", today=TODAY)
    assert [choice.name for choice in result.choices] == ["Initrode Systems"]
    assert ranked_name_probes(statements) == []


def test_a_typo_of_an_imported_word_is_corrected_without_ranking_names(
    engine: Engine, session_factory, tmp_path: Path
) -> None:
    # On SQLite the vocabulary's FTS5 table is filled by triggers as the importer inserts.
    rows = [license_row(n, company=f"Monarch Labs {n}", **UNSUBSCRIBED) for n in range(1, 6)]
    import_licenses(session_factory, licenses_file(tmp_path, rows))
    with captured_statements(engine) as statements, session_factory() as session:
        result = find_customers(session, "Moonarch", today=TODAY)
    assert len(result.choices) == 5
    assert ranked_name_probes(statements) == []


def test_the_demo_keeps_the_vocabulary_in_step(session_factory) -> None:
    load_demo(session_factory, datetime.now(UTC).date())
    words = customers_words(session_factory)
    assert words
    assert vocabulary(session_factory) == words


def test_the_migration_fills_the_vocabulary_of_an_existing_store(
    engine: Engine, session_factory
) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")  # a store from before the vocabulary
    with session_factory() as session:
        # In 0005's columns (the models are the head's); each customer has its license, which
        # migration 0007 regroups by.
        for number, (name, search_key) in enumerate(
            [("Initech LLC", "initech"), ("Mesa Media 7", "mesa media 7")], start=1
        ):
            session.execute(
                text("INSERT INTO customer (key, name, search_key) VALUES (:key, :name, :search)"),
                {"key": f"name:{search_key}", "name": name, "search": search_key},
            )
            session.execute(
                text(
                    "INSERT INTO license (id, customer_key, company, plan, trial)"
                    " VALUES (:id, :key, :name, 'premium', false)"
                ),
                {"id": number, "key": f"name:{search_key}", "name": name},
            )
        session.commit()
    upgrade(engine)
    assert vocabulary(session_factory) == {"initech", "mesa", "media"}
    with session_factory() as session:
        result = find_customers(session, "initek", today=TODAY)
    assert [choice.name for choice in result.choices] == ["Initech LLC"]
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            matched = connection.execute(
                text(
                    "SELECT count(*) FROM search_word_trigram WHERE search_word_trigram MATCH 'esa'"
                )
            ).scalar()
        assert matched == 1
