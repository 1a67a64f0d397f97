"""The follows' store API (bot/store/follows.py), on both engines."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.store import follows
from bot.store.db import session_scope
from bot.store.importing import ImportKind, import_file
from bot.store.models import (
    FOLLOW_FEATURES,
    FollowDelivery,
    FollowEvent,
    FollowEvidence,
    License,
    SeatLevel,
)
from tests.helpers.import_files import license_row, write_csv
from tests.helpers.postgres import wait_until_blocked

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
ACME = "sf:0016100001AcmeAAA"


def _license(session: Session, number: int, key: str, **columns: object) -> None:
    values: dict[str, object] = {
        "company": "Acme",
        "plan": "premium",
        "user_count": 100,
        "trial": False,
        "salesforce_account_id": "0016100001AcmeAAA",
        "zuora_subscription_name": "A-S00000001",
    }
    values.update(columns)
    session.add(License(id=number, customer_key=key, **values))


def _follow(session: Session, **changes: object) -> follows.FollowChange:
    arguments: dict[str, object] = {
        "team_id": "T1",
        "channel_id": "C1",
        "thread_ts": None,
        "customer_key": ACME,
        "customer_name": "Acme",
        "owner_user_id": "UALLOWED",
        "now": NOW,
    }
    arguments.update(changes)
    return follows.add_follow(session, **arguments)  # type: ignore[arg-type]


def test_a_follow_remembers_its_customers_evidence_and_all_features_by_default(session):
    _license(session, 1, ACME)
    _license(session, 2, ACME, zuora_subscription_name="A-S00000002", zuora_account_id="za1")
    session.flush()
    change = _follow(session)
    session.commit()
    assert change.created
    assert change.follow.features == FOLLOW_FEATURES
    assert change.follow.thread_ts is None and change.follow.state == "active"
    assert follows.follow_evidence(session, change.follow.id) == follows.CustomerEvidence(
        salesforce_account_ids=("0016100001AcmeAAA",),
        zuora_account_ids=("za1",),
        subscription_names=("A-S00000001", "A-S00000002"),
        license_ids=(1, 2),
    )


def test_following_again_adds_features_and_resumes_and_a_stopped_one_starts_afresh(session):
    first = _follow(session, features=["licenses"]).follow
    again = _follow(session, features=["expiry"], owner_user_id="UOTHER")
    assert not again.created
    assert again.follow.id == first.id
    assert again.follow.features == ("licenses", "expiry")
    assert again.follow.owner_user_id == "UALLOWED"
    follows.pause_follow(session, first.id, reason="is_archived", now=NOW)
    assert _follow(session, features=["seats"]).follow.state == "active"
    follows.stop_follow(session, first.id, reason="owner_not_allowed", now=NOW)
    later = NOW + timedelta(days=1)
    restarted = _follow(session, features=["trials"], owner_user_id="UOTHER", now=later)
    assert restarted.created
    assert restarted.follow.features == ("trials",)
    assert restarted.follow.owner_user_id == "UOTHER"
    assert restarted.follow.created_at == later


def test_a_thread_follow_is_apart_from_the_channels(session):
    channel = _follow(session).follow
    thread = _follow(session, thread_ts="1700000000.000100").follow
    session.commit()
    assert channel.id != thread.id
    assert thread.thread_ts == "1700000000.000100"
    listed = follows.follows_in_conversation(session, "C1")
    assert [f.id for f in listed] == [channel.id, thread.id]
    assert [f.id for f in follows.follows_in_conversation(session, "C1", threads=False)] == [
        channel.id
    ]
    assert [f.id for f in follows.follows_of_owner(session, "UALLOWED")] == [channel.id, thread.id]
    assert follows.find_follow(session, "C1", "1700000000.000100", ACME) == thread


def test_unfollowing_features_and_whole_follows(session):
    follow = _follow(session).follow
    follows.record_event(
        session, kind="licenses", customer_key=ACME, dedupe_key="license:1", facts={},
        occurred_at=NOW, now=NOW,
    )  # fmt: skip
    event = follows.events_for_follow(session, follow, ACME, now=NOW)[0]
    follows.claim_deliveries(session, follow.id, [event.id], claimed_by="w", now=NOW)
    left = follows.remove_features(session, follow.id, ["licenses", "trials"])
    assert left is not None and left.features == ("expiry", "recon", "seats")
    assert follows.remove_features(session, follow.id, []) is None
    session.commit()
    assert follows.get_follow(session, follow.id) is None
    assert session.scalar(select(func.count()).select_from(FollowEvidence)) == 0
    assert session.scalar(select(func.count()).select_from(FollowDelivery)) == 0
    with pytest.raises(follows.UnknownFeature):
        follows.canonical_features(["renewals"])


def test_pausing_a_conversation_pauses_its_threads_and_stopped_stays_stopped(session):
    one = _follow(session).follow
    two = _follow(session, thread_ts="1.2").follow
    other = _follow(session, channel_id="C2").follow
    follows.stop_follow(session, two.id, reason="owner_not_allowed", now=NOW)
    paused = follows.pause_follows_in_conversation(session, "C1", reason="is_archived", now=NOW)
    assert [f.id for f in paused] == [one.id]
    assert follows.get_follow(session, one.id).state_reason == "is_archived"  # type: ignore[union-attr]
    assert follows.get_follow(session, other.id).state == "active"  # type: ignore[union-attr]
    follows.resume_follow(session, two.id, now=NOW)
    assert follows.get_follow(session, two.id).state == "stopped"  # type: ignore[union-attr]
    assert [f.id for f in follows.active_follows(session)] == [other.id]


def test_the_customer_is_found_by_its_evidence_when_keys_change(session):
    _license(session, 1, ACME)
    _license(session, 2, ACME, salesforce_account_id=None, zuora_subscription_name="A-S2")
    session.flush()
    follow = _follow(session).follow
    assert follows.resolve_customer(session, follow) == follows.Resolution("one", ACME)
    # The Salesforce account moved to a new key: followed there.
    for row in session.scalars(select(License)):
        row.customer_key = "sf:NEW"
    session.flush()
    assert follows.resolve_customer(session, follow) == follows.Resolution("one", "sf:NEW")
    assert [f.id for f in follows.follows_of_customer(session, "C1", "sf:NEW")] == [follow.id]
    assert follows.follows_of_customer(session, "C1", "sf:ELSE") == []
    # The account split across two customers: ambiguous.
    session.get_one(License, 2).salesforce_account_id = "0016100001AcmeAAA"
    session.get_one(License, 2).customer_key = "sf:OTHER"
    session.flush()
    assert follows.resolve_customer(session, follow) == follows.Resolution(
        "ambiguous", None, ("sf:NEW", "sf:OTHER")
    )
    # Nothing left of it: gone.
    for row in session.scalars(select(License)):
        session.delete(row)
    session.flush()
    assert follows.resolve_customer(session, follow).outcome == "gone"


def test_events_are_recorded_once_and_delivered_to_follows_started_before_them(session):
    _license(session, 1, ACME)
    session.flush()
    early = NOW - timedelta(hours=1)
    assert follows.record_event(
        session, kind="expiry", customer_key=ACME, dedupe_key="expiry:A-S00000001:30",
        facts={"days": 30}, occurred_at=early, now=NOW, subscription_name="A-S00000001",
    )  # fmt: skip
    follow = _follow(session).follow
    for kind, key in (("licenses", "license:3"), ("licenses", "license:3"), ("trials", "t:4")):
        follows.record_event(
            session, kind=kind, customer_key="sf:REGROUPED", dedupe_key=key, facts={"n": 1},
            occurred_at=NOW, now=NOW, subscription_name="A-S00000001",
        )  # fmt: skip
    follows.record_event(
        session, kind="recon", customer_key="sf:SOMEONE", dedupe_key="recon:9:failed",
        facts={}, occurred_at=NOW, now=NOW, subscription_name="A-S99",
    )  # fmt: skip
    session.commit()
    events = follows.events_for_follow(session, follow, ACME, now=NOW)
    assert [e.dedupe_key for e in events] == ["license:3", "t:4"]
    assert events[0].facts == {"n": 1}
    licenses_only = follows.remove_features(session, follow.id, ["trials", "expiry"])
    assert licenses_only is not None
    assert [
        e.dedupe_key for e in follows.events_for_follow(session, licenses_only, ACME, now=NOW)
    ] == ["license:3"]
    # Past the horizon nothing is delivered.
    later = NOW + follows.EVENT_HORIZON + timedelta(seconds=1)
    assert follows.events_for_follow(session, licenses_only, ACME, now=later) == []


def test_a_delivery_is_claimed_once_and_ends_posted_failed_or_given_up(session):
    follow = _follow(session).follow
    for number in (1, 2):
        follows.record_event(
            session, kind="licenses", customer_key=ACME, dedupe_key=f"license:{number}",
            facts={}, occurred_at=NOW, now=NOW,
        )  # fmt: skip
    ids = [e.id for e in follows.events_for_follow(session, follow, ACME, now=NOW)]
    assert follows.claim_deliveries(session, follow.id, ids, claimed_by="a", now=NOW) == ids
    assert follows.claim_deliveries(session, follow.id, ids, claimed_by="b", now=NOW) == []
    assert follows.events_for_follow(session, follow, ACME, now=NOW) == []
    retry_at = NOW + timedelta(minutes=1)
    follows.mark_failed(session, follow.id, ids, error="ratelimited", retry_at=retry_at)
    assert follows.retries_due(session, now=NOW) == {}
    assert follows.retries_due(session, now=retry_at) == {follow.id: ids}
    assert follows.claim_retries(session, follow.id, ids, claimed_by="b", now=retry_at) == ids
    assert follows.claim_retries(session, follow.id, ids, claimed_by="c", now=retry_at) == []
    assert follows.delivery_attempts(session, follow.id, ids) == 1
    assert follows.first_claimed_at(session, follow.id, ids) == NOW
    follows.mark_posted(session, follow.id, ids[:1], message_ts="1.1", now=retry_at)
    follows.mark_failed(session, follow.id, ids[1:], error="x" * 900, retry_at=None)
    session.commit()
    states = dict(session.execute(select(FollowDelivery.event_id, FollowDelivery.state)).all())
    assert states == {ids[0]: "posted", ids[1]: "given_up"}


def test_a_follow_paused_or_removed_after_the_run_listed_it_claims_nothing(session):
    follow = _follow(session).follow
    follows.record_event(
        session, kind="licenses", customer_key=ACME, dedupe_key="license:1",
        facts={}, occurred_at=NOW, now=NOW,
    )  # fmt: skip
    ids = [e.id for e in follows.events_for_follow(session, follow, ACME, now=NOW)]
    follows.pause_follow(session, follow.id, reason="is_archived", now=NOW)
    assert follows.claim_deliveries(session, follow.id, ids, claimed_by="a", now=NOW) == []
    assert follows.claim_retries(session, follow.id, ids, claimed_by="a", now=NOW) == []
    follows.remove_follow(session, follow.id)
    # Gone: nothing claimed, and no delivery row left pointing at it.
    assert follows.claim_deliveries(session, follow.id, ids, claimed_by="a", now=NOW) == []
    session.commit()
    assert session.execute(select(FollowDelivery)).all() == []


def test_two_workers_claiming_at_once_claim_each_delivery_once(
    session_factory: sessionmaker[Session],
):
    with session_scope(session_factory) as session:
        follow = _follow(session).follow
        for number in range(20):
            follows.record_event(
                session, kind="licenses", customer_key=ACME, dedupe_key=f"license:{number}",
                facts={}, occurred_at=NOW, now=NOW,
            )  # fmt: skip
        ids = [e.id for e in follows.events_for_follow(session, follow, ACME, now=NOW)]
    won: dict[str, list[int]] = {}
    start = threading.Barrier(2)

    def claim(worker: str) -> None:
        start.wait()
        for event_id in ids:
            # One transaction per claim, as a worker commits each claim before posting.
            got: list[int] = []
            for _ in range(50):
                try:
                    with session_scope(session_factory) as session:
                        got = follows.claim_deliveries(
                            session, follow.id, [event_id], claimed_by=worker, now=NOW
                        )
                    break
                except OperationalError:  # SQLite's busy writer: try again, as notify would
                    continue
            won.setdefault(worker, []).extend(got)

    threads = [threading.Thread(target=claim, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won.get("a", []) + won.get("b", [])) == sorted(ids)


def test_purging_deletes_old_events_with_their_deliveries_and_old_seat_levels(session):
    follow = _follow(session, now=NOW - timedelta(days=60)).follow
    cutoff = NOW - follows.PURGE_AFTER
    for key, created in (("license:old", cutoff - timedelta(hours=1)),
                         ("license:recent", cutoff + timedelta(hours=1))):  # fmt: skip
        follows.record_event(
            session, kind="licenses", customer_key=ACME, dedupe_key=key, facts={},
            occurred_at=created, now=created,
        )  # fmt: skip
    ids = [e.id for e in follows.events_for_follow(session, follow, ACME, now=cutoff)]
    assert len(ids) == 2
    follows.claim_deliveries(session, follow.id, ids, claimed_by="a", now=cutoff)
    follows.mark_posted(session, follow.id, ids, message_ts="1.1", now=cutoff)
    session.add_all([
        SeatLevel(subscription_name="A-S-OLD", level=90, crossings=1, seen_at=cutoff - timedelta(hours=1)),
        SeatLevel(subscription_name="A-S-RECENT", level=90, crossings=1, seen_at=cutoff + timedelta(hours=1)),
    ])  # fmt: skip
    session.commit()
    # The old event, its delivery row (a foreign key PostgreSQL enforces) and the old level.
    assert follows.purge_old(session, now=NOW) == 3
    session.commit()
    assert list(session.scalars(select(FollowEvent.dedupe_key))) == ["license:recent"]
    assert list(session.scalars(select(FollowDelivery.event_id))) == [ids[1]]
    assert list(session.scalars(select(SeatLevel.subscription_name))) == ["A-S-RECENT"]
    assert follows.purge_old(session, now=NOW) == 0


def test_following_a_regrouped_customer_again_widens_the_follow_it_already_has(
    session_factory: sessionmaker[Session], tmp_path
):
    # Acme's Salesforce account id changes: the customer rule regroups it under a new key.
    def load(name: str, salesforce_id: str) -> str:
        rows = [license_row(1, salesforce_account_id=salesforce_id)]
        import_file(session_factory, ImportKind.LICENSES, write_csv(tmp_path / name, rows))
        with session_factory() as session:
            return session.scalars(select(License.customer_key)).one()

    old_key = load("first.csv", "0016100001AcmeAAA")
    with session_scope(session_factory) as session:
        first = _follow(session, customer_key=old_key, features=["licenses"]).follow
    new_key = load("second.csv", "0016100001AcmeBBB")
    assert new_key != old_key
    with session_scope(session_factory) as session:
        again = _follow(session, customer_key=new_key, features=["expiry"])
        # A thread of the same channel is a follow of its own.
        in_thread = _follow(session, customer_key=new_key, thread_ts="1.2")
    assert not again.created and again.follow.id == first.id
    assert again.follow.features == ("licenses", "expiry")
    assert again.follow.customer_key == new_key
    assert in_thread.created and in_thread.follow.id != first.id
    with session_factory() as session:
        assert [f.id for f in follows.follows_in_conversation(session, "C1", threads=False)] == [
            first.id
        ]
        evidence = follows.follow_evidence(session, first.id)
        assert evidence.salesforce_account_ids == ("0016100001AcmeAAA", "0016100001AcmeBBB")
        # Found by today's key from now on, and its evidence names it alone.
        assert follows.find_follow(session, "C1", None, new_key) == again.follow
        assert follows.resolve_customer(session, again.follow) == follows.Resolution("one", new_key)


def test_a_follow_whose_evidence_is_ambiguous_is_not_the_one_followed_again(session):
    _license(session, 1, ACME)
    session.flush()
    old = _follow(session).follow
    # Its Salesforce account now names two customers, neither under its key.
    session.get_one(License, 1).customer_key = "sf:NEW"
    _license(session, 2, "sf:OTHER", zuora_subscription_name="A-S2")
    session.flush()
    assert follows.resolve_customer(session, old).outcome == "ambiguous"
    change = _follow(session, customer_key="sf:NEW")
    assert change.created and change.follow.id != old.id
    assert follows.get_follow(session, old.id).customer_key == ACME  # type: ignore[union-attr]


def test_a_resumed_follow_is_not_told_what_happened_while_it_was_paused(session):
    follow = _follow(session).follow
    hour = timedelta(hours=1)

    def event(number: int, at: datetime) -> None:
        follows.record_event(
            session, kind="licenses", customer_key=ACME, dedupe_key=f"license:{number}",
            facts={}, occurred_at=at, now=at,
        )  # fmt: skip

    def pending() -> list[str]:
        return [e.dedupe_key for e in follows.events_for_follow(session, follow, ACME, now=NOW)]

    event(1, NOW + hour)  # while active: delivered
    [first] = follows.events_for_follow(session, follow, ACME, now=NOW)
    assert first.dedupe_key == "license:1"
    follows.claim_deliveries(session, follow.id, [first.id], claimed_by="w", now=NOW + hour)
    follows.pause_follow(session, follow.id, reason="is_archived", now=NOW + 2 * hour)
    event(2, NOW + 3 * hour)  # while paused
    resumed = _follow(session, now=NOW + 4 * hour).follow  # following again resumes it
    assert resumed.active_since == NOW + 4 * hour
    event(3, NOW + 5 * hour)
    # `follow` is the record from before the pause: the follow as it is now decides.
    assert pending() == ["license:3"]
    # Resuming an active follow is no change: what came since it resumed stays its news.
    follows.resume_follow(session, follow.id, now=NOW + 6 * hour)
    assert follows.get_follow(session, follow.id).active_since == NOW + 4 * hour  # type: ignore[union-attr]
    assert pending() == ["license:3"]
    # Paused and resumed by resume_follow: it starts from then (what it had not been given
    # before the pause is not given either: a resumed follow starts from its resumption).
    follows.pause_follow(session, follow.id, reason="ambiguous", now=NOW + 7 * hour)
    event(4, NOW + 8 * hour)
    follows.resume_follow(session, follow.id, now=NOW + 9 * hour)
    event(5, NOW + 10 * hour)
    assert pending() == ["license:5"]


def test_two_removals_of_the_bot_handled_at_once_pause_each_follow_once(
    engine: Engine, session_factory: sessionmaker[Session]
):
    with session_scope(session_factory) as session:
        follow = _follow(session).follow
    second: dict[str, object] = {}

    def pause_too() -> None:
        with follows.write_scope(session_factory) as session:
            second["paused"] = follows.pause_follows_in_conversation(
                session, "C1", reason="not_in_channel", now=NOW
            )

    with follows.write_scope(session_factory) as session:
        first = follows.pause_follows_in_conversation(session, "C1", reason="is_archived", now=NOW)
        assert [f.id for f in first] == [follow.id]
        thread = threading.Thread(target=pause_too)
        thread.start()
        wait_until_blocked(engine, thread)
    thread.join(timeout=30)
    # The second waited for the first's commit and found nothing left to pause: one DM.
    assert second["paused"] == []
    with session_factory() as session:
        paused = follows.get_follow(session, follow.id)
    assert paused is not None and paused.state_reason == "is_archived"
