"""Delivering follow events to Slack: the work of `python -m bot notify` (bot/cli/notify.py).

One run:
1. Every active follow's owner is checked against the allowlist (the same decision a lookup
   gets): refused, the follow stops for good and its conversation is never posted to again;
   Slack unable to say for now, the follow waits for the next run.
2. Each follow's customer is found by its evidence (bot.store.follows.resolve_customer):
   ambiguous or gone, the follow pauses and its owner is told by DM.
3. The daily pass (bot/store/follow_dates.py) records the calendar's and the pings' events
   for the followed customers.
4. For each follow, the events it has not had are claimed — one delivery row per (follow,
   event), inserted by whoever gets there first and committed before anything is posted, so
   two runs at once, on any machine, post each once — and posted as one message (a `--daily`
   follow: once a day, the first run after FOLLOW_DIGEST_AT in its owner's time zone).
   A post goes to the follow's conversation, or to its thread only (never also to the channel).
5. Before a follow's first post of the run, its conversation is checked as a card's is
   (bot.answers.conversations.check_conversation, as a bot message, its owner as the requester):
   a `channel_shared` or `member_left_channel` event that never arrived does not let customer
   data into a Slack Connect channel, nor into a private one its owner left. One
   conversations.info (and conversations.members for a private one) per conversation and owner
   per run, only when there is something to post.
6. The owners of the follows paused in the run are told by DM at its end: one per owner,
   conversation and reason (bot.views.follows.build_follow_paused).
7. Events and seat levels nobody will deliver or read again are deleted (follows.purge_old).

Failures: a check that refuses (CONVERSATION_GONE: Slack Connect, archived, the bot or the
owner not in it, a DM between people, a conversation Slack no longer shows), and Slack's
`not_in_channel`, `is_archived` and `channel_not_found` answers to a post, pause the follow and
DM its owner (the events are given up: a resumed follow starts from then). A check Slack could
not answer, and any other failed post, is retried by a later run with exponential backoff (a
429's Retry-After at least), and given up GIVE_UP_AFTER after the first claim with one log
line. Posts to one conversation are spaced POST_SPACING_SECONDS apart (Slack allows about one
message per second per channel); the client's own retry handlers (bot/slack/client.py) bound
each call.

A claimed delivery whose process died before posting stays claimed: posted at most once, never
twice, is the promise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.access import AccessDecision
from bot.answers.conversations import Delivery, PostCheck, check_conversation
from bot.answers.redaction import hide_emails
from bot.outcomes import PostRefusal, RefusalReason
from bot.store import follows
from bot.store.follow_dates import run_daily_pass
from bot.views.follow_updates import FollowUpdate, follow_update_message
from bot.views.follows import build_follow_paused

logger = logging.getLogger(__name__)

# Slack's answers to a post that mean the bot can no longer post into the conversation ...
CONVERSATION_GONE_ERRORS = frozenset({"not_in_channel", "is_archived", "channel_not_found"})
# ... and, with them, the conversation check's refusals that say the bot may not post there (a
# card would be refused there too). Any other refusal (Slack unreachable or rate limited, an
# answer it could not read) is a failed post: retried, never a pause.
CONVERSATION_GONE = CONVERSATION_GONE_ERRORS | {
    PostRefusal.EXTERNAL,
    PostRefusal.DIRECT_MESSAGE,
    PostRefusal.ARCHIVED,
    PostRefusal.NOT_MEMBER,
    PostRefusal.REQUESTER_NOT_MEMBER,
    PostRefusal.NO_CONVERSATION,
}
# About one message per second per channel is what Slack allows.
POST_SPACING_SECONDS = 1.1
# A failed post is retried after this, doubling per attempt up to MAX_BACKOFF ...
FIRST_BACKOFF = timedelta(minutes=1)
MAX_BACKOFF = timedelta(hours=1)
# ... and given up this long after it was first claimed.
GIVE_UP_AFTER = timedelta(hours=24)

Clock = Callable[[], datetime]
Access = Callable[[str, str | None, str | None], AccessDecision]
ClientFor = Callable[[str], WebClient | None]


@dataclass
class NotifyResult:
    """What one run did, for the CLI's line."""

    messages: int = 0  # messages posted into followed conversations
    events: int = 0  # events those messages carried
    recorded: int = 0  # events the daily pass recorded
    paused: list[int] = field(default_factory=list)
    stopped: list[int] = field(default_factory=list)
    failed: int = 0  # posts that failed and will be retried
    given_up: int = 0
    purged: int = 0  # old events and seat levels deleted

    def describe(self) -> str:
        words = (
            f"notify: {self.messages} posted ({self.events} events), "
            f"{self.recorded} new from the daily pass"
        )
        if self.paused:
            words += f", {len(self.paused)} follows paused"
        if self.stopped:
            words += f", {len(self.stopped)} stopped"
        if self.failed:
            words += f", {self.failed} posts to retry"
        if self.given_up:
            words += f", {self.given_up} given up"
        if self.purged:
            words += f", {self.purged} old rows purged"
        return words


