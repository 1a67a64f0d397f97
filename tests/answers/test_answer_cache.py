"""Answers kept per store generation (bot/answers/answer_cache.py): given again only while
nothing they depend on changed (the store's data, who sees them, what the clock makes them
say), and never in place of a request's claim, rate limit or audit row."""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot import ids
from bot.answers.audited import Requester
from bot.answers.lookups import LookupService
from bot.answers.redaction import Audience
from bot.config import Settings
from bot.freshness import FreshnessRule
from bot.links import Links
from bot.services import build_services
from bot.store.data_generation import DATA_GENERATION_KEY, data_generation
from bot.store.db import create_store_engine, make_session_factory
from bot.store.importing import import_file
from bot.store.models import AuditEvent, StoreMeta
from bot.store.schema import upgrade
from bot.views.freshness import STALE_MARK
from bot.views.modals import customer_options
from tests.helpers.clocks import SettableClock
from tests.helpers.e2e_dataset import INITECH_EMAIL, load_dataset, write_dataset
from tests.helpers.sql_capture import captured_statements

START = datetime(2026, 11, 3, 9, 41, 30, tzinfo=UTC)
# Where the tests' clock starts: the data 10 seconds old.
ASKED = START + timedelta(seconds=10)
ALICE = Requester("UALICE", "T1", channel_id="C1")
BOB = Requester("UBOB", "T1", channel_id="C1")


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(ASKED)


@pytest.fixture
def loaded(session_factory: sessionmaker[Session], tmp_path: Path) -> sessionmaker[Session]:
    # Imported at START: the data's age is the clock's distance from it.
    for kind, path in write_dataset(tmp_path, START.date()).items():
        import_file(session_factory, kind, path, now=START)
    return session_factory


def _service(factory: sessionmaker[Session], clock: SettableClock, **options: int) -> LookupService:
    return LookupService(
        factory, Links.from_settings(Settings()), clock=clock, rate_limit_per_hour=0, **options
    )


def _text(answer: object) -> str:
    return str(answer.payload())  # type: ignore[attr-defined]


def _card_reads(engine: Engine) -> object:
    """The statements that load a license card (its customer, licenses and data times)."""
    return captured_statements(engine, lambda statement: "FROM customer" in statement)


def test_the_same_query_again_is_the_kept_answer(loaded, clock, engine) -> None:
    lookups = _service(loaded, clock)
    with _card_reads(engine) as first_reads:
        first = lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
    clock.now += timedelta(seconds=20)  # the same minute of the data's age
    with _card_reads(engine) as reads:
        again = lookups.answer_query(ids.LICENSE_COMMAND, "initech", BOB)
    assert first_reads and again is first and not reads
    # Another page of the same query, another command: answers of their own.
    assert lookups.answer_query(ids.RECON_COMMAND, "initech", ALICE) is not first
    assert lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE, offset=8) is not first


def test_no_kept_card_outlives_an_import_made_by_another_process(
    loaded, clock, store_url, tmp_path
) -> None:
    lookups = _service(loaded, clock)
    before = lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
    assert "Bill Lumbergh" in _text(before) and "Milton Waddams" not in _text(before)
    # The sync or `python -m bot import`: its own engine, its own transaction.
    renamed = _licenses_with_contact(tmp_path, "Bill Lumbergh", "Milton Waddams")
    other_process = create_store_engine(store_url)
    try:
        import_file(make_session_factory(other_process), "licenses", renamed)
    finally:
        other_process.dispose()
    after = lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
    assert "Milton Waddams" in _text(after)


def test_an_import_that_changes_nothing_still_starts_a_generation(loaded, tmp_path) -> None:
    with loaded() as session:
        before = data_generation(session)
    (tmp_path / "again").mkdir()
    import_file(loaded, "hosts", write_dataset(tmp_path / "again", START.date())["hosts"])
    with loaded() as session:
        after = data_generation(session)
    assert before is not None and after is not None and after != before


def test_an_upgrade_starts_a_generation(loaded, engine) -> None:
    """A migration or the upkeep's regroup rewrites what lookups read."""
    with loaded() as session:
        before = data_generation(session)
    upgrade(engine)
    with loaded() as session:
        assert data_generation(session) not in (None, before)


def test_who_sees_the_card_is_part_of_its_key(loaded, clock) -> None:
    """The requester's card shows the contact's address; the same customer's card shared into
    a channel, right after, must not be the requester's kept one."""
    lookups = _service(loaded, clock)
    [key] = [
        option["value"]
        for option in customer_options(lookups.customer_choices_for("initech", ALICE))
    ]
    mine = lookups.answer_customer(
        ids.LICENSE_COMMAND, key, ALICE, audience=Audience.REQUESTER, surface="pick"
    )
    assert INITECH_EMAIL in _text(mine)
    shared = lookups.answer_customer(
        ids.LICENSE_COMMAND, key, ALICE, audience=Audience.CONVERSATION, surface="share"
    )
    assert shared.outcome == "ok" and INITECH_EMAIL not in _text(shared)
    # Shared by Bob: his name on it, not Alice's kept card.
    by_bob = lookups.answer_customer(
        ids.LICENSE_COMMAND, key, BOB, audience=Audience.CONVERSATION, surface="share"
    )
    assert "UBOB" in _text(by_bob) and "UALICE" not in _text(by_bob)


