"""Follows, their events and deliveries (issue "Deal threads that keep themselves current").

Every function takes a session and leaves the commit to its caller, except where a claim
must be visible to other workers before anything is posted (the caller commits the claim
before posting: `claim_deliveries` says so).

Follows (the slash command, the buttons and App Home use these):
- `add_follow(...)` starts a follow, or adds features to the one already there for that
  (conversation, thread, customer) and resumes it — found by today's key, else by its evidence
  after a regrouping changed the key; returns `FollowChange(follow, created)`.
- `remove_follow(session, follow_id)` / `remove_features(session, follow_id, features)`:
  unfollow (removing every feature removes the follow).
- `find_follow`, `get_follow`, `follows_in_conversation(session, channel_id)` (the channel and
  its threads), `follows_of_customer(session, channel_id, customer_key)` (today's key: also
  follows started under a key the customer had before a regrouping),
  `follows_of_owner(session, user_id)`.
- `pause_follow` / `resume_follow` / `stop_follow` (with a reason word), and
  `pause_follows_in_conversation(session, channel_id, reason=…, now=…)` for Slack's events
  that say the bot can no longer post there (channel_archived, member_left).
- `customer_evidence(session, customer_key)`: what a follow remembers of its customer.
- `resolve_customer(session, follow)`: the customer its evidence names today
  (`Resolution.outcome` "one", "ambiguous" or "gone").

Events and deliveries (imports, the daily pass and `python -m bot notify`):
- `write_scope(session_factory)`: the unit of work for a claim or a state change.
- `record_event(...)` records a change once (its dedupe key); `events_for_follow` lists the
  events a follow has not had; `claim_deliveries` claims (follow, event) pairs by inserting
  their delivery rows (insert-or-nothing: one claimant wins); `claim_retries` takes back failed
  ones due again; `mark_posted` / `mark_failed` end an attempt.

A follow's `thread_ts` is None for the conversation itself ("" in the table, see models.Follow).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.store.db import SQLITE_BEGIN_OPTION, dialect_insert
from bot.store.models import (
    EVIDENCE_KINDS,
    FOLLOW_FEATURES,
    Follow,
    FollowDelivery,
    FollowEvent,
    FollowEvidence,
    License,
    SeatLevel,
    column_width,
)
from bot.store.queries import current_customer_key

ACTIVE, PAUSED, STOPPED = "active", "paused", "stopped"
# FollowDelivery.state: being posted, to retry at next_attempt_at, done, abandoned.
CLAIMED, FAILED, POSTED, GIVEN_UP = "claimed", "failed", "posted", "given_up"
DELIVERY_STATES = (CLAIMED, FAILED, POSTED, GIVEN_UP)
# Events older than this are not delivered to anyone: a follow resumed after a month's pause
# hears of what happens next, not of everything it missed.
EVENT_HORIZON = timedelta(days=14)
# Events created longer ago than this are deleted with their delivery rows (`purge_old`): past
# EVENT_HORIZON nobody claims them, and a claim's retries end GIVE_UP_AFTER (a day) after it
# (bot/slack/follow_delivery.py). It also outlasts the longest window in which the daily pass
# would record a deleted event again (bot/store/follow_dates.py: 30 days before expiry until
# 7 days before, 23 days; the 14 days of grace), so a purge never lets one be posted twice.
PURGE_AFTER = timedelta(days=30)
_ERROR_WIDTH = column_width(FollowDelivery.last_error)
_REASON_WIDTH = column_width(Follow.state_reason)


class UnknownFeature(ValueError):
    """A feature word that is not one of FOLLOW_FEATURES."""


@dataclass(frozen=True)
class FollowRecord:
    id: int
    team_id: str
    channel_id: str
    # None: the conversation itself; else the thread's parent ts.
    thread_ts: str | None
    customer_key: str
    customer_name: str
    # A subset of FOLLOW_FEATURES, in that order.
    features: tuple[str, ...]
    daily: bool
    owner_user_id: str
    owner_team_id: str | None
    owner_enterprise_id: str | None
    created_at: datetime
    state: str
    state_reason: str | None
    state_changed_at: datetime | None
    last_digest_on: date | None
    # Since when it has been active without a break: its start, or its last resumption (only a
    # change of state writes `state_changed_at`, so an active follow's is when it became active:
    # `_set_state`, `add_follow`). What happened before, a pause included, is not its news.
    active_since: datetime


@dataclass(frozen=True)
class FollowChange:
    follow: FollowRecord
    # True when the follow is new (or a stopped one started afresh); False when features were
    # added to, or a paused one resumed, an existing follow.
    created: bool


@dataclass(frozen=True)
class CustomerEvidence:
    """What identifies a customer, strongest first (models.EVIDENCE_KINDS)."""

    salesforce_account_ids: tuple[str, ...] = ()
    zuora_account_ids: tuple[str, ...] = ()
    subscription_names: tuple[str, ...] = ()
    license_ids: tuple[int, ...] = ()

    def rows(self) -> list[tuple[str, str]]:
        return (
            [("sf", v) for v in self.salesforce_account_ids]
            + [("za", v) for v in self.zuora_account_ids]
            + [("sub", v) for v in self.subscription_names]
            + [("license", str(v)) for v in self.license_ids]
        )


@dataclass(frozen=True)
class Resolution:
    # "one": `customer_key` is the customer today; "ambiguous": the evidence names several
    # (`candidates`); "gone": it names none.
    outcome: str
    customer_key: str | None
    candidates: tuple[str, ...] = ()


@dataclass(frozen=True)
class EventRecord:
    id: int
    kind: str
    customer_key: str
    subscription_name: str | None
    subject: str | None
    dedupe_key: str
    facts: dict[str, Any]
    occurred_at: datetime
    created_at: datetime
    import_run_id: int | None


@contextmanager
def write_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work that reads, then writes (a claim, a state change): on SQLite it takes the
    write lock at its start, so a writer that committed in between makes it wait its turn
    rather than fail (a deferred transaction's snapshot would be stale: SQLITE_BUSY_SNAPSHOT)."""
    session = factory()
    try:
        session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def canonical_features(features: Iterable[str]) -> tuple[str, ...]:
    """The features in FOLLOW_FEATURES order; none given means all. Unknown words raise."""
    wanted = {feature.strip().lower() for feature in features if feature.strip()}
    unknown = wanted - set(FOLLOW_FEATURES)
    if unknown:
        raise UnknownFeature(", ".join(sorted(unknown)))
    if not wanted:
        return FOLLOW_FEATURES
    return tuple(feature for feature in FOLLOW_FEATURES if feature in wanted)


