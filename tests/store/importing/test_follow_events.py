"""Imports record follow events for followed customers, in their own transaction
(bot/store/importing/follow_events.py), on both engines."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.store import follows
from bot.store.db import session_scope
from bot.store.importing import ImportFailed, ImportKind, import_file
from bot.store.models import FollowEvent, License
from tests.helpers.import_files import (
    NOW,
    RECONCILIATION_COLUMNS,
    license_row,
    reconciliation_row,
    write_csv,
)

LATER = NOW + timedelta(hours=1)


def _import(factory: sessionmaker[Session], tmp_path: Path, name: str, rows, **kwargs) -> None:
    kind = kwargs.pop("kind", ImportKind.LICENSES)
    columns = kwargs.pop("columns", None)
    path = (
        write_csv(tmp_path / name, rows, columns) if columns else write_csv(tmp_path / name, rows)
    )
    import_file(factory, kind, path, now=kwargs.pop("now", LATER), **kwargs)


def _follow_acme(factory: sessionmaker[Session]) -> follows.FollowRecord:
    with session_scope(factory) as session:
        key = session.scalars(select(License.customer_key).where(License.id == 1)).one()
        return follows.add_follow(
            session, team_id="T1", channel_id="C1", thread_ts=None, customer_key=key,
            customer_name="Acme", owner_user_id="UALLOWED", now=NOW,
        ).follow  # fmt: skip


def _events(factory: sessionmaker[Session]) -> list[FollowEvent]:
    with factory() as session:
        return list(session.scalars(select(FollowEvent).order_by(FollowEvent.id)))


def test_a_renewal_of_a_followed_customer_is_one_event_saying_what_changed(
    session_factory, tmp_path
):
    _import(session_factory, tmp_path, "first.csv", [license_row(1, user_count=250)])
    _follow_acme(session_factory)
    renewal = license_row(
        2, user_count=300, issued_at="2026-11-27T10:00:00Z", starts_at="2027-01-10",
        expires_at="2028-01-10",
    )  # fmt: skip
    rows = [license_row(1, user_count=250), renewal]
    _import(session_factory, tmp_path, "second.csv", rows)
    _import(session_factory, tmp_path, "third.csv", rows)  # again: nothing new
    (event,) = _events(session_factory)
    assert event.kind == "licenses"
    assert event.dedupe_key == "license:2"
    assert event.subscription_name == "A-S00012345"
    assert event.import_run_id is not None
    assert event.facts["change"] == "renewed"
    assert (event.facts["previous_seats"], event.facts["seats"]) == (250, 300)
    assert event.facts["expires_on"] == "2028-01-10"


def test_a_new_trial_is_a_trials_event_and_nobody_elses_licenses_are_recorded(
    session_factory, tmp_path
):
    _import(session_factory, tmp_path, "first.csv", [license_row(1)])
    _follow_acme(session_factory)
    trial = license_row(
        3, trial="true", plan="ultimate", user_count=20, issued_at="2026-11-27T08:00:00Z",
        starts_at="2026-11-27", expires_at="2026-12-27",
    )  # fmt: skip
    stranger = license_row(
        4, company="Globex", contact_email="hank@globex.example", zuora_subscription_id="",
        zuora_subscription_name="A-S00099999", issued_at="2026-11-27T08:00:00Z",
    )  # fmt: skip
    _import(session_factory, tmp_path, "second.csv", [license_row(1), trial, stranger])
    (event,) = _events(session_factory)
    assert (event.kind, event.dedupe_key) == ("trials", "trial:3")
    assert event.facts["plan"] == "ultimate" and event.facts["users"] == 20
    assert event.facts["ends_on"] == "2026-12-27"


def test_nothing_is_recorded_when_nobody_follows_or_for_a_first_load(session_factory, tmp_path):
    _import(session_factory, tmp_path, "first.csv", [license_row(1)])
    _import(
        session_factory, tmp_path, "second.csv",
        [license_row(1), license_row(2, issued_at="2026-11-27T10:00:00Z")],
    )  # fmt: skip
    assert _events(session_factory) == []


def test_a_failed_import_records_no_event(session_factory, tmp_path):
    _import(session_factory, tmp_path, "first.csv", [license_row(1)])
    _follow_acme(session_factory)
    bad = license_row(2, issued_at="2026-11-27T10:00:00Z", user_count="many")
    with pytest.raises(ImportFailed):
        _import(session_factory, tmp_path, "bad.csv", [license_row(1), bad])
    assert _events(session_factory) == []


def test_a_reconciliation_that_failed_is_recorded_once(session_factory, tmp_path):
    _import(session_factory, tmp_path, "licenses.csv", [license_row(1)])
    pending = reconciliation_row(7, status="pending", reconcile_done_at="", error_message="")
    _import(
        session_factory, tmp_path, "r1.csv", [pending], kind=ImportKind.RECONCILIATIONS,
        columns=RECONCILIATION_COLUMNS,
    )  # fmt: skip
    _follow_acme(session_factory)
    failed = reconciliation_row(
        7, status="failed", reconcile_on="2026-11-27", reconcile_done_at="2026-11-27T06:00:00Z",
        error_message="Zuora said no",
    )  # fmt: skip
    for name in ("r2.csv", "r3.csv"):
        _import(
            session_factory, tmp_path, name, [failed], kind=ImportKind.RECONCILIATIONS,
            columns=RECONCILIATION_COLUMNS,
        )  # fmt: skip
    (event,) = _events(session_factory)
    assert event.kind == "recon" and event.dedupe_key.startswith("recon:7:failed:")
    assert event.facts["error"] == "Zuora said no"
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(FollowEvent)) == 1


def test_a_reconciliation_failing_again_after_a_retry_is_news_again(session_factory, tmp_path):
    _import(session_factory, tmp_path, "licenses.csv", [license_row(1)])

    def reconcile(name: str, status: str, error: str = "") -> None:
        row = reconciliation_row(
            7, status=status, reconcile_on="2026-11-27", error_message=error,
            reconcile_done_at="2026-11-27T06:00:00Z" if status != "pending" else "",
        )  # fmt: skip
        _import(
            session_factory, tmp_path, name, [row], kind=ImportKind.RECONCILIATIONS,
            columns=RECONCILIATION_COLUMNS,
        )  # fmt: skip

    reconcile("r0.csv", "pending")
    _follow_acme(session_factory)
    reconcile("r1.csv", "failed", "Zuora said no")
    reconcile("r2.csv", "pending")  # retried
    reconcile("r3.csv", "failed", "Zuora said no again")
    reconcile("r3.csv", "failed", "Zuora said no again")  # the same file again: nothing changed
    events = _events(session_factory)
    assert [e.facts["error"] for e in events] == ["Zuora said no", "Zuora said no again"]
    assert len({e.dedupe_key for e in events}) == 2
    assert all(e.dedupe_key.startswith("recon:7:failed:") for e in events)
