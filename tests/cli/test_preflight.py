"""`python -m bot check` on the data's age: a synced kind (SYNC_<KIND> set) older than
STALE_AFTER_HOURS fails with its age and what to do; a kind imported by hand never fails for
its age; a synced kind never loaded has no data yet, which is not stale. On both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.manifest import BOT_SCOPES
from bot.cli.preflight import CheckResult, run_checks
from bot.config import Settings
from bot.store.models import ImportRun
from tests.helpers.processes import run_bot
from tests.helpers.slack_standin import SlackStandIn

NOW = datetime(2026, 2, 11, 12, 0, tzinfo=UTC)


def imported(
    session_factory: sessionmaker[Session], now: datetime = NOW, **ages: timedelta
) -> None:
    with session_factory() as session:
        for kind, age in ages.items():
            session.add(ImportRun(kind=kind, file=f"{kind}.csv", rows=1, finished_at=now - age))
        session.commit()


def data_checks(store_url: str, **env: str) -> dict[str, CheckResult]:
    settings = Settings.from_env({"DATABASE_URL": store_url, **env}, dotenv_path=None)
    results = run_checks(settings, now=NOW)
    return {r.name: r for r in results if r.name.endswith(" data") or r.name == "data age"}


def test_a_stale_synced_kind_fails_and_a_stale_hand_imported_one_does_not(
    store_url, session_factory, tmp_path
):
    imported(session_factory, licenses=timedelta(days=3), hosts=timedelta(days=3))
    checks = data_checks(store_url, SYNC_LICENSES=str(tmp_path / "licenses.csv"))
    assert list(checks) == ["licenses data"]  # hosts: imported by hand, not checked
    licenses = checks["licenses data"]
    assert not licenses.ok
    assert licenses.line() == (
        "FAIL licenses data: stale: 3 days old, older than STALE_AFTER_HOURS (26 hours); cards "
        "say so. See why its sync has not loaded newer data: python -m bot sync status"
    )


@pytest.mark.parametrize(
    ("age", "ok"), [(timedelta(minutes=20), True), (timedelta(minutes=40), False)]
)
def test_stale_after_a_fraction_of_an_hour(store_url, session_factory, tmp_path, age, ok):
    imported(session_factory, hosts=age)
    checks = data_checks(store_url, SYNC_HOSTS=str(tmp_path / "hosts.csv"), STALE_AFTER_HOURS="0.5")
    assert checks["hosts data"].ok is ok
    if ok:
        assert checks["hosts data"].detail == "20 minutes old (stale after 30 minutes)"


def test_a_synced_kind_never_loaded_has_no_data_yet_and_does_not_fail(
    store_url, session_factory, tmp_path
):
    imported(session_factory, licenses=timedelta(hours=1))
    checks = data_checks(
        store_url,
        SYNC_LICENSES=str(tmp_path / "licenses.csv"),
        SYNC_SUBSCRIPTIONS=str(tmp_path / "subscriptions.csv"),
    )
    # In the order sync runs them.
    assert [(name, check.ok) for name, check in checks.items()] == [
        ("subscriptions data", True),
        ("licenses data", True),
    ]
    assert "no data yet" in checks["subscriptions data"].detail


def test_nothing_synced_is_said_and_never_fails(store_url, session_factory):
    imported(session_factory, licenses=timedelta(days=30))
    checks = data_checks(store_url)
    assert list(checks) == ["data age"] and checks["data age"].ok
    assert "no kind has a sync source" in checks["data age"].detail


def test_check_exits_2_on_a_stale_synced_kind_only(store_url, session_factory, tmp_path: Path):
    # The subprocess judges by its own clock: the data is three days old by it.
    imported(session_factory, now=datetime.now(UTC), licenses=timedelta(days=3))
    with SlackStandIn() as slack:
        slack.granted_scopes = tuple(BOT_SCOPES)
        env = {
            "SLACK_BOT_TOKEN": "xoxb-check",
            "SLACK_SIGNING_SECRET": "signing-secret",
            "SLACK_API_URL": slack.api_url,
            "ALLOWED_USER_IDS": "UALLOWED",
        }
        by_hand = run_bot("check", database_url=store_url, cwd=tmp_path, **env)
        synced = run_bot(
            "check",
            database_url=store_url,
            cwd=tmp_path,
            SYNC_LICENSES=str(tmp_path / "licenses.csv"),
            **env,
        )
    assert by_hand.returncode == 0, by_hand.stdout + by_hand.stderr
    assert synced.returncode == 2, synced.stdout + synced.stderr
    (failure,) = [line for line in synced.stdout.splitlines() if line.startswith("FAIL")]
    assert failure.startswith("FAIL licenses data: stale: 3 days old")
    assert "python -m bot sync status" in failure