def _active_since(follow: Follow) -> datetime:
    if follow.state == ACTIVE and follow.state_changed_at is not None:
        return max(follow.created_at, follow.state_changed_at)
    return follow.created_at


def _record(follow: Follow) -> FollowRecord:
    return FollowRecord(
        id=follow.id,
        team_id=follow.team_id,
        channel_id=follow.channel_id,
        thread_ts=follow.thread_ts or None,
        customer_key=follow.customer_key,
        customer_name=follow.customer_name,
        features=tuple(f for f in follow.features.split(",") if f),
        daily=follow.daily,
        owner_user_id=follow.owner_user_id,
        owner_team_id=follow.owner_team_id,
        owner_enterprise_id=follow.owner_enterprise_id,
        created_at=follow.created_at,
        state=follow.state,
        state_reason=follow.state_reason,
        state_changed_at=follow.state_changed_at,
        last_digest_on=follow.last_digest_on,
        active_since=_active_since(follow),
    )


def customer_evidence(session: Session, customer_key: str) -> CustomerEvidence:
    """What identifies the customer today: its licenses' Salesforce and Zuora accounts,
    subscriptions and ids (one statement)."""
    rows = session.execute(
        select(
            License.id,
            License.salesforce_account_id,
            License.zuora_account_id,
            License.zuora_subscription_name,
        ).where(License.customer_key == customer_key)
    ).all()
    return CustomerEvidence(
        salesforce_account_ids=tuple(sorted({r[1] for r in rows if r[1]})),
        zuora_account_ids=tuple(sorted({r[2] for r in rows if r[2]})),
        subscription_names=tuple(sorted({r[3] for r in rows if r[3]})),
        license_ids=tuple(sorted(r[0] for r in rows)),
    )