def test_the_clock_is_part_of_its_key(loaded, clock) -> None:
    """A card says its data's age (to the minute) and relative dates (to the day): a kept answer
    is given only while they would read the same."""
    lookups = _service(loaded, clock)
    first = lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
    clock.now += timedelta(minutes=3)
    later = lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
    assert later is not first
    clock.now += timedelta(days=1)
    tomorrow = lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
    assert tomorrow is not later
    # What a fresh service builds at that moment is what was given.
    assert (
        _service(loaded, clock).answer_query(ids.LICENSE_COMMAND, "initech", ALICE).payload()
        == tomorrow.payload()
    )


def test_a_kept_answer_is_still_audited_and_rate_limited(loaded, clock) -> None:
    lookups = LookupService(
        loaded, Links.from_settings(Settings()), clock=clock, rate_limit_per_hour=2
    )
    assert lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE).outcome == "ok"
    assert lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE).outcome == "ok"
    refused = lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
    assert refused.outcome == "rate_limited" and INITECH_EMAIL not in _text(refused)
    with loaded() as session:
        rows = session.scalar(select(func.count()).where(AuditEvent.user_id == "UALICE"))
    assert rows == 3


def test_answers_kept_are_bounded_least_recently_used_first(loaded, clock) -> None:
    lookups = _service(loaded, clock, answer_cache_size=2)
    initech = lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
    globex = lookups.answer_query(ids.LICENSE_COMMAND, "globex", ALICE)
    assert lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE) is initech
    lookups.answer_query(ids.LICENSE_COMMAND, "umbrella", ALICE)  # Globex's goes
    assert lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE) is initech
    assert lookups.answer_query(ids.LICENSE_COMMAND, "globex", ALICE) is not globex


def test_a_store_without_a_generation_keeps_nothing_until_an_import(
    loaded, clock, tmp_path
) -> None:
    """A store upgraded by a release before generations were kept has none: every answer is
    built, until the next import starts one."""
    with loaded() as session, session.begin():
        session.execute(delete(StoreMeta).where(StoreMeta.key == DATA_GENERATION_KEY))
    lookups = _service(loaded, clock)
    first = lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
    assert lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE) is not first
    (tmp_path / "again").mkdir()
    import_file(loaded, "hosts", write_dataset(tmp_path / "again", START.date())["hosts"])
    kept = lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
    assert lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE) is kept


def _licenses_with_contact(directory: Path, old: str, new: str) -> Path:
    (directory / "source").mkdir()
    source = write_dataset(directory / "source", START.date())["licenses"]
    with source.open(newline="", encoding="utf-8") as handle:
        rows = [[new if cell == old else cell for cell in row] for row in csv.reader(handle)]
    changed = directory / "licenses-renamed.csv"
    with changed.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return changed


@pytest.mark.parametrize(("size", "kept"), [(0, False), (5, True)])
def test_answer_cache_size_is_the_deployments(settings, tmp_path, size, kept) -> None:
    """ANSWER_CACHE_SIZE reaches the service: 0 keeps nothing."""
    services = build_services(replace(settings, answer_cache_size=size))
    try:
        load_dataset(services.session_factory, tmp_path, START.date())
        lookups = services.lookups
        first = lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
        with captured_statements(services.engine, lambda sql: "store_meta" in sql) as reads:
            again = lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
        assert first.outcome == "ok" and (again is first) == kept
        # Keeping nothing, the generation is not even read.
        assert len(reads) == (1 if kept else 0)
    finally:
        services.engine.dispose()


def test_a_kept_answer_is_serialised_once(loaded, clock) -> None:
    """Its blocks' dicts are made at its first sending and shared by the next; the top level is
    each caller's own to add to (`response_type`, `replace_original`)."""
    answer = _service(loaded, clock).answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
    first, second = answer.payload(), answer.payload()
    assert first == answer.message.to_dict()
    assert first is not second and first["blocks"] is second["blocks"]
    first["text"] = "changed by one caller"
    assert answer.payload()["text"] == answer.message.text


def test_data_turning_stale_within_a_minute_is_a_new_answer(loaded, clock) -> None:
    """STALE_AFTER_HOURS need not be whole minutes: the stale banner is keyed by itself, not
    only by the age's minutes."""
    lookups = LookupService(
        loaded,
        Links.from_settings(Settings()),
        clock=clock,
        rate_limit_per_hour=0,
        freshness=FreshnessRule(stale_after=timedelta(seconds=30)),
    )
    fresh = lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)  # 10 seconds old
    clock.now += timedelta(seconds=40)  # 50 seconds old: the same minute, now stale
    stale = lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
    assert stale is not fresh
    assert STALE_MARK in _text(stale) and STALE_MARK not in _text(fresh)
