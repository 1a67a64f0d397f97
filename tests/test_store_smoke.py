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
