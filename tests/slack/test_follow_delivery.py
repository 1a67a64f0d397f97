"""Delivering follow events to Slack (bot/slack/follow_delivery.py), against the Slack stand-in
and both engines: each (follow, event) posted once, into its conversation or thread only."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.slack.client import create_web_client
from bot.slack.follow_delivery import GIVE_UP_AFTER, Notifier
from bot.slack.identity import IdentityResolver
from bot.store import follows
from bot.store.db import session_scope
from bot.store.importing import ImportKind, import_file
from bot.store.models import FollowDelivery, Host, License
from tests.helpers.import_files import (
    RECONCILIATION_COLUMNS,
    license_row,
    reconciliation_row,
    write_csv,
)
from tests.helpers.slack_standin import SlackStandIn

# Tuesday 2026-12-08, 10:00 UTC (11:00 in Amsterdam, the stand-in's users' time zone).
START = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
THREAD = "1765000000.000100"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def slack() -> Any:
    with SlackStandIn() as standin:
        standin.add_user("UALLOWED")
        standin.add_user("UREFUSED")
        # The conversations followed: public channels the bot is in (a post checks first).
        for channel in ("C1", "C2", "C3", "CEARLY", "CLATE"):
            standin.add_channel(channel)
        yield standin


def _settings(slack: SlackStandIn, store_url: str) -> Settings:
    return Settings(
        slack_bot_token="xoxb-test-token",
        slack_signing_secret="secret",
        slack_api_url=slack.api_url,
        database_url=store_url,
        allowed_user_ids=frozenset({"UALLOWED"}),
    )


def _notifier(
    factory: sessionmaker[Session], slack: SlackStandIn, store_url: str, clock: Clock, **kw: Any
) -> Notifier:
    settings = _settings(slack, store_url)
    client = create_web_client(settings)
    resolver = IdentityResolver(client, settings)
    return Notifier(
        factory,
        client_for=lambda team_id: client,
        access=resolver.decide,
        clock=clock,
        sleep=lambda seconds: None,
        **kw,
    )


def _import(factory: sessionmaker[Session], path: Path, rows: list[dict[str, Any]], now: datetime,
            kind: ImportKind = ImportKind.LICENSES) -> None:  # fmt: skip
    columns = RECONCILIATION_COLUMNS if kind is ImportKind.RECONCILIATIONS else None
    write_csv(path, rows, columns) if columns else write_csv(path, rows)
    import_file(factory, kind, path, now=now)


def _follow(
    factory: sessionmaker[Session], now: datetime, *, thread_ts: str | None = None, **kw: Any
) -> follows.FollowRecord:
    with session_scope(factory) as session:
        key = session.scalars(select(License.customer_key).where(License.id == 1)).one()
        arguments: dict[str, Any] = {
            "team_id": "T0TEAM", "channel_id": "C1", "thread_ts": thread_ts,
            "customer_key": key, "customer_name": "Acme Inc.", "owner_user_id": "UALLOWED",
            "now": now,
        }  # fmt: skip
        arguments.update(kw)
        return follows.add_follow(session, **arguments).follow


RENEWAL = license_row(
    2, user_count=300, issued_at="2026-12-08T09:00:00Z", starts_at="2027-01-10",
    expires_at="2028-01-10",
)  # fmt: skip


def _posts(slack: SlackStandIn, channel: str = "C1") -> list[Any]:
    return [c for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == channel]


def test_a_renewal_posts_once_into_each_follow_and_the_thread_only_gets_its_own(
    session_factory, store_url, slack, tmp_path
):
    clock = Clock(START)
    _import(session_factory, tmp_path / "a.csv", [license_row(1, user_count=250)], START)
    _follow(session_factory, START)
    _follow(session_factory, START, thread_ts=THREAD)
    later = START + timedelta(hours=1)
    _import(session_factory, tmp_path / "b.csv", [license_row(1, user_count=250), RENEWAL], later)
    clock.now = later + timedelta(minutes=1)
    notifier = _notifier(session_factory, slack, store_url, clock)
    result = notifier.run()
    assert (result.messages, result.events) == (2, 2)
    posts = _posts(slack)
    assert len(posts) == 2
    channel_post, thread_post = sorted(posts, key=lambda c: "thread_ts" in c.params)
    assert "thread_ts" not in channel_post.params
    assert thread_post.params["thread_ts"] == THREAD
    assert "reply_broadcast" not in thread_post.params
    text = channel_post.params["text"]
    assert "renewed" in text and "250 → 300 seats" in text and "2028-01-10" in text
    blocks = channel_post.json_param("blocks")
    actions = next(b for b in blocks if b["type"] == "actions")
    assert actions["elements"][0]["action_id"] == "follow_open_card"
    assert "jane@acme.io" not in str(blocks) and "Jane Doe" not in str(blocks)
    # A second run posts nothing.
    clock.now += timedelta(hours=1)
    assert _notifier(session_factory, slack, store_url, clock).run().messages == 0
    assert len(_posts(slack)) == 2
    with session_factory() as session:
        states = list(session.scalars(select(FollowDelivery.state)))
    assert states == ["posted", "posted"]


def test_two_notify_runs_at_once_post_each_event_once(session_factory, store_url, slack, tmp_path):
    clock = Clock(START)
    _import(session_factory, tmp_path / "a.csv", [license_row(1, user_count=250)], START)
    for channel in ("C1", "C2", "C3"):
        _follow(session_factory, START, channel_id=channel)
    later = START + timedelta(hours=1)
    _import(session_factory, tmp_path / "b.csv", [license_row(1, user_count=250), RENEWAL], later)
    clock.now = later
    slack.delay("chat.postMessage", 0.2, times=6)  # posts slow enough to overlap
    barrier = threading.Barrier(2)
    results = []

    def run(worker: str) -> None:
        notifier = _notifier(session_factory, slack, store_url, clock, worker=worker)
        barrier.wait()
        results.append(notifier.run())

    threads = [threading.Thread(target=run, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.messages for r in results) == 3
    for channel in ("C1", "C2", "C3"):
        assert len(_posts(slack, channel)) == 1


def test_a_trial_a_failed_reconciliation_an_expiry_and_seats_each_post_once(
    session_factory, store_url, slack, tmp_path
):
    # The subscription expires in 10 days; its servers use 95 of 100 seats.
    expires = START.date() + timedelta(days=10)
    first = license_row(
        1, user_count=100, starts_at=str(expires - timedelta(days=365)), expires_at=str(expires)
    )
    _import(session_factory, tmp_path / "a.csv", [first], START)
    pending = reconciliation_row(7, status="pending", reconcile_done_at="", error_message="")
    _import(session_factory, tmp_path / "r.csv", [pending], START, ImportKind.RECONCILIATIONS)
    with session_scope(session_factory) as session:
        session.add(Host(instance_key="host:gitlab.acme.example", hostname="gitlab.acme.example",
                         license_id=1, active_user_count=95, last_ping_at=START))  # fmt: skip
    clock = Clock(START)
    _follow(session_factory, START - timedelta(days=1))
    notifier = _notifier(session_factory, slack, store_url, clock)
    assert notifier.run().messages == 0  # 30 days was crossed before the follow; seats: baseline
    trial = license_row(
        3, trial="true", plan="ultimate", user_count=20, issued_at="2026-12-09T08:00:00Z",
        starts_at="2026-12-09", expires_at="2027-01-08",
    )  # fmt: skip
    failed = reconciliation_row(
        7, status="failed", reconcile_on="2026-12-09", reconcile_done_at="2026-12-09T06:00:00Z",
        error_message="Card declined, ask billing@acme.io",
    )  # fmt: skip
    day2 = START + timedelta(days=1)
    _import(session_factory, tmp_path / "b.csv", [first, trial], day2)
    _import(session_factory, tmp_path / "r2.csv", [failed], day2, ImportKind.RECONCILIATIONS)
    with session_scope(session_factory) as session:
        session.get_one(Host, "host:gitlab.acme.example").active_user_count = 101
    clock.now = START + timedelta(days=3)  # 7 days before expiry
    result = _notifier(session_factory, slack, store_url, clock).run()
    assert (result.messages, result.events) == (1, 4)  # several events: one message
    (post,) = _posts(slack)
    words = str(post.json_param("blocks"))
    assert "new trial: Ultimate" in words
    assert "reconciliation failed" in words and "billing@acme.io" not in words
    assert "expires in 7 days" in words
    assert "101 of 100 seats in use" in words
    clock.now += timedelta(days=1)
    assert _notifier(session_factory, slack, store_url, clock).run().messages == 0


def test_events_from_before_a_follow_started_are_not_posted(
    session_factory, store_url, slack, tmp_path
):
    _import(session_factory, tmp_path / "a.csv", [license_row(1, user_count=250)], START)
    early = _follow(session_factory, START, channel_id="CEARLY")
    later = START + timedelta(hours=1)
    _import(session_factory, tmp_path / "b.csv", [license_row(1, user_count=250), RENEWAL], later)
    _follow(session_factory, later + timedelta(minutes=5), channel_id="CLATE")
    clock = Clock(later + timedelta(minutes=10))
    assert _notifier(session_factory, slack, store_url, clock).run().messages == 1
    assert len(_posts(slack, "CEARLY")) == 1 and _posts(slack, "CLATE") == []
    assert early.channel_id == "CEARLY"


def test_an_archived_channel_pauses_the_follow_and_tells_its_owner(
    session_factory, store_url, slack, tmp_path
):
    _import(session_factory, tmp_path / "a.csv", [license_row(1, user_count=250)], START)
    follow = _follow(session_factory, START)
    later = START + timedelta(hours=1)
    _import(session_factory, tmp_path / "b.csv", [license_row(1, user_count=250), RENEWAL], later)
    slack.fail("chat.postMessage", error="is_archived")
    clock = Clock(later)
    result = _notifier(session_factory, slack, store_url, clock).run()
    assert result.paused == [follow.id] and result.messages == 0
    (dm,) = _posts(slack, "UALLOWED")
    assert "paused your follow of *Acme Inc.*" in dm.params["text"]
    assert "archived" in dm.params["text"]
    with session_factory() as session:
        paused = follows.get_follow(session, follow.id)
    assert paused is not None and (paused.state, paused.state_reason) == ("paused", "is_archived")
    clock.now += timedelta(hours=1)
    assert _notifier(session_factory, slack, store_url, clock).run().messages == 0
    assert len(slack.calls_to("chat.postMessage")) == 2  # the refused post and the DM


def test_a_follow_whose_owner_is_no_longer_allowed_stops_and_posts_nothing(
    session_factory, store_url, slack, tmp_path
):
    _import(session_factory, tmp_path / "a.csv", [license_row(1, user_count=250)], START)
    follow = _follow(session_factory, START, owner_user_id="UREFUSED")
    later = START + timedelta(hours=1)
    _import(session_factory, tmp_path / "b.csv", [license_row(1, user_count=250), RENEWAL], later)
    result = _notifier(session_factory, slack, store_url, Clock(later)).run()
    assert result.stopped == [follow.id]
    assert slack.calls_to("chat.postMessage") == []
    with session_factory() as session:
        stopped = follows.get_follow(session, follow.id)
    assert stopped is not None and stopped.state == "stopped"


def test_a_daily_follow_gets_one_digest_after_the_hour_in_its_owners_time_zone(
    session_factory, store_url, slack, tmp_path
):
    # 07:30 UTC is 08:30 in Amsterdam: before FOLLOW_DIGEST_AT (09:00) there.
    morning = datetime(2026, 12, 8, 7, 30, tzinfo=UTC)
    _import(session_factory, tmp_path / "a.csv", [license_row(1, user_count=250)], morning)
    _follow(session_factory, morning - timedelta(days=1), daily=True)
    _import(session_factory, tmp_path / "b.csv", [license_row(1, user_count=250), RENEWAL],
            morning)  # fmt: skip
    clock = Clock(morning)
    assert _notifier(session_factory, slack, store_url, clock).run().messages == 0
    clock.now = datetime(2026, 12, 8, 8, 5, tzinfo=UTC)  # 09:05 in Amsterdam
    assert _notifier(session_factory, slack, store_url, clock).run().messages == 1
    (post,) = _posts(slack)
    assert "daily digest" in str(post.json_param("blocks"))
    clock.now += timedelta(hours=3)
    assert _notifier(session_factory, slack, store_url, clock).run().messages == 0
    with session_factory() as session:
        digest = follows.follows_in_conversation(session, "C1")[0]
    assert digest.last_digest_on == date(2026, 12, 8)


def test_a_failed_post_is_retried_later_and_given_up_after_a_bounded_time(
    session_factory, store_url, slack, tmp_path, caplog
):
    _import(session_factory, tmp_path / "a.csv", [license_row(1, user_count=250)], START)
    _follow(session_factory, START)
    later = START + timedelta(hours=1)
    _import(session_factory, tmp_path / "b.csv", [license_row(1, user_count=250), RENEWAL], later)
    clock = Clock(later)
    slack.fail("chat.postMessage", error="internal_error", times=100)
    assert _notifier(session_factory, slack, store_url, clock).run().failed == 1
    assert _notifier(session_factory, slack, store_url, clock).run().failed == 0  # not yet due
    clock.now += timedelta(minutes=2)
    assert _notifier(session_factory, slack, store_url, clock).run().failed == 1
    clock.now = later + GIVE_UP_AFTER + timedelta(hours=1)
    with caplog.at_level("WARNING", logger="bot.slack.follow_delivery"):
        assert _notifier(session_factory, slack, store_url, clock).run().given_up == 1
    assert [r.getMessage() for r in caplog.records if "gave up" in r.getMessage()]
    slack.clear()
    clock.now += timedelta(days=1)
    assert _notifier(session_factory, slack, store_url, clock).run().messages == 0
    with session_factory() as session:
        assert list(session.scalars(select(FollowDelivery.state))) == ["given_up"]


def test_notify_runs_no_slack_call_when_nobody_follows(session_factory, store_url, slack):
    client: WebClient | None = None
    notifier = Notifier(
        session_factory, client_for=lambda team: client, access=lambda *a: pytest.fail("asked")
    )
    assert notifier.run().messages == 0
    assert slack.calls == []


def test_retry_after_is_honoured_and_posts_to_one_channel_are_spaced(
    session_factory, store_url, slack, tmp_path
):
    _import(session_factory, tmp_path / "a.csv", [license_row(1, user_count=250)], START)
    _follow(session_factory, START)
    _follow(session_factory, START, thread_ts=THREAD)
    later = START + timedelta(hours=1)
    _import(session_factory, tmp_path / "b.csv", [license_row(1, user_count=250), RENEWAL], later)
    slack.fail("chat.postMessage", "rate_limited", retry_after=300, times=2)
    clock = Clock(later)
    assert _notifier(session_factory, slack, store_url, clock).run().failed == 2
    clock.now = later + timedelta(minutes=4)  # the backoff (1 minute) is over, Retry-After not
    assert _notifier(session_factory, slack, store_url, clock).run().messages == 0
    clock.now = later + timedelta(minutes=6)
    waits: list[float] = []
    notifier = _notifier(session_factory, slack, store_url, clock)
    notifier.sleep = waits.append
    assert notifier.run().messages == 2
    assert len(waits) == 1 and 0 < waits[0] <= 1.1  # the second post to C1 waited its turn


# ---- the conversation is checked before posting, as a card's is ---------------------------


def _renewed_after_follows(
    factory: sessionmaker[Session], tmp_path: Path, *follow_kw: Any
) -> datetime:
    """Acme imported, followed as each of `follow_kw` says, then renewed: the run's time."""
    _import(factory, tmp_path / "a.csv", [license_row(1, user_count=250)], START)
    for kw in follow_kw:
        _follow(factory, START, **kw)
    later = START + timedelta(hours=1)
    _import(factory, tmp_path / "b.csv", [license_row(1, user_count=250), RENEWAL], later)
    return later