@dataclass
class Notifier:
    """One notify run's collaborators; `run()` does the work."""

    session_factory: sessionmaker[Session]
    client_for: ClientFor  # a client with the bot token of the follow's workspace
    access: Access  # the allowlist's decision for (user, team, enterprise)
    digest_at: time_of_day = time_of_day(9, 0)
    show_contact_emails_in_channels: bool = False
    worker: str = "notify"
    clock: Clock = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    _last_post: dict[str, float] = field(default_factory=dict)
    _time_zones: dict[str, ZoneInfo] = field(default_factory=dict)
    # This run's conversation checks, by (workspace, conversation, owner) ...
    _checks: dict[tuple[str, str, str], PostCheck] = field(default_factory=dict)
    # ... and the follows it paused, by whom to tell of what: (workspace, owner, conversation,
    # reason).
    _paused: dict[tuple[str, str, str, str], list[follows.FollowRecord]] = field(
        default_factory=dict
    )

    def run(self, *, daily_pass: bool = True) -> NotifyResult:
        result = NotifyResult()
        now = self.clock()
        self._checks.clear()
        self._paused.clear()
        with self.session_factory() as session:
            active = follows.active_follows(session)
        customers: dict[int, str] = {}
        for follow in active:
            key = self._checked_customer(follow, now, result)
            if key is not None:
                customers[follow.id] = key
        if daily_pass:
            # Each customer looked at, with since when its follows have watched it unbroken.
            watched: dict[str, datetime] = {}
            for follow in active:
                key = customers.get(follow.id)
                if key is not None and {"expiry", "seats"} & set(follow.features):
                    since = watched.get(key, follow.active_since)
                    watched[key] = min(since, follow.active_since)
            result.recorded = self._daily_pass(watched, now)
        retries = self._retries_due(now)
        for follow in active:
            if follow.id in customers:
                self._deliver(follow, customers[follow.id], retries.get(follow.id, []), result)
        self._tell_owners()
        result.purged = self._purge(now)
        return result

    # -- checks

    def _checked_customer(
        self, follow: follows.FollowRecord, now: datetime, result: NotifyResult
    ) -> str | None:
        """The follow's customer today, or None when it is not to be delivered this run."""
        # The owner's own workspace where it was recorded, else the follow's (a member there).
        decision = self.access(
            follow.owner_user_id,
            follow.owner_team_id or follow.team_id,
            follow.owner_enterprise_id,
        )
        if not decision.allowed:
            if decision.reason is RefusalReason.IDENTITY_UNAVAILABLE:
                return None  # Slack could not say: ask again next run
            with follows.write_scope(self.session_factory) as session:
                follows.stop_follow(session, follow.id, reason="owner_not_allowed", now=now)
            logger.info("follow %s stopped: its owner is no longer allowed", follow.id)
            result.stopped.append(follow.id)
            return None
        with follows.write_scope(self.session_factory) as session:
            resolution = follows.resolve_customer(session, follow)
            if resolution.outcome == "one":
                return resolution.customer_key
            reason = "ambiguous" if resolution.outcome == "ambiguous" else "customer_gone"
            follows.pause_follow(session, follow.id, reason=reason, now=now)
        result.paused.append(follow.id)
        self._to_tell(follow, reason)
        return None

    def _daily_pass(self, watched: dict[str, datetime], now: datetime) -> int:
        if not watched:
            return 0
        try:
            with follows.write_scope(self.session_factory) as session:
                return run_daily_pass(session, watched, now=now)
        except (IntegrityError, OperationalError):
            # Another notify run is doing the same pass right now; its events are as good.
            logger.info("notify: the daily pass was running elsewhere; skipped here")
            return 0

    def _retries_due(self, now: datetime) -> dict[int, list[int]]:
        with self.session_factory() as session:
            return follows.retries_due(session, now=now)

    # -- delivery

    def _deliver(
        self,
        follow: follows.FollowRecord,
        customer_key: str,
        retry_ids: Sequence[int],
        result: NotifyResult,
    ) -> None:
        now = self.clock()
        digest_day: date | None = None
        if follow.daily:
            digest_day = self._digest_due(follow, now)
            if digest_day is None:
                return
        with follows.write_scope(self.session_factory) as session:
            pending = follows.events_for_follow(session, follow, customer_key, now=now)
            claimed = follows.claim_deliveries(
                session, follow.id, [e.id for e in pending], claimed_by=self.worker, now=now
            )
        # Committed: the claims are ours before anything is posted.
        if retry_ids:
            with follows.write_scope(self.session_factory) as session:
                claimed += follows.claim_retries(
                    session, follow.id, retry_ids, claimed_by=self.worker, now=now
                )
        if not claimed:
            if digest_day is not None:
                with follows.write_scope(self.session_factory) as session:
                    follows.set_last_digest_on(session, follow.id, digest_day)
            return
        with self.session_factory() as session:
            events = follows.events_by_id(session, claimed)
        message = follow_update_message(
            follow.customer_name,
            customer_key,
            [self._update(event) for event in events],
            digest=digest_day is not None,
        )
        self._post(follow, claimed, message.to_dict(), result, digest_day)

    def _update(self, event: follows.EventRecord) -> FollowUpdate:
        facts = dict(event.facts)
        if not self.show_contact_emails_in_channels:
            # The shared-card redaction: free text a source wrote may carry an address.
            for name in ("error", "skip_reason"):
                if isinstance(facts.get(name), str):
                    facts[name] = hide_emails(facts[name])
        return FollowUpdate(event.kind, facts, event.subscription_name)

    def _post(
        self,
        follow: follows.FollowRecord,
        event_ids: list[int],
        payload: Any,
        result: NotifyResult,
        digest_day: date | None,
    ) -> None:
        client = self.client_for(follow.team_id)
        if client is None:
            self._failed(follow, event_ids, "no_installation", None, result)
            return
        check = self._check(client, follow)
        if not check.allowed:
            reason = str(check.reason)
            if reason in CONVERSATION_GONE:
                self._conversation_gone(follow, event_ids, reason, result)
            else:
                self._failed(follow, event_ids, reason, None, result)
            return
        self._space(follow.channel_id)
        arguments: dict[str, Any] = {
            "channel": follow.channel_id,
            "text": payload["text"],
            "blocks": payload["blocks"],
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if follow.thread_ts:
            # The thread only: never also to the channel (no reply_broadcast).
            arguments["thread_ts"] = follow.thread_ts
        try:
            answer = client.chat_postMessage(**arguments)
        except SlackApiError as error:
            code = str(error.response.get("error") or f"http_{error.response.status_code}")
            if code in CONVERSATION_GONE_ERRORS:
                self._conversation_gone(follow, event_ids, code, result)
                return
            self._failed(follow, event_ids, code, _retry_after(error), result)
            return
        except OSError as error:  # no answer at all (connection refused, reset, timed out)
            self._failed(follow, event_ids, type(error).__name__, None, result)
            return
        finally:
            self._last_post[follow.channel_id] = self.monotonic()
        now = self.clock()
        with follows.write_scope(self.session_factory) as session:
            follows.mark_posted(session, follow.id, event_ids, message_ts=answer.get("ts"), now=now)
            if digest_day is not None:
                follows.set_last_digest_on(session, follow.id, digest_day)
        result.messages += 1
        result.events += len(event_ids)

    def _check(self, client: WebClient, follow: follows.FollowRecord) -> PostCheck:
        """May the bot post there now, for this owner? Slack's answer as a card post gets it,
        asked once per run for a conversation and owner (the events Slack sends when that
        changes can be missed: a restart, a lost delivery)."""
        key = (follow.team_id, follow.channel_id, follow.owner_user_id)
        if key not in self._checks:
            self._checks[key] = check_conversation(
                client,
                follow.channel_id,
                requester_user_id=follow.owner_user_id,
                delivery=Delivery.BOT_MESSAGE,
            )
        return self._checks[key]

    def _space(self, channel_id: str) -> None:
        last = self._last_post.get(channel_id)
        if last is not None:
            wait = POST_SPACING_SECONDS - (self.monotonic() - last)
            if wait > 0:
                self.sleep(wait)

    def _conversation_gone(
        self, follow: follows.FollowRecord, event_ids: list[int], code: str, result: NotifyResult
    ) -> None:
        now = self.clock()
        with follows.write_scope(self.session_factory) as session:
            follows.mark_failed(session, follow.id, event_ids, error=code, retry_at=None)
            follows.pause_follow(session, follow.id, reason=code, now=now)
        result.paused.append(follow.id)
        logger.info("follow %s paused: Slack answered %s", follow.id, code)
        self._to_tell(follow, code)

    def _failed(
        self,
        follow: follows.FollowRecord,
        event_ids: list[int],
        code: str,
        retry_after: float | None,
        result: NotifyResult,
    ) -> None:
        now = self.clock()
        with follows.write_scope(self.session_factory) as session:
            attempts = follows.delivery_attempts(session, follow.id, event_ids)
            first = follows.first_claimed_at(session, follow.id, event_ids) or now
            backoff = min(FIRST_BACKOFF * (2**attempts), MAX_BACKOFF)
            if retry_after is not None:
                backoff = max(backoff, timedelta(seconds=retry_after))
            retry_at: datetime | None = now + backoff
            if now - first >= GIVE_UP_AFTER:
                retry_at = None
            follows.mark_failed(session, follow.id, event_ids, error=code, retry_at=retry_at)
        if retry_at is None:
            result.given_up += 1
            logger.warning(
                "follow %s: gave up posting %d events after %d attempts since %s (%s)",
                follow.id,
                len(event_ids),
                attempts + 1,
                first.isoformat(timespec="minutes"),
                code,
            )
        else:
            result.failed += 1

    def _to_tell(self, follow: follows.FollowRecord, reason: str) -> None:
        key = (follow.team_id, follow.owner_user_id, follow.channel_id, reason)
        self._paused.setdefault(key, []).append(follow)

    def _tell_owners(self) -> None:
        """A DM to each person whose follows paused in this run: one per conversation and
        reason, naming every customer it concerned, whatever number of follows paused."""
        for (team_id, owner, channel_id, reason), paused in self._paused.items():
            client = self.client_for(team_id)
            if client is None:
                continue
            message = build_follow_paused(
                list(dict.fromkeys(follow.customer_name for follow in paused)),
                channel_id,
                reason,
                in_thread=all(follow.thread_ts for follow in paused),
            )
            try:
                client.chat_postMessage(channel=owner, **message.to_dict())
            except (SlackApiError, OSError) as error:
                logger.warning(
                    "follows %s paused: could not tell their owner (%s)",
                    ", ".join(str(follow.id) for follow in paused),
                    _code(error),
                )
        self._paused.clear()

    def _purge(self, now: datetime) -> int:
        try:
            with follows.write_scope(self.session_factory) as session:
                return follows.purge_old(session, now=now)
        except OperationalError:
            # Another run purging the same rows at once (a deadlock, SQLite busy): its purge,
            # or the next run's, is as good.
            logger.info("notify: the purge of old events was running elsewhere; skipped here")
            return 0

    # -- digests

    def _digest_due(self, follow: follows.FollowRecord, now: datetime) -> date | None:
        """The owner's local date when a digest is due now (FOLLOW_DIGEST_AT passed there and
        today's not yet posted), else None."""
        local = now.astimezone(self._time_zone(follow))
        if local.time() < self.digest_at or follow.last_digest_on == local.date():
            return None
        return local.date()

    def _time_zone(self, follow: follows.FollowRecord) -> ZoneInfo:
        """The owner's Slack time zone (users.info `tz`), once per run; UTC when unknown."""
        owner = follow.owner_user_id
        if owner in self._time_zones:
            return self._time_zones[owner]
        zone = ZoneInfo("UTC")
        client = self.client_for(follow.team_id)
        if client is not None:
            try:
                user = client.users_info(user=owner).get("user")
                name = user.get("tz") if isinstance(user, dict) else None
                if isinstance(name, str) and name:
                    zone = ZoneInfo(name)
            except (SlackApiError, OSError, ZoneInfoNotFoundError, ValueError) as error:
                logger.info(
                    "follow %s: owner's time zone unknown (%s); UTC", follow.id, _code(error)
                )
        self._time_zones[owner] = zone
        return zone


def _retry_after(error: SlackApiError) -> float | None:
    headers = getattr(error.response, "headers", None) or {}
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) and value else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return None
    return None


def _code(error: Exception) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error") or "slack_error")
    return type(error).__name__