def _follow_row(
    session: Session, channel_id: str, thread_ts: str | None, customer_key: str
) -> Follow | None:
    return session.scalars(
        select(Follow).where(
            Follow.channel_id == channel_id,
            Follow.thread_ts == (thread_ts or ""),
            Follow.customer_key == customer_key,
        )
    ).first()


def add_follow(
    session: Session,
    *,
    team_id: str,
    channel_id: str,
    thread_ts: str | None,
    customer_key: str,
    customer_name: str,
    features: Iterable[str] = (),
    daily: bool = False,
    owner_user_id: str,
    owner_team_id: str | None = None,
    owner_enterprise_id: str | None = None,
    now: datetime,
    evidence: CustomerEvidence | None = None,
) -> FollowChange:
    """Follow the customer in the conversation (or the thread `thread_ts`).

    The same (conversation, thread, customer) followed again gets the features added, `daily`
    as now asked, and resumes if paused; a stopped one starts afresh under its new owner (and
    from now: nothing from before is delivered). The same customer is the follow started under
    `customer_key`, else one there started under an older key whose evidence names this
    customer alone today (the customers were regrouped since): that one takes today's key.
    Either way it remembers today's evidence too. `evidence` defaults to the customer's today.
    Two people following at once make one follow (the unique key): the loser's call adds its
    features to the winner's."""
    wanted = canonical_features(features)
    existing = _follow_row(session, channel_id, thread_ts, customer_key)
    if existing is None:
        existing = _regrouped_follow_row(session, channel_id, thread_ts, customer_key)
    if existing is None:
        statement = (
            dialect_insert(session, Follow)
            .values(
                team_id=team_id,
                channel_id=channel_id,
                thread_ts=thread_ts or "",
                customer_key=customer_key,
                customer_name=customer_name,
                features=",".join(wanted),
                daily=daily,
                owner_user_id=owner_user_id,
                owner_team_id=owner_team_id,
                owner_enterprise_id=owner_enterprise_id,
                created_at=now,
                state=ACTIVE,
            )
            .on_conflict_do_nothing()
            .returning(Follow.id)
        )
        new_id = session.execute(statement).scalar()
        if new_id is not None:
            if evidence is None:
                evidence = customer_evidence(session, customer_key)
            _write_evidence(session, new_id, evidence)
            follow = session.get_one(Follow, new_id)
            return FollowChange(_record(follow), created=True)
        existing = _follow_row(session, channel_id, thread_ts, customer_key)
        assert existing is not None  # the conflict was with it
    created = False
    if existing.state == STOPPED:
        existing.features = ",".join(wanted)
        existing.owner_user_id = owner_user_id
        existing.owner_team_id = owner_team_id
        existing.owner_enterprise_id = owner_enterprise_id
        existing.created_at = now
        created = True
    else:
        have = existing.features.split(",")
        existing.features = ",".join(canonical_features([*have, *wanted]))
    existing.daily = daily
    existing.customer_name = customer_name
    # A regrouped follow takes today's key. The unique key allows it: no follow here had that
    # key when looked up first, and a concurrent follow of the customer finds this same row by
    # its evidence rather than inserting one.
    existing.customer_key = customer_key
    if existing.state != ACTIVE:
        existing.state, existing.state_reason, existing.state_changed_at = ACTIVE, None, now
    session.flush()
    if evidence is None:
        evidence = customer_evidence(session, customer_key)
    _write_evidence(session, existing.id, evidence)
    return FollowChange(_record(existing), created=created)


def _regrouped_follow_row(
    session: Session, channel_id: str, thread_ts: str | None, customer_key: str
) -> Follow | None:
    """The follow in this conversation and thread, started under another key, whose evidence
    names `customer_key` alone today (the oldest, if several do). One the evidence leaves
    ambiguous is not it: following the customer again must not resume what would pause again."""
    for follow in follows_of_customer(session, channel_id, customer_key):
        if follow.thread_ts != (thread_ts or None):
            continue
        if resolve_customer(session, follow) == Resolution("one", customer_key):
            return session.get_one(Follow, follow.id)
    return None