def _states(factory: sessionmaker[Session]) -> list[tuple[str, str | None]]:
    with factory() as session:
        return [
            (f.state, f.state_reason) for f in follows.follows_in_conversation(session, "C0DEALS")
        ]


@pytest.mark.parametrize(
    ("channel", "reason"),
    [
        # channel_shared was missed: the channel is Slack Connect now.
        ({"is_ext_shared": True, "is_shared": True}, "external"),
        ({"is_archived": True}, "archived"),
        ({"is_member": False}, "not_member"),
        # member_left_channel was missed: the owner left the private channel.
        ({"is_private": True, "members": ["UOTHER"]}, "requester_not_member"),
        (None, "channel_not_found"),  # gone, or private and the bot was removed
    ],
)
def test_a_conversation_the_bot_may_no_longer_post_to_is_checked_before_posting_and_pauses(
    session_factory, store_url, slack, tmp_path, channel, reason
):
    if channel is not None:
        slack.add_channel("C0DEALS", **channel)
    when = _renewed_after_follows(
        session_factory, tmp_path, {"channel_id": "C0DEALS"},
        {"channel_id": "C0DEALS", "thread_ts": THREAD},
    )  # fmt: skip
    clock = Clock(when)
    result = _notifier(session_factory, slack, store_url, clock).run()
    assert result.messages == 0 and len(result.paused) == 2
    assert _posts(slack, "C0DEALS") == []  # no customer data went there
    assert _states(session_factory) == [("paused", reason), ("paused", reason)]
    # Both follows paused in one conversation for one reason: one DM, saying where and why.
    (dm,) = _posts(slack, "UALLOWED")
    said = str(dm.json_param("blocks"))
    assert "paused your follow of *Acme Inc.* in <#C0DEALS>" in said
    assert "Nothing more is posted there" in said
    # One check for the conversation and owner, though two follows had something to post.
    assert slack.call_count("conversations.info") == 1
    with session_factory() as session:
        assert set(session.scalars(select(FollowDelivery.state))) == {"given_up"}
    clock.now += timedelta(hours=1)
    slack.clear()
    assert _notifier(session_factory, slack, store_url, clock).run().messages == 0
    assert slack.calls_to("chat.postMessage") == []


