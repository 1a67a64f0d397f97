from datetime import UTC, datetime

from sqlalchemy import select

from bot.store.models import AuditEvent, Customer
from bot.store.schema import is_up_to_date, upgrade


def test_migrated_store_round_trips_rows_and_aware_timestamps(engine, session):
    assert is_up_to_date(engine)
    upgrade(engine)  # idempotent
    at = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    session.add(Customer(key="name:acme", name="Acme", search_key="acme"))
    session.add(AuditEvent(at=at, surface="/license", outcome="ok", result_count=1))
    session.commit()
    session.expire_all()
    assert session.scalars(select(AuditEvent.at)).one() == at
    assert session.get(Customer, "name:acme").name == "Acme"


def test_models_and_migrations_describe_the_same_schema(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from bot.store.models import Base
    from bot.store.schema import include_object

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_schemas": True, "include_object": include_object}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_concurrent_upgrades_of_a_fresh_postgres_database_take_turns():
    from concurrent.futures import ThreadPoolExecutor

    from bot.store.db import create_store_engine
    from bot.store.schema import head_revision
    from tests.helpers.postgres import fresh_postgres_database

    with fresh_postgres_database("concurrent_upgrade") as url:
        if url is None:
            import pytest

            pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL")
        engine = create_store_engine(url)
        with engine.begin() as connection:  # back to an empty database
            connection.exec_driver_sql(
                "DROP SCHEMA public CASCADE; CREATE SCHEMA public; DROP SCHEMA audit CASCADE"
            )
        # lock_timeout bounds the test: without the advisory lock the upgrades block each other
        # on catalog locks, and this turns that hang into a failure (the lock waits in turn).
        engines = [
            create_store_engine(url, connect_args={"options": "-c lock_timeout=20000"})
            for _ in range(4)
        ]
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(upgrade, engines))
        assert all(is_up_to_date(e) for e in engines)
        assert head_revision() is not None
        for e in [engine, *engines]:
            e.dispose()