def _write_evidence(session: Session, follow_id: int, evidence: CustomerEvidence) -> None:
    rows = [
        {"follow_id": follow_id, "kind": kind, "value": value[:64]}
        for kind, value in dict.fromkeys(evidence.rows())
    ]
    if rows:
        session.execute(dialect_insert(session, FollowEvidence).on_conflict_do_nothing(), rows)


def follow_evidence(session: Session, follow_id: int) -> CustomerEvidence:
    rows = session.execute(
        select(FollowEvidence.kind, FollowEvidence.value).where(
            FollowEvidence.follow_id == follow_id
        )
    ).all()
    by_kind: dict[str, list[str]] = {kind: [] for kind in EVIDENCE_KINDS}
    for kind, value in rows:
        by_kind.setdefault(kind, []).append(value)
    return CustomerEvidence(
        salesforce_account_ids=tuple(sorted(by_kind["sf"])),
        zuora_account_ids=tuple(sorted(by_kind["za"])),
        subscription_names=tuple(sorted(by_kind["sub"])),
        license_ids=tuple(sorted(int(v) for v in by_kind["license"] if v.isdigit())),
    )


def get_follow(session: Session, follow_id: int) -> FollowRecord | None:
    follow = session.get(Follow, follow_id)
    return None if follow is None else _record(follow)


def find_follow(
    session: Session, channel_id: str, thread_ts: str | None, customer_key: str
) -> FollowRecord | None:
    follow = _follow_row(session, channel_id, thread_ts, customer_key)
    return None if follow is None else _record(follow)


def remove_follow(session: Session, follow_id: int) -> FollowRecord | None:
    """Delete the follow, its evidence and deliveries; the record it was, or None if gone."""
    follow = session.get(Follow, follow_id)
    if follow is None:
        return None
    record = _record(follow)
    # Children first: SQLite enforces no foreign keys here, so no cascade would run there.
    session.execute(delete(FollowDelivery).where(FollowDelivery.follow_id == follow_id))
    session.execute(delete(FollowEvidence).where(FollowEvidence.follow_id == follow_id))
    session.execute(delete(Follow).where(Follow.id == follow_id))
    return record


def remove_features(
    session: Session, follow_id: int, features: Iterable[str]
) -> FollowRecord | None:
    """Stop the given features (none given: all); the follow as it is now, or None when no
    feature is left (the follow is removed)."""
    dropped = set(canonical_features(features))
    follow = session.get(Follow, follow_id)
    if follow is None:
        return None
    left = [f for f in follow.features.split(",") if f and f not in dropped]
    if not left:
        remove_follow(session, follow_id)
        return None
    follow.features = ",".join(left)
    session.flush()
    return _record(follow)


def _ordered(statement: Any) -> Any:
    return statement.order_by(Follow.created_at, Follow.id)


def follows_in_conversation(
    session: Session, channel_id: str, *, threads: bool = True
) -> list[FollowRecord]:
    """The conversation's follows, oldest first, with its threads' unless `threads` is False."""
    statement = select(Follow).where(Follow.channel_id == channel_id)
    if not threads:
        statement = statement.where(Follow.thread_ts == "")
    return [_record(f) for f in session.scalars(_ordered(statement))]


def follows_of_customer(session: Session, channel_id: str, customer_key: str) -> list[FollowRecord]:
    """The conversation's follows (its threads' too) of the customer `customer_key` names
    today: started under that key, or found there by their evidence since the customers were
    regrouped. For `/license unfollow Acme` and for not following one company twice."""
    found = []
    for follow in follows_in_conversation(session, channel_id):
        if follow.customer_key == customer_key:
            found.append(follow)
            continue
        resolution = resolve_customer(session, follow)
        if resolution.customer_key == customer_key or customer_key in resolution.candidates:
            found.append(follow)
    return found


def follows_of_owner(session: Session, user_id: str) -> list[FollowRecord]:
    """The follows `user_id` set up (App Home), oldest first."""
    statement = select(Follow).where(Follow.owner_user_id == user_id)
    return [_record(f) for f in session.scalars(_ordered(statement))]