def test_a_check_slack_cannot_answer_is_retried_like_a_failed_post_and_pauses_nothing(
    session_factory, store_url, slack, tmp_path
):
    slack.add_channel("C0DEALS")
    when = _renewed_after_follows(session_factory, tmp_path, {"channel_id": "C0DEALS"})
    clock = Clock(when)
    slack.fail("conversations.info", "rate_limited", retry_after=300)  # past the client's wait
    result = _notifier(session_factory, slack, store_url, clock).run()
    assert (result.messages, result.failed, result.paused) == (0, 1, [])
    assert slack.calls_to("chat.postMessage") == []
    assert _states(session_factory) == [("active", None)]
    clock.now += timedelta(minutes=2)  # the backoff is over
    assert _notifier(session_factory, slack, store_url, clock).run().messages == 1
    assert len(_posts(slack, "C0DEALS")) == 1


def test_nothing_to_post_asks_slack_nothing_about_the_conversation(
    session_factory, store_url, slack, tmp_path
):
    _import(session_factory, tmp_path / "a.csv", [license_row(1, user_count=250)], START)
    _follow(session_factory, START)
    notifier = _notifier(session_factory, slack, store_url, Clock(START + timedelta(hours=1)))
    assert notifier.run(daily_pass=False).messages == 0
    assert slack.call_count("conversations.info") == 0
    assert slack.call_count("conversations.members") == 0


