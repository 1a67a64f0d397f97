"""Migrations build each revision's schema and nothing else; the store's upkeep brings the data
up to today's code at the head (bot/store/upkeep.py). A store built at any earlier revision
upgrades to the head with its customers grouped by today's rule, on both engines.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from bot.search import NAME_FOLDING_VERSION, find_customers
from bot.store import upkeep
from bot.store.customers import CUSTOMER_RULE_VERSION
from bot.store.db import create_store_engine, make_session_factory
from bot.store.models import Customer, CustomerName, License, Reconciliation, StoreMeta
from bot.store.queries import load_customer_licenses
from bot.store.schema import MIGRATIONS_DIR, head_revision, upgrade
from tests.helpers.postgres import ENGINES, fresh_postgres_database, wait_until_blocked

VERSIONS = MIGRATIONS_DIR / "versions"
TODAY = date(2026, 12, 7)
INITECH = "sf:0016100001AbCdEAAV"  # the 15-character id the old rows carry, converted
PIED_PIPER = "name:piedpiper@piedpiper.example"


def _revisions() -> list[str]:
    """Every revision, oldest first."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    scripts = ScriptDirectory.from_config(config)
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


def test_no_migration_imports_application_code() -> None:
    """A migration builds the schema of its day: importing the application's code (models, the
    customer rule, name folding) would make a fresh upgrade run today's code against an old
    schema. Imports inside functions count too."""
    offenders: list[str] = []
    for path in sorted(VERSIONS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                if module.split(".")[0] in ("bot", "handlers", "tests", "benchmarks"):
                    offenders.append(f"{path.name}:{node.lineno} imports {module}")
    assert not offenders, offenders
    assert len(list(VERSIONS.glob("0*.py"))) == len(_revisions())  # the walk saw every script


@contextmanager
def _empty_store(engine_name: str, tmp_path: Path, revision: str) -> Iterator[Engine | None]:
    if engine_name == "sqlite":
        engine = create_store_engine(f"sqlite:///{tmp_path / f'store-{revision}.sqlite3'}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    with fresh_postgres_database(f"rev{revision}", migrated=False) as url:
        if url is None:
            yield None
            return
        engine = create_store_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def _fill_at(engine: Engine, revision: str) -> None:
    """Rows as that revision's importer wrote them, in the columns every revision has (and a
    host in its revision's shape): keyed as the rule of its day keyed them."""
    licenses = [
        # id, customer key of the day, company, contact, email, trial, Salesforce id, sub
        (1, "sf:0016100001AbCdE", "Initech", "Bill Lumbergh", "bill@initech.example", False,
         "0016100001AbCdE", "A-S00000001"),
        (2, "name:initech", "Initech", "Peter Gibbons", "peter@initech.example", True, None,
         None),
        (3, "name:pied piper", "Pied Piper", "Richard Hendricks", "richard@piedpiper.example",
         True, None, None),
        (4, "name:piedpiper", "piedpiper", "Jared Dunn", "jared@piedpiper.example", True, None,
         None),
    ]  # fmt: skip
    with engine.begin() as connection:
        for key, name in (
            ("sf:0016100001AbCdE", "Initech"),
            ("name:initech", "Initech"),
            ("name:pied piper", "Pied Piper"),
            ("name:piedpiper", "piedpiper"),
        ):
            connection.execute(
                text("INSERT INTO customer (key, name, search_key) VALUES (:k, :n, :s)"),
                {"k": key, "n": name, "s": key.removeprefix("name:").removeprefix("sf:")},
            )
        for row in licenses:
            number, key, company, contact, email, trial, salesforce, subscription = row
            connection.execute(
                text(
                    "INSERT INTO license (id, customer_key, company, contact_name, contact_email,"
                    " contact_email_key, contact_email_domain, plan, user_count, trial,"
                    " starts_at, expires_at, salesforce_account_id, zuora_subscription_name)"
                    " VALUES (:id, :key, :company, :contact, :email, :email_key, :domain, 'premium',"
                    " 50, :trial, :starts, :expires, :sf, :sub)"
                ),
                {
                    "id": number,
                    "key": key,
                    "company": company,
                    "contact": contact,
                    "email": email,
                    "email_key": email,
                    "domain": email.rpartition("@")[2],
                    "trial": trial,
                    "starts": date(2026, 6, 1),
                    "expires": date(2027, 6, 1),
                    "sf": salesforce,
                    "sub": subscription,
                },
            )
        host_columns = "hostname, license_id, gitlab_version, active_user_count"
        host_values = "'gitlab.initech.example', 1, '17.0.0', 42"
        if revision >= "0007":  # an instance is keyed by its uuid, else its hostname
            host_columns, host_values = (
                f"instance_key, {host_columns}",
                f"'host:gitlab.initech.example', {host_values}",
            )
        connection.execute(text(f"INSERT INTO host ({host_columns}) VALUES ({host_values})"))
        connection.execute(
            text(
                "INSERT INTO reconciliation (id, customer_name, customer_search_key,"
                " subscription_name, status) VALUES (7, 'Initech', 'initech', 'A-S00000001',"
                " 'pending')"
            )
        )


@pytest.mark.parametrize("revision", _revisions()[:-1])
@pytest.mark.parametrize("engine_name", ENGINES)
def test_a_store_built_at_an_earlier_revision_upgrades_with_todays_rule(
    engine_name: str, revision: str, tmp_path: Path
) -> None:
    with _empty_store(engine_name, tmp_path, revision) as engine:
        if engine is None:
            pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL (scripts/start-postgres.sh)")
        upgrade(engine, revision)
        _fill_at(engine, revision)
        upgrade(engine)
        factory = make_session_factory(engine)
        with factory() as session:
            assert session.connection().dialect.name == engine_name
            grouping = dict(session.execute(select(License.id, License.customer_key)).all())
            # Today's rule: the trial joins Initech; the prospect's two spellings at one
            # company domain are one customer (rule 4b, which no older revision knew).
            assert grouping == {1: INITECH, 2: INITECH, 3: PIED_PIPER, 4: PIED_PIPER}
            assert set(session.scalars(select(Customer.key))) == {INITECH, PIED_PIPER}
            assert session.get(Reconciliation, 7).customer_key == INITECH
            # Every name indexed, the contacts' too; the versions recorded.
            names = set(session.scalars(select(CustomerName.search_key)))
            assert {"initech", "bill lumbergh", "pied piper", "piedpiper"} <= names
            meta = dict(session.execute(select(StoreMeta.key, StoreMeta.value)).all())
            assert meta["name_folding"] == NAME_FOLDING_VERSION
            assert meta["customer_rule"] == CUSTOMER_RULE_VERSION
            assert find_customers(session, "Lumbergh", today=TODAY).resolved_key == INITECH
            assert find_customers(session, "Initech", today=TODAY).resolved_key == INITECH
            card = load_customer_licenses(session, INITECH, today=TODAY)
            assert card is not None
            assert [h.hostname for h in card.hosts_by_license[1]] == ["gitlab.initech.example"]
            # An old key still finds the customer it became.
            assert load_customer_licenses(session, "name:piedpiper", today=TODAY) is not None
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT version_num FROM alembic_version")) == (
                head_revision()
            )


@pytest.mark.parametrize("engine_name", ENGINES)
def test_an_upgrade_of_an_up_to_date_store_changes_no_data(
    engine_name: str, tmp_path: Path
) -> None:
    with _upgraded_from_the_revision_before_the_head(engine_name, tmp_path) as engine:
        _upgrade_again_changes_nothing_until_a_version_is_stale(engine)


@contextmanager
def _upgraded_from_the_revision_before_the_head(
    engine_name: str, tmp_path: Path
) -> Iterator[Engine]:
    """A store filled at the revision before the head, then upgraded to it."""
    before_head = _revisions()[-2]
    with _empty_store(engine_name, tmp_path, before_head) as engine:
        if engine is None:
            pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL (scripts/start-postgres.sh)")
        upgrade(engine, before_head)
        _fill_at(engine, before_head)
        upgrade(engine)
        yield engine


def _upgrade_again_changes_nothing_until_a_version_is_stale(engine: Engine) -> None:
    session_factory = make_session_factory(engine)
    with session_factory() as session, session.begin():
        session.execute(update(Customer).values(name="Tampered By Hand"))
    upgrade(engine)  # the schema and the versions are the code's: the upkeep has nothing to do
    with session_factory() as session:
        assert set(session.scalars(select(Customer.name))) == {"Tampered By Hand"}
        session.execute(update(StoreMeta).where(StoreMeta.key == "customer_rule").values(value="0"))
        session.commit()
    upgrade(engine)  # a stale rule version: regrouped, once
    with session_factory() as session:
        assert "Tampered By Hand" not in set(session.scalars(select(Customer.name)))


@pytest.mark.parametrize("second_is", ["an import's upkeep", "db upgrade"])
@pytest.mark.parametrize("engine_name", ENGINES)
def test_two_processes_finding_the_store_stale_take_turns(
    engine_name: str, second_is: str, tmp_path: Path
) -> None:
    """Two instances starting at once (or an import beside a release's upgrade) both find the
    rule version stale: the second waits for the first's commit and finds nothing left to do,
    instead of failing on the versions the first wrote (PostgreSQL: a duplicate key; SQLite:
    a snapshot that can no longer write, `db upgrade` having read before it wrote)."""
    with _upgraded_from_the_revision_before_the_head(engine_name, tmp_path) as engine:
        with engine.begin() as connection:
            connection.execute(
                update(StoreMeta).where(StoreMeta.key == "customer_rule").values(value="0")
            )
        domains = upkeep.public_email_domains()
        second: dict[str, object] = {}

        def second_instance() -> None:
            try:
                if second_is == "db upgrade":
                    upgrade(engine)
                    second["stale"] = upkeep.Upkeep()  # no error: whatever was left, done
                    return
                with engine.begin() as connection:
                    second["stale"], _ = upkeep.bring_store_up_to_date(connection, domains)
            except Exception as error:  # reported to the test's thread below
                second["error"] = error

        with engine.begin() as connection:
            first_stale, _ = upkeep.bring_store_up_to_date(connection, domains)
            assert first_stale.rule_changed
            thread = threading.Thread(target=second_instance)
            thread.start()
            wait_until_blocked(engine, thread, second)
        thread.join(timeout=30)
        assert "error" not in second, second.get("error")
        assert second["stale"] == upkeep.Upkeep()  # the first did it all


@pytest.mark.parametrize("engine_name", ENGINES)
def test_the_claims_move_runs_again_and_leaves_the_old_table_for_the_old_workers(
    engine_name: str, tmp_path: Path
) -> None:
    """Migration 0010 copies the claims to the audit schema and keeps the old table, which the
    previous release's workers write to until they stop; on SQLite the two files do not commit
    as one, so a copy a crash left half done must not stop it running again."""
    with _empty_store(engine_name, tmp_path, "0009") as engine:
        if engine is None:
            pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL (scripts/start-postgres.sh)")
        upgrade(engine, "0009")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO processed_event (event_id, received_at)"
                    " VALUES ('sig:old', '2026-12-07 10:00:00'), ('EvOld', '2026-12-07 10:00:01')"
                )
            )
            # What a crash between the two files' commits would leave behind on SQLite.
            connection.execute(
                text(
                    "CREATE TABLE audit.processed_event (event_id VARCHAR(64) NOT NULL"
                    " PRIMARY KEY, received_at TIMESTAMP NOT NULL)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO audit.processed_event (event_id, received_at)"
                    " VALUES ('sig:old', '2026-12-07 10:00:00')"
                )
            )
        upgrade(engine, "0010")
        with engine.connect() as connection:
            moved = connection.scalars(
                text("SELECT event_id FROM audit.processed_event ORDER BY event_id")
            ).all()
            kept = connection.scalar(text("SELECT count(*) FROM processed_event"))
        assert moved == ["EvOld", "sig:old"]
        assert kept == 2  # the old workers' table, until a later release drops it