def active_follows(session: Session) -> list[FollowRecord]:
    statement = select(Follow).where(Follow.state == ACTIVE)
    return [_record(f) for f in session.scalars(_ordered(statement))]


def _set_state(
    session: Session, follow_id: int, state: str, reason: str | None, now: datetime
) -> FollowRecord | None:
    follow = session.get(Follow, follow_id)
    if follow is None:
        return None
    if follow.state == STOPPED and state != STOPPED:
        return _record(follow)  # stopped for good: only a new follow starts it again
    if follow.state != state:
        # Only a change moves it: an active follow "resumed" again keeps its `active_since`.
        follow.state_changed_at = now
    follow.state = state
    follow.state_reason = reason[:_REASON_WIDTH] if reason else None
    session.flush()
    return _record(follow)


def pause_follow(
    session: Session, follow_id: int, *, reason: str, now: datetime
) -> FollowRecord | None:
    """Post nothing more until resumed (`is_archived`, `not_in_channel`, `ambiguous`, …)."""
    return _set_state(session, follow_id, PAUSED, reason, now)


def resume_follow(session: Session, follow_id: int, *, now: datetime) -> FollowRecord | None:
    return _set_state(session, follow_id, ACTIVE, None, now)


def stop_follow(
    session: Session, follow_id: int, *, reason: str, now: datetime
) -> FollowRecord | None:
    """Never post again (`owner_not_allowed`, `customer_gone`); kept to show, not to run."""
    return _set_state(session, follow_id, STOPPED, reason, now)


