"""The per-user lookup limit: counted in the audit table (one limit for every worker and
instance), a clear message when hit, audited as "rate_limited", lifted as the hour rolls on."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import ids
from bot.answers.audited import Requester
from bot.answers.lookups import LookupService
from bot.answers.redaction import Audience
from bot.config import ConfigError, Settings
from bot.links import Links
from bot.store.models import AuditEvent
from tests.helpers.clocks import SettableClock
from tests.helpers.e2e_dataset import INITECH_EMAIL, load_dataset

START = datetime(2026, 11, 3, 9, 41, 30, tzinfo=UTC)
ALICE = Requester("UALICE", "T1", channel_id="C1")
BOB = Requester("UBOB", "T1", channel_id="C1")


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(START)


@pytest.fixture
def loaded(session_factory: sessionmaker[Session], tmp_path: Path) -> sessionmaker[Session]:
    load_dataset(session_factory, tmp_path, START.date())
    return session_factory


def _service(factory: sessionmaker[Session], clock: SettableClock, limit: int) -> LookupService:
    return LookupService(
        factory, Links.from_settings(Settings()), clock=clock, rate_limit_per_hour=limit
    )


def _text(answer: object) -> str:
    return str(answer.payload())  # type: ignore[attr-defined]


def test_the_limit_refuses_with_a_clear_message_and_is_audited(loaded, clock) -> None:
    lookups = _service(loaded, clock, limit=3)
    for minute in range(3):
        clock.now = START + timedelta(minutes=minute)
        answer = lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
        assert answer.outcome == "ok"
        assert INITECH_EMAIL in _text(answer)

    clock.now = START + timedelta(minutes=10)
    refused = lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
    assert refused.outcome == "rate_limited"
    text = _text(refused)
    assert INITECH_EMAIL not in text and "Initech" not in text
    # The oldest counted lookup (09:41:30) leaves the window at 10:41:30.
    assert "You've made 3 lookups in the last hour; the limit is 3" in text
    assert "try again at 10:41 UTC" in text

    with loaded() as session:
        outcomes = session.scalars(
            select(AuditEvent.outcome).where(AuditEvent.user_id == "UALICE").order_by(AuditEvent.id)
        ).all()
    assert outcomes == ["ok", "ok", "ok", "rate_limited"]


def test_every_lookup_surface_is_limited(loaded, clock) -> None:
    lookups = _service(loaded, clock, limit=1)
    assert lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE).outcome == "ok"
    shared = lookups.answer_customer(
        ids.LICENSE_COMMAND, "initech", ALICE, audience=Audience.CONVERSATION, surface="share"
    )
    assert shared.outcome == "rate_limited" and "Initech" not in _text(shared)
    assert lookups.answer_query(ids.RECON_COMMAND, "initech", ALICE).outcome == "rate_limited"
    assert lookups.customer_choices_for("init", ALICE) == []
    assert lookups.suggest_customer("about initech", ALICE) is None
    assert lookups.customer_selection("initech", ALICE) is None
    link = lookups.answer_license_link(1, "https://customers.example/licenses/1", ALICE)
    assert link.outcome == "rate_limited"


def test_the_limit_is_per_user_and_rolls_with_the_hour(loaded, clock) -> None:
    lookups = _service(loaded, clock, limit=2)
    lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
    clock.now = START + timedelta(minutes=30)
    lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
    assert lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE).outcome == "rate_limited"
    assert lookups.answer_query(ids.LICENSE_COMMAND, "initech", BOB).outcome == "ok"

    # Refused attempts do not count: once the first lookup is an hour old, one more is allowed.
    clock.now = START + timedelta(hours=1, seconds=1)
    assert lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE).outcome == "ok"
    assert lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE).outcome == "rate_limited"


def test_workers_sharing_a_store_share_the_limit(loaded, clock) -> None:
    # Two services on one store stand for two workers (or instances): the count is the store's.
    first, second = _service(loaded, clock, limit=2), _service(loaded, clock, limit=2)
    assert first.answer_query(ids.LICENSE_COMMAND, "initech", ALICE).outcome == "ok"
    assert second.answer_query(ids.LICENSE_COMMAND, "initech", ALICE).outcome == "ok"
    assert first.answer_query(ids.LICENSE_COMMAND, "initech", ALICE).outcome == "rate_limited"


def test_zero_turns_the_limit_off(loaded, clock) -> None:
    lookups = _service(loaded, clock, limit=0)
    outcomes = {
        lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE).outcome for _ in range(5)
    }
    assert outcomes == {"ok"}


def test_the_setting_is_read_from_the_environment() -> None:
    assert Settings.from_env({}, dotenv_path=None).lookup_rate_limit_per_hour == 300
    env = {"LOOKUP_RATE_LIMIT_PER_HOUR": "0", "AUDIT_RETENTION_DAYS": "30"}
    settings = Settings.from_env(env, dotenv_path=None)
    assert (settings.lookup_rate_limit_per_hour, settings.audit_retention_days) == (0, 30)
    with pytest.raises(ConfigError, match="LOOKUP_RATE_LIMIT_PER_HOUR"):
        Settings.from_env({"LOOKUP_RATE_LIMIT_PER_HOUR": "-1"}, dotenv_path=None)
    with pytest.raises(ConfigError, match="AUDIT_RETENTION_DAYS"):
        Settings.from_env({"AUDIT_RETENTION_DAYS": "0"}, dotenv_path=None)


def test_concurrent_requests_of_one_user_get_exactly_the_limit(loaded, clock) -> None:
    """The check and the audit row are one step per user (bot/store/audit.py: lock_lookups_of):
    without it, 40 requests in flight all read the count before any was written, and far more
    than the limit were answered."""
    limit, requests = 5, 40
    lookups = _service(loaded, clock, limit=limit)
    start = threading.Barrier(requests)

    def lookup(_: int) -> str:
        start.wait()
        return lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE).outcome

    with ThreadPoolExecutor(max_workers=requests) as pool:
        outcomes = list(pool.map(lookup, range(requests)))
    assert outcomes.count("ok") == limit, outcomes
    assert outcomes.count("rate_limited") == requests - limit, outcomes
    with loaded() as session:
        counted = session.scalars(
            select(AuditEvent.outcome).where(AuditEvent.user_id == "UALICE")
        ).all()
    assert sorted(counted) == sorted(outcomes)
    # Another user is not held up by ALICE's lock, nor counted against her limit.
    assert lookups.answer_query(ids.LICENSE_COMMAND, "initech", BOB).outcome == "ok"
