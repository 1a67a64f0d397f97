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