def _downgrade(engine: Engine, revision: str) -> None:
    """Alembic's downgrade on the engine (bot.store.schema upgrades only: a release never goes
    back, but an operator rolling one back runs the downgrade)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


@pytest.mark.parametrize("engine_name", ENGINES)
def test_the_record_of_syncs_comes_with_0012_and_goes_with_its_downgrade(
    engine_name: str, tmp_path: Path
) -> None:
    """Migration 0012 makes `sync_state` and `sync_lease` in the main schema; its downgrade
    drops them, rows and all, and the store upgrades again."""
    sync_tables = {"sync_state", "sync_lease"}
    with _empty_store(engine_name, tmp_path, "0011") as engine:
        if engine is None:
            pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL (scripts/start-postgres.sh)")
        upgrade(engine, "0011")
        _fill_at(engine, "0011")
        assert not sync_tables & set(inspect(engine).get_table_names())
        upgrade(engine, "0012")
        assert sync_tables <= set(inspect(engine).get_table_names())
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO sync_state (kind, source, last_attempt_at, last_outcome)"
                    " VALUES ('licenses', 'https://exports.example/licenses.csv',"
                    " '2026-12-07 06:00:00', 'running')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO sync_lease (id, holder, acquired_at, expires_at)"
                    " VALUES (1, 'worker-a', '2026-12-07 06:00:00', '2026-12-07 06:10:00')"
                )
            )
        with pytest.raises(IntegrityError), engine.begin() as connection:  # one row, ever
            connection.execute(
                text(
                    "INSERT INTO sync_lease (id, holder, acquired_at, expires_at)"
                    " VALUES (2, 'worker-b', '2026-12-07 06:00:00', '2026-12-07 06:10:00')"
                )
            )
        _downgrade(engine, "0011")
        assert not sync_tables & set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT version_num FROM alembic_version")) == "0011"
            assert connection.scalar(text("SELECT count(*) FROM license")) == 4  # data stays
        upgrade(engine)
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM sync_state")) == 0