def test_a_private_channel_its_owner_is_in_gets_the_post_after_one_member_check(
    session_factory, store_url, slack, tmp_path
):
    slack.add_channel("G0DEALS", is_private=True, members=["UOTHER", "UALLOWED"])
    when = _renewed_after_follows(
        session_factory, tmp_path, {"channel_id": "G0DEALS"},
        {"channel_id": "G0DEALS", "thread_ts": THREAD},
    )  # fmt: skip
    assert _notifier(session_factory, slack, store_url, Clock(when)).run().messages == 2
    assert len(_posts(slack, "G0DEALS")) == 2
    assert (slack.call_count("conversations.info"), slack.call_count("conversations.members")) == (
        1,
        1,
    )


# ---- unfollow ---------------------------------------------------------------------------------


def test_unfollow_stops_the_updates(session_factory, store_url, slack, tmp_path):
    _import(session_factory, tmp_path / "a.csv", [license_row(1, user_count=250)], START)
    follow = _follow(session_factory, START)
    kept = _follow(session_factory, START, channel_id="C2")
    with session_scope(session_factory) as session:
        assert follows.remove_follow(session, follow.id) is not None
    later = START + timedelta(hours=1)
    _import(session_factory, tmp_path / "b.csv", [license_row(1, user_count=250), RENEWAL], later)
    clock = Clock(later + timedelta(minutes=1))
    assert _notifier(session_factory, slack, store_url, clock).run().messages == 1
    assert _posts(slack, "C1") == []
    assert len(_posts(slack, "C2")) == 1 and kept.channel_id == "C2"
    clock.now += timedelta(days=1)
    assert _notifier(session_factory, slack, store_url, clock).run().messages == 0
    assert _posts(slack, "C1") == []


