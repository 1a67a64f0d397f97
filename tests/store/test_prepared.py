"""PreparedStatement: the lookups' hot statements on the driver's cursor, with what SQLAlchemy's
own execution gives (typed values, cursor events, wrapped errors, a transaction) kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, bindparam, insert, literal, or_, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from bot.store.models import AuditEvent
from bot.store.prepared import PreparedStatement
from tests.helpers.sql_capture import captured_executions

AT = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
AUDIT_COLUMNS = ("at", "surface", "outcome", "user_id", "query", "result_count")
INSERT_AUDIT = PreparedStatement(insert(AuditEvent.__table__).inline(), column_keys=AUDIT_COLUMNS)


def _audit(session: Session, user_id: str | None, at: datetime, count: int) -> None:
    values = {"at": at, "surface": "/license", "outcome": "ok", "user_id": user_id}
    INSERT_AUDIT.execute(session.connection(), {**values, "query": "acme", "result_count": count})


# Typed columns (UTC datetimes, a boolean expression, NULLs), a bind used twice, bound
# literals, LIMIT and OFFSET.
READ = (
    select(
        AuditEvent.id,
        AuditEvent.at,
        AuditEvent.user_id,
        AuditEvent.result_count,
        (AuditEvent.result_count > 0).label("found"),
    )
    .where(
        or_(AuditEvent.user_id == bindparam("user"), AuditEvent.query == bindparam("user")),
        AuditEvent.outcome != literal("refused"),
        AuditEvent.at > bindparam("since"),
    )
    .order_by(AuditEvent.at.desc())
    .limit(bindparam("limit"))
    .offset(1)
)


def test_rows_are_what_sqlalchemys_execution_gives(session: Session) -> None:
    for minutes, user, count in ((1, "U1", 0), (2, "U1", 3), (3, None, 2), (4, "U1", 1)):
        _audit(session, user, AT + timedelta(minutes=minutes), count)
    connection = session.connection()
    params = {"user": "U1", "since": AT, "limit": 5}
    expected = [tuple(row) for row in connection.execute(READ, params)]
    rows = PreparedStatement(READ).rows(connection, params)
    assert [tuple(row) for row in rows] == expected
    assert len(rows) == 2  # the newest of the three skipped (OFFSET 1)
    newest = rows[0]
    assert newest.at == AT + timedelta(minutes=2) and newest.at.tzinfo is not None
    assert newest.found is True and rows[1].found is False
    assert newest._mapping["user_id"] == "U1"
    assert PreparedStatement(READ).scalar(connection, {**params, "user": "U9"}) is None


def test_a_text_statement_gives_plain_tuples_and_names_read_twice_give_tuples(
    session: Session,
) -> None:
    _audit(session, "U1", AT, 7)
    connection = session.connection()
    statement = PreparedStatement(
        text(
            f"SELECT user_id, result_count FROM {AuditEvent.__table__.fullname}"
            " WHERE user_id = :user"
        )
    )
    assert statement.rows(connection, {"user": "U1"}) == [("U1", 7)]
    twice = PreparedStatement(select(AuditEvent.user_id, AuditEvent.user_id))
    [row] = twice.rows(connection, {})
    assert type(row) is tuple and row == ("U1", "U1")


def test_its_statements_reach_the_engines_cursor_events(engine: Engine, session: Session) -> None:
    connection = session.connection()
    params = {"user": "U1", "since": AT, "limit": 5}
    with captured_executions(engine) as executions:
        PreparedStatement(READ).rows(connection, params)
        connection.execute(READ, params)
    prepared, sqlalchemys = executions
    assert prepared == sqlalchemys  # the same SQL, the same parameters


def test_a_driver_error_is_sqlalchemys_with_the_parameters_hidden(session: Session) -> None:
    secret = "query text"
    with pytest.raises(IntegrityError) as raised:  # surface is NOT NULL
        INSERT_AUDIT.execute(
            session.connection(),
            {"at": AT, "surface": None, "outcome": "ok", "user_id": "U1", "query": secret}
            | {"result_count": 1},
        )
    # As SQLAlchemy's own execution (the store's engine hides parameters): none in the
    # message. (PostgreSQL's DETAIL line may quote the row: the log redacts those.)
    assert isinstance(raised.value, DBAPIError)
    assert "[SQL parameters hidden due to hide_parameters=True]" in str(raised.value)


def test_a_missing_parameter_is_refused_before_the_driver(session: Session) -> None:
    with pytest.raises(KeyError, match="since"):
        PreparedStatement(READ).rows(session.connection(), {"user": "U1", "limit": 5})


def test_an_expanding_parameter_is_refused_when_compiled(session: Session) -> None:
    in_list = select(AuditEvent.id).where(
        AuditEvent.user_id.in_(bindparam("users", expanding=True))
    )
    with pytest.raises(TypeError, match="plain bound parameters"):
        PreparedStatement(in_list).rows(session.connection(), {"users": ["U1"]})


def test_it_runs_inside_a_transaction_that_a_rollback_undoes(engine: Engine) -> None:
    with engine.connect() as connection:
        assert not connection.in_transaction()
        INSERT_AUDIT.execute(
            connection,
            {"at": AT, "surface": "/license", "outcome": "ok", "user_id": "U1"}
            | {"query": None, "result_count": 1},
        )
        assert connection.in_transaction()
        connection.rollback()
        assert connection.scalar(select(AuditEvent.id)) is None