def pause_follows_in_conversation(
    session: Session, channel_id: str, *, reason: str, now: datetime
) -> list[FollowRecord]:
    """Pause every active follow in the conversation and its threads; the ones paused now.

    The active follows are read under row locks (PostgreSQL; SQLite's `write_scope` holds the
    write lock): of two events for one removal handled at once, the second waits for the
    first's commit and then finds them paused, so each owner is told once."""
    statement = (
        _ordered(select(Follow).where(Follow.channel_id == channel_id, Follow.state == ACTIVE))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    paused = []
    for follow in session.scalars(statement).all():
        record = pause_follow(session, follow.id, reason=reason, now=now)
        if record is not None:
            paused.append(record)
    return paused


def set_last_digest_on(session: Session, follow_id: int, day: date) -> None:
    session.execute(update(Follow).where(Follow.id == follow_id).values(last_digest_on=day))


def resolve_customer(session: Session, follow: FollowRecord) -> Resolution:
    """The customer the follow's evidence names today, strongest evidence first (as the customer
    rule groups): the first kind of evidence that names any customer decides — one customer is
    it, several are ambiguous. None names one: the key the follow started with, followed as a
    card's old key is (bot.store.queries.current_customer_key); else the customer is gone."""
    evidence = follow_evidence(session, follow.id)
    tiers: list[Any] = [
        (License.salesforce_account_id, evidence.salesforce_account_ids),
        (License.zuora_account_id, evidence.zuora_account_ids),
        (License.zuora_subscription_name, evidence.subscription_names),
        (License.id, evidence.license_ids),
    ]
    for column, values in tiers:
        if not values:
            continue
        keys = sorted(
            session.scalars(select(License.customer_key).where(column.in_(values)).distinct())
        )
        if len(keys) == 1:
            return Resolution("one", keys[0])
        if len(keys) > 1:
            return Resolution("ambiguous", None, tuple(keys))
    current = current_customer_key(session, follow.customer_key)
    if current is not None:
        return Resolution("one", current)
    return Resolution("gone", None)


def record_event(
    session: Session,
    *,
    kind: str,
    customer_key: str,
    dedupe_key: str,
    facts: dict[str, Any],
    occurred_at: datetime,
    now: datetime,
    subscription_name: str | None = None,
    subject: str | None = None,
    import_run_id: int | None = None,
) -> bool:
    """Record a change once: False when its dedupe key was recorded before."""
    if kind not in FOLLOW_FEATURES:
        raise UnknownFeature(kind)
    statement = (
        dialect_insert(session, FollowEvent)
        .values(
            kind=kind,
            customer_key=customer_key,
            subscription_name=subscription_name,
            subject=subject,
            dedupe_key=dedupe_key,
            facts=facts,
            occurred_at=occurred_at,
            created_at=now,
            import_run_id=import_run_id,
        )
        .on_conflict_do_nothing()
        .returning(FollowEvent.id)
    )
    return session.execute(statement).scalar() is not None


def _event_record(event: FollowEvent) -> EventRecord:
    return EventRecord(
        id=event.id,
        kind=event.kind,
        customer_key=event.customer_key,
        subscription_name=event.subscription_name,
        subject=event.subject,
        dedupe_key=event.dedupe_key,
        facts=dict(event.facts),
        occurred_at=event.occurred_at,
        created_at=event.created_at,
        import_run_id=event.import_run_id,
    )


def events_for_follow(
    session: Session, follow: FollowRecord, customer_key: str, *, now: datetime
) -> list[EventRecord]:
    """Events of the follow's features about its customer (`customer_key`, as resolved today:
    recorded under that key, or about one of its subscriptions), that happened since the follow
    has been active (`active_since`, read from the follow as it is now: one resumed since the
    run listed it hears nothing of its pause) and within EVENT_HORIZON, and that no delivery to
    this follow claimed yet; oldest first. None for a follow no longer there."""
    current = session.get(Follow, follow.id)
    if current is None:
        return []
    since = _active_since(current)
    subscriptions = select(License.zuora_subscription_name).where(
        License.customer_key == customer_key, License.zuora_subscription_name.is_not(None)
    )
    claimed = select(FollowDelivery.event_id).where(FollowDelivery.follow_id == follow.id)
    statement = (
        select(FollowEvent)
        .where(
            FollowEvent.kind.in_(follow.features),
            or_(
                FollowEvent.customer_key == customer_key,
                FollowEvent.subscription_name.in_(subscriptions),
            ),
            FollowEvent.occurred_at >= since,
            FollowEvent.created_at >= now - EVENT_HORIZON,
            FollowEvent.id.not_in(claimed),
        )
        .order_by(FollowEvent.occurred_at, FollowEvent.id)
    )
    return [_event_record(e) for e in session.scalars(statement)]


def events_by_id(session: Session, event_ids: Collection[int]) -> list[EventRecord]:
    if not event_ids:
        return []
    statement = (
        select(FollowEvent)
        .where(FollowEvent.id.in_(event_ids))
        .order_by(FollowEvent.occurred_at, FollowEvent.id)
    )
    return [_event_record(e) for e in session.scalars(statement)]


def claim_deliveries(
    session: Session,
    follow_id: int,
    event_ids: Sequence[int],
    *,
    claimed_by: str,
    now: datetime,
) -> list[int]:
    """Claim the (follow, event) deliveries: the event ids this call claimed (inserted), the
    others having been claimed by someone else. Commit before posting, so that another worker's
    claim of the same pair fails; only the claimant posts. Nothing is claimed for a follow no
    longer active (paused, stopped or removed since the run listed it)."""
    if not _still_active(session, follow_id):
        return []
    claimed = []
    for event_id in event_ids:
        statement = (
            dialect_insert(session, FollowDelivery)
            .values(
                follow_id=follow_id,
                event_id=event_id,
                state=CLAIMED,
                claimed_by=claimed_by[:200],
                claimed_at=now,
                attempts=0,
            )
            .on_conflict_do_nothing()
            .returning(FollowDelivery.event_id)
        )
        if session.execute(statement).scalar() is not None:
            claimed.append(event_id)
    return claimed


def _still_active(session: Session, follow_id: int) -> bool:
    """The follow exists and is active, read under a row lock on PostgreSQL (a pause or an
    unfollow waits for the claim's commit, or is seen by it) and under the write lock a claim's
    `write_scope` holds on SQLite."""
    state = session.execute(
        select(Follow.state).where(Follow.id == follow_id).with_for_update()
    ).scalar()
    return state == ACTIVE


def retries_due(session: Session, *, now: datetime) -> dict[int, list[int]]:
    """Failed deliveries due again: event ids by follow id."""
    rows = session.execute(
        select(FollowDelivery.follow_id, FollowDelivery.event_id)
        .where(FollowDelivery.state == FAILED, FollowDelivery.next_attempt_at <= now)
        .order_by(FollowDelivery.follow_id, FollowDelivery.event_id)
    ).all()
    due: dict[int, list[int]] = {}
    for follow_id, event_id in rows:
        due.setdefault(follow_id, []).append(event_id)
    return due


def claim_retries(
    session: Session,
    follow_id: int,
    event_ids: Sequence[int],
    *,
    claimed_by: str,
    now: datetime,
) -> list[int]:
    """Take back failed deliveries that are due: a conditional UPDATE, so of two workers one
    gets each. The event ids this call claimed; commit before posting. None for a follow no
    longer active."""
    if not _still_active(session, follow_id):
        return []
    claimed = []
    for event_id in event_ids:
        result = session.execute(
            update(FollowDelivery)
            .where(
                FollowDelivery.follow_id == follow_id,
                FollowDelivery.event_id == event_id,
                FollowDelivery.state == FAILED,
                FollowDelivery.next_attempt_at <= now,
            )
            .values(state=CLAIMED, claimed_by=claimed_by[:200])
            .returning(FollowDelivery.event_id)
        )
        if result.scalar() is not None:
            claimed.append(event_id)
    return claimed


def mark_posted(
    session: Session,
    follow_id: int,
    event_ids: Sequence[int],
    *,
    message_ts: str | None,
    now: datetime,
) -> None:
    session.execute(
        update(FollowDelivery)
        .where(FollowDelivery.follow_id == follow_id, FollowDelivery.event_id.in_(event_ids))
        .values(
            state=POSTED,
            attempts=FollowDelivery.attempts + 1,
            message_ts=message_ts,
            posted_at=now,
            next_attempt_at=None,
        )
    )


def mark_failed(
    session: Session,
    follow_id: int,
    event_ids: Sequence[int],
    *,
    error: str,
    retry_at: datetime | None,
) -> None:
    """One attempt failed: retried at `retry_at`, or given up when it is None."""
    session.execute(
        update(FollowDelivery)
        .where(FollowDelivery.follow_id == follow_id, FollowDelivery.event_id.in_(event_ids))
        .values(
            state=FAILED if retry_at is not None else GIVEN_UP,
            attempts=FollowDelivery.attempts + 1,
            last_error=error[:_ERROR_WIDTH],
            next_attempt_at=retry_at,
        )
    )


def delivery_attempts(session: Session, follow_id: int, event_ids: Sequence[int]) -> int:
    """The most attempts any of these deliveries has had (for the backoff)."""
    value = session.scalar(
        select(func.max(FollowDelivery.attempts)).where(
            FollowDelivery.follow_id == follow_id, FollowDelivery.event_id.in_(event_ids)
        )
    )
    return int(value or 0)


def first_claimed_at(session: Session, follow_id: int, event_ids: Sequence[int]) -> datetime | None:
    """When the first of these deliveries was claimed: the start of its bounded retrying."""
    return session.scalar(
        select(func.min(FollowDelivery.claimed_at)).where(
            FollowDelivery.follow_id == follow_id, FollowDelivery.event_id.in_(event_ids)
        )
    )


def purge_old(session: Session, *, now: datetime) -> int:
    """Delete events created more than PURGE_AFTER ago, with their delivery rows (deleted here,
    not left to the foreign key: SQLite does not enforce it), and the seat levels not seen for
    as long; how many rows went. Seat levels go on the same day as the events recorded when they
    were last seen, so a level counted again from zero never meets an old rise's dedupe key."""
    cutoff = now - PURGE_AFTER
    old_events = select(FollowEvent.id).where(FollowEvent.created_at < cutoff)
    deliveries = session.execute(
        delete(FollowDelivery).where(FollowDelivery.event_id.in_(old_events))
    )
    events = session.execute(delete(FollowEvent).where(FollowEvent.created_at < cutoff))
    levels = session.execute(delete(SeatLevel).where(SeatLevel.seen_at < cutoff))
    return sum(int(getattr(r, "rowcount", 0) or 0) for r in (deliveries, events, levels))