# ---- purge ------------------------------------------------------------------------------------


def test_a_run_purges_events_no_follow_will_be_posted_again(
    session_factory, store_url, slack, tmp_path
):
    when = _renewed_after_follows(session_factory, tmp_path, {})
    clock = Clock(when)
    assert _notifier(session_factory, slack, store_url, clock).run().messages == 1
    clock.now = when + follows.PURGE_AFTER + timedelta(days=1)
    result = _notifier(session_factory, slack, store_url, clock).run(daily_pass=False)
    assert result.purged == 2  # the renewal's event and its delivery row
    assert "2 old rows purged" in result.describe()
    with session_factory() as session:
        assert session.scalars(select(FollowDelivery)).all() == []


def test_seats_crossed_while_nobody_followed_are_not_announced_to_a_new_follow(
    session_factory, store_url, slack, tmp_path
):
    _import(session_factory, tmp_path / "a.csv", [license_row(1, user_count=100)], START)

    def ping(users: int) -> None:
        with session_scope(session_factory) as session:
            host = session.get(Host, "host:gitlab.acme.example")
            if host is None:
                host = Host(instance_key="host:gitlab.acme.example", hostname="gitlab.acme.example",
                            license_id=1)  # fmt: skip
                session.add(host)
            host.active_user_count, host.last_ping_at = users, clock.now

    def run() -> int:
        return _notifier(session_factory, slack, store_url, clock, worker="w").run().messages

    clock = Clock(START)
    ping(50)
    first = _follow(session_factory, START, features=["seats"])
    assert run() == 0  # the baseline: half the seats
    with session_scope(session_factory) as session:
        follows.remove_follow(session, first.id)
    clock.now = START + timedelta(days=2)
    ping(100)  # every seat in use, and nobody following
    _follow(session_factory, clock.now, features=["seats"])
    clock.now += timedelta(hours=1)
    assert run() == 0  # already so when the follow started: not news
    clock.now += timedelta(days=1)
    ping(50)
    assert run() == 0
    clock.now += timedelta(days=1)
    ping(101)
    assert run() == 1
    (post,) = _posts(slack)
    assert "101 of 100 seats in use" in str(post.json_param("blocks"))
