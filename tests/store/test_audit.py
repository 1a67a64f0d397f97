"""Audit rows: written in their own transaction, never blocked by an import, read back per user."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.store.audit import AuditEntry, recent_lookups, record_audit
from bot.store.db import is_sqlite
from bot.store.models import AuditEvent, Customer

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_record_audit_writes_one_committed_row(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    entry = AuditEntry(
        surface="/license",
        outcome="ok",
        user_id="U1",
        team_id="T1",
        enterprise_id="E1",
        channel_id="C1",
        query="acme",
        result_count=3,
        reason="email_domain",
    )
    record_audit(session_factory, entry, now=AT)

    row = session.scalars(select(AuditEvent)).one()
    assert (row.at, row.surface, row.outcome, row.query, row.result_count) == (
        AT,
        "/license",
        "ok",
        "acme",
        3,
    )
    assert (row.user_id, row.team_id, row.enterprise_id, row.channel_id, row.reason) == (
        "U1",
        "T1",
        "E1",
        "C1",
        "email_domain",
    )


def test_record_audit_stamps_the_current_time_when_not_given(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    before = datetime.now(UTC)
    record_audit(session_factory, AuditEntry(surface="/recon", outcome="denied"))
    at = session.scalars(select(AuditEvent.at)).one()
    assert before - timedelta(seconds=1) <= at <= datetime.now(UTC) + timedelta(seconds=1)


def test_long_ids_are_clipped_to_the_columns(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    # An action id may be 255 characters; the surface column holds 64.
    record_audit(session_factory, AuditEntry(surface="link:" + "x" * 250, outcome="denied"))
    assert session.scalars(select(AuditEvent.surface)).one() == "link:" + "x" * 59


def test_every_clipped_column_is_clipped_to_the_models_width(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    """The widths come from AuditEvent: change a column's length and the clipping follows."""
    from bot.store.models import column_width

    clipped = ("user_id", "team_id", "enterprise_id", "channel_id", "surface", "reason")
    record_audit(
        session_factory,
        AuditEntry(outcome="denied", **{name: "y" * 300 for name in clipped}),  # type: ignore[arg-type]
    )
    row = session.scalars(select(AuditEvent)).one()
    for name in clipped:
        assert getattr(row, name) == "y" * column_width(getattr(AuditEvent, name)), name


def test_record_audit_logs_no_query_text(
    session_factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.store.audit")
    record_audit(
        session_factory,
        AuditEntry(surface="/license", outcome="ok", user_id="U1", query="jane@acme.io"),
    )
    assert "U1" in caplog.text
    assert "jane@acme.io" not in caplog.text


def test_audit_write_is_not_blocked_by_an_uncommitted_import(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    # An import mid-transaction: its flushed insert holds the store's write lock on SQLite.
    with session_factory() as importing:
        importing.add(Customer(key="name:acme", name="Acme", search_key="acme"))
        importing.flush()
        if is_sqlite(engine):
            _assert_main_store_is_write_locked(engine)

        record_audit(session_factory, AuditEntry(surface="/license", outcome="ok", user_id="U1"))

        with session_factory() as reader:
            assert reader.scalars(select(AuditEvent.user_id)).all() == ["U1"]
        importing.rollback()


def _assert_main_store_is_write_locked(engine: Engine) -> None:
    """Shows the test above means something: a write to the store itself would be refused."""
    with engine.connect() as other:
        other.exec_driver_sql("PRAGMA busy_timeout = 0")
        with pytest.raises(OperationalError, match="locked"):
            other.exec_driver_sql(
                "INSERT INTO customer (key, name, search_key) VALUES ('name:x', 'X', 'x')"
            )
        other.rollback()
        other.exec_driver_sql("PRAGMA busy_timeout = 2000")


def test_recent_lookups_newest_first_without_refusals(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    def audit(minutes: int, outcome: str, query: str, user_id: str = "U1") -> None:
        record_audit(
            session_factory,
            AuditEntry(surface="/license", outcome=outcome, user_id=user_id, query=query),
            now=AT + timedelta(minutes=minutes),
        )

    audit(0, "ok", "acme")
    audit(1, "denied", "secret")
    audit(2, "not_found", "globex")
    audit(3, "ambiguous", "ac")
    audit(4, "unavailable", "boom")
    audit(5, "ok", "initech", user_id="U2")
    audit(6, "ok", "umbrella")

    lookups = recent_lookups(session, "U1", limit=3)
    assert [(lookup.query, lookup.outcome) for lookup in lookups] == [
        ("umbrella", "ok"),
        ("ac", "ambiguous"),
        ("globex", "not_found"),
    ]
    assert lookups[0].at == AT + timedelta(minutes=6)
    assert [lookup.query for lookup in recent_lookups(session, "U1", limit=10)] == [
        "umbrella",
        "ac",
        "globex",
        "acme",
    ]
    assert recent_lookups(session, "UNOBODY", limit=10) == []


def test_an_outcome_outside_the_one_list_is_refused() -> None:
    from bot.outcomes import Outcome

    with pytest.raises(ValueError, match="okay"):
        AuditEntry(surface="/license", outcome="okay")  # type: ignore[arg-type]
    assert AuditEntry(surface="/license", outcome="rate_limited").outcome is Outcome.RATE_LIMITED
    with pytest.raises(ValueError, match="request line"):
        AuditEntry(surface="/license", outcome=Outcome.HANDLED)


def test_every_outcome_is_stored_as_its_string_and_read_back(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    from bot.outcomes import AUDIT_OUTCOMES, LOOKUP_OUTCOMES, Outcome

    audited = [outcome for outcome in Outcome if outcome in AUDIT_OUTCOMES]
    assert max(map(len, Outcome)) <= AuditEvent.__table__.c.outcome.type.length
    for minutes, outcome in enumerate(audited):
        entry = AuditEntry(surface="/license", outcome=outcome, user_id="U1", query=outcome)
        record_audit(session_factory, entry, now=AT + timedelta(minutes=minutes))
    stored = session.scalars(select(AuditEvent.outcome).order_by(AuditEvent.id)).all()
    assert stored == [str(outcome) for outcome in audited]
    assert {type(value) for value in stored} == {str}
    recent = recent_lookups(session, "U1", limit=20)
    assert {lookup.outcome for lookup in recent} == set(LOOKUP_OUTCOMES)
    assert all(type(lookup.outcome) is Outcome for lookup in recent)
