"""Following a customer in a conversation or a thread: `/license follow|unfollow|following`, the
"Follow in this thread" button, the post-card modal's "Keep this thread updated", Unfollow
buttons, App Home's list, and pausing a conversation's follows when the bot can no longer post
there (docs/ARCHITECTURE.md: Following).

The rules, each in one place here:
- a follow goes only where a card may go: the conversation check of sharing
  (bot/answers/conversations.py: `check_conversation`, as a bot message, since updates are
  posted with chat.postMessage) decides, and its refusal is audited as a card's is;
- every follow and unfollow is one audited transaction (bot/answers/audited.py): the follow row
  and its audit row commit together, or neither does;
- a button's value is the clicker's to forge: the conversation and thread come from the message
  Slack says the button was on, which must be the bot's own card carrying that very button;
- anyone allowed in the conversation may unfollow its follows; the owner is told by DM when
  someone else does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot import ids
from bot.answers.audited import Answer, AuditedTransaction, Requester
from bot.answers.conversations import (
    Delivery,
    PostCheck,
    check_conversation,
    post_message,
    send_direct_message,
)
from bot.answers.follow_command import FollowRequest, unquoted
from bot.answers.selection import resolve_customer_key
from bot.names import company_name
from bot.outcomes import Outcome, PostRefusal
from bot.records import CustomerChoice
from bot.search import SearchResult, find_customers
from bot.store import follows as follow_store
from bot.store.queries import customer_choices, latest_import_at
from bot.views.blocks import CardMessage
from bot.views.follows import (
    FollowShown,
    build_ambiguous_follow,
    build_follow_announcement,
    build_follow_paused,
    build_follow_problem,
    build_follow_refused,
    build_follow_started,
    build_follow_usage,
    build_followed_in_threads,
    build_following,
    build_not_followed,
    build_owner_told_of_unfollow,
    build_unfollowed,
)
from bot.views.notices import CUSTOMER_GONE, STORE_EMPTY, build_notice
from bot.views.pick_list import build_not_found
from bot.views.posting import post_problem

logger = logging.getLogger(__name__)

# The audit surfaces.
FOLLOW_SURFACE = "follow"
UNFOLLOW_SURFACE = "unfollow"
FOLLOWING_SURFACE = "following"
FOLLOW_IN_THREAD_SURFACE = ids.FOLLOW_IN_THREAD_ACTION
FOLLOW_FROM_MODAL_SURFACE = "follow_from_modal"
UNFOLLOW_BUTTON_SURFACE = ids.UNFOLLOW_ACTION
AMBIGUOUS_NAMES_SHOWN = 8
# The reasons a conversation's follows are paused when Slack says the bot can no longer post
# there: Slack's own error codes where it has one (what a refused post answers), ours otherwise.
ARCHIVED = "is_archived"
REMOVED = "not_in_channel"
SHARED_EXTERNALLY = PostRefusal.EXTERNAL.value
NOT_YOURS = "That follow is not yours, and it is not in this conversation: only its owner or someone in its conversation can stop it."
FOLLOW_GONE = "That follow has already stopped."


@dataclass(frozen=True)
class FollowResult:
    """What a follow or unfollow says, and to whom: the requester's answer (ephemeral), the
    conversation's one line when a follow starts, a DM to an owner whose follow someone else
    stopped."""

    answer: Answer
    channel_id: str | None = None
    thread_ts: str | None = None
    announcement: CardMessage | None = None
    owner_message: tuple[str, CardMessage] | None = None


def _shown(follow: follow_store.FollowRecord) -> FollowShown:
    return FollowShown(
        follow_id=follow.id,
        customer_name=follow.customer_name,
        features=follow.features,
        daily=follow.daily,
        owner_user_id=follow.owner_user_id,
        created_at=follow.created_at,
        channel_id=follow.channel_id,
        thread_ts=follow.thread_ts,
        state=follow.state,
        state_reason=follow.state_reason,
    )


class FollowAnswers:
    def __init__(self, audited: AuditedTransaction, session_factory: sessionmaker[Session]) -> None:
        self._audited = audited
        self._session_factory = session_factory

    # ---- where a follow may go --------------------------------------------------------------

    def _check_here(
        self, client: WebClient, requester: Requester, *, customer: str, surface: str
    ) -> PostCheck:
        """The conversation check of a card posted by the bot (updates are chat.postMessage),
        a refusal audited as a withheld card's is."""
        check = check_conversation(
            client,
            requester.channel_id,
            requester_user_id=requester.user_id,
            delivery=Delivery.BOT_MESSAGE,
        )
        if not check.allowed:
            self._audited.record_not_posted(
                surface=surface, customer_key=customer, requester=requester, reason=check.reason
            )
        return check

    def _add_follow(
        self,
        session: Session,
        requester: Requester,
        customer: tuple[str, str],
        *,
        thread_ts: str | None,
        features: Sequence[str],
        daily: bool,
        started: list[follow_store.FollowRecord],
    ) -> Answer:
        """The follow of `customer` (key, name) in the requester's conversation (or its thread)
        added or widened; one newly started is appended to `started` (its conversation is told
        after the audited transaction)."""
        key, name = customer
        change = follow_store.add_follow(
            session,
            customer_key=key,
            customer_name=name,
            team_id=requester.team_id or "",
            channel_id=requester.channel_id or "",
            thread_ts=thread_ts,
            features=features,
            daily=daily,
            owner_user_id=requester.user_id or "",
            owner_team_id=requester.team_id,
            owner_enterprise_id=requester.enterprise_id,
            now=self._audited.clock(),
        )
        record, created = change.follow, change.created
        if created:
            started.append(record)
        message = build_follow_started(
            record.customer_name,
            record.features,
            daily=record.daily,
            in_thread=thread_ts is not None,
            already=not created,
        )
        return Answer(message, Outcome.OK, 1)

    # ---- /license follow ----------------------------------------------------------------------

    def follow_command(
        self, client: WebClient, request: FollowRequest, requester: Requester
    ) -> FollowResult:
        """`/license follow Acme [features] [--daily]` in the conversation it was typed in."""
        if request.problem is not None:
            return FollowResult(Answer(build_follow_problem(request.problem), Outcome.USAGE))
        if not unquoted(request.customer).strip():
            return FollowResult(Answer(build_follow_usage(), Outcome.USAGE))
        check = self._check_here(
            client, requester, customer=request.customer, surface=FOLLOW_SURFACE
        )
        if not check.allowed:
            refused = build_follow_refused(None, check.problem or "")
            return FollowResult(Answer(refused, Outcome.NOT_POSTED))
        started: list[follow_store.FollowRecord] = []

        def follow(session: Session) -> Answer:
            query = unquoted(request.customer)
            result = find_customers(session, query, today=self._audited.today())
            if result.resolved is None:
                return _no_single_customer(session, query, result)
            return self._add_follow(
                session,
                requester,
                (result.resolved.key, result.resolved.name),
                thread_ts=None,
                features=request.features,
                daily=request.daily,
                started=started,
            )

        answer = self._audited.answer(
            surface=FOLLOW_SURFACE, query=request.customer, requester=requester, build=follow
        )
        return self._started(answer, started, requester)

    def _started(
        self, answer: Answer, started: Sequence[follow_store.FollowRecord], requester: Requester
    ) -> FollowResult:
        if answer.outcome is not Outcome.OK or not started:
            return FollowResult(answer)
        record = started[0]
        announcement = build_follow_announcement(
            requester.user_id or "",
            record.customer_name,
            record.features,
            in_thread=record.thread_ts is not None,
        )
        return FollowResult(
            answer,
            channel_id=record.channel_id,
            thread_ts=record.thread_ts,
            announcement=announcement,
        )

    # ---- the "Follow in this thread" button and the post-card modal ------------------------

    def follow_in_thread(
        self, client: WebClient, body: Mapping[str, Any], requester: Requester, *, bot_ids: set[str]
    ) -> FollowResult:
        """The button on a card the bot posted: the thread is the card's (its thread, or the
        thread under it when it was posted at the top of the conversation). What the button
        says is believed only as far as the message Slack sent with it bears out."""
        customer_value = _action_value(body)
        where = button_thread(body, bot_ids=bot_ids, customer_value=customer_value)
        at = replace(requester, channel_id=where[0] if where else requester.channel_id)
        if where is None:
            self._audited.record_not_posted(
                surface=FOLLOW_IN_THREAD_SURFACE,
                customer_key=customer_value[:300],
                requester=at,
                reason=PostRefusal.NOT_OUR_CARD,
            )
            return FollowResult(
                Answer(build_notice(post_problem(PostRefusal.NOT_OUR_CARD)), Outcome.NOT_POSTED)
            )
        _, thread_ts = where
        return self.follow_thread(
            client,
            customer_value,
            at,
            thread_ts=thread_ts,
            surface=FOLLOW_IN_THREAD_SURFACE,
            checked=False,
        )

    def follow_thread(
        self,
        client: WebClient,
        customer_value: str,
        requester: Requester,
        *,
        thread_ts: str,
        surface: str = FOLLOW_FROM_MODAL_SURFACE,
        checked: bool = False,
    ) -> FollowResult:
        """Follow a customer (its key, or a modal's option value for it) in one thread of the
        requester's conversation, with every feature. `checked`: the conversation check has
        just passed (the card was posted there a moment ago)."""
        if not checked:
            check = self._check_here(client, requester, customer=customer_value, surface=surface)
            if not check.allowed:
                refused = build_follow_refused(None, check.problem or "")
                return FollowResult(Answer(refused, Outcome.NOT_POSTED))
        started: list[follow_store.FollowRecord] = []

        def follow(session: Session) -> Answer:
            key = resolve_customer_key(session, customer_value)
            choices = customer_choices(session, [key], today=self._audited.today())
            if not choices:
                return Answer(build_notice(CUSTOMER_GONE), Outcome.NOT_FOUND)
            return self._add_follow(
                session,
                requester,
                (choices[0].key, choices[0].name),
                thread_ts=thread_ts,
                features=(),
                daily=False,
                started=started,
            )

        answer = self._audited.answer(
            surface=surface, query=customer_value, requester=requester, build=follow
        )
        return self._started(answer, started, requester)

    # ---- /license unfollow ---------------------------------------------------------------------

    def unfollow_command(self, request: FollowRequest, requester: Requester) -> FollowResult:
        """`/license unfollow Acme [features]`: this channel's follow of Acme, or some of its
        features. Anyone allowed here may; the owner is told when it was someone else."""
        query = unquoted(request.customer).strip()
        if request.problem is not None:
            return FollowResult(Answer(build_follow_problem(request.problem), Outcome.USAGE))
        if not query:
            return FollowResult(Answer(build_follow_usage(), Outcome.USAGE))
        told: list[tuple[str, CardMessage]] = []

        def unfollow(session: Session) -> Answer:
            channel_id = requester.channel_id or ""
            matching = _follows_of(session, channel_id, query, today=self._audited.today())
            in_channel = [f for f in matching if f.thread_ts is None]
            if not in_channel and matching:
                return Answer(
                    build_followed_in_threads(matching[0].customer_name), Outcome.NOT_FOUND
                )
            if not in_channel:
                return Answer(build_not_followed(query), Outcome.NOT_FOUND)
            follow = in_channel[0]
            left = follow_store.remove_features(session, follow.id, request.features)
            still = left.features if left is not None else ()
            stopped = [f for f in follow.features if f not in still]
            if follow.owner_user_id != requester.user_id:
                told.append(
                    (
                        follow.owner_user_id,
                        build_owner_told_of_unfollow(
                            requester.user_id or "",
                            follow.customer_name,
                            follow.channel_id,
                            stopped=stopped,
                            still=still,
                        ),
                    )
                )
            message = build_unfollowed(follow.customer_name, stopped=stopped, still=still)
            return Answer(message, Outcome.OK, 1)

        answer = self._audited.answer(
            surface=UNFOLLOW_SURFACE, query=request.customer, requester=requester, build=unfollow
        )
        owner = told[0] if told and answer.outcome is Outcome.OK else None
        return FollowResult(answer, owner_message=owner)

    def unfollow_button(
        self, value: str, requester: Requester, *, in_conversation: str | None
    ) -> FollowResult:
        """Unfollow by a follow's id: on App Home (its owner) or on the following list shown
        in its conversation (anyone allowed there). `in_conversation`: where the button was
        clicked, as Slack says it, never from the value."""
        follow_id = int(value) if value.isascii() and value.isdigit() and len(value) < 12 else None
        told: list[tuple[str, CardMessage]] = []

        def unfollow(session: Session) -> Answer:
            follow = follow_store.get_follow(session, follow_id) if follow_id is not None else None
            if follow is None:
                return Answer(build_notice(FOLLOW_GONE), Outcome.NOT_FOUND)
            owner = follow.owner_user_id == requester.user_id
            if not owner and (in_conversation is None or in_conversation != follow.channel_id):
                return Answer(build_notice(NOT_YOURS), Outcome.NOT_FOUND)
            follow_store.remove_follow(session, follow.id)
            if not owner:
                told.append(
                    (
                        follow.owner_user_id,
                        build_owner_told_of_unfollow(
                            requester.user_id or "",
                            follow.customer_name,
                            follow.channel_id,
                            stopped=follow.features,
                            still=(),
                        ),
                    )
                )
            message = build_unfollowed(
                follow.customer_name, stopped=follow.features, still=(), in_thread=False
            )
            return Answer(message, Outcome.OK, 1)

        answer = self._audited.answer(
            surface=UNFOLLOW_BUTTON_SURFACE, query=value[:64], requester=requester, build=unfollow
        )
        owner = told[0] if told and answer.outcome is Outcome.OK else None
        return FollowResult(answer, owner_message=owner)

    # ---- lists ---------------------------------------------------------------------------------

    def following(self, requester: Requester) -> Answer:
        """What this conversation follows (its threads too), who set each up and when."""

        def listed(session: Session) -> Answer:
            follows = follow_store.follows_in_conversation(session, requester.channel_id or "")
            shown = [_shown(f) for f in follows]
            return Answer(build_following(shown), Outcome.OK, len(shown))

        return self._audited.answer(
            surface=FOLLOWING_SURFACE, query="", requester=requester, build=listed
        )

    def follows_of(self, session: Session, user_id: str) -> tuple[FollowShown, ...]:
        """App Home: the follows `user_id` set up that still run (paused ones too: it says so)."""
        return tuple(_shown(f) for f in follow_store.follows_of_owner(session, user_id))

    # ---- the bot can no longer post into a conversation --------------------------------------

    def conversation_gone(self, client: WebClient, channel_id: str, reason: str) -> int:
        """Pause the conversation's follows and tell each owner once, by DM. Returns how many
        follows were paused (an event Slack sends twice, or two events for one removal, pause
        and tell once: only follows still active are paused)."""
        # It reads, then writes: two events for one removal arrive together, and the second
        # must wait its turn, then find nothing left to pause (write_scope).
        with follow_store.write_scope(self._session_factory) as session:
            paused = follow_store.pause_follows_in_conversation(
                session, channel_id, reason=reason, now=self._audited.clock()
            )
        by_owner: dict[str, list[follow_store.FollowRecord]] = {}
        for follow in paused:
            by_owner.setdefault(follow.owner_user_id, []).append(follow)
        for owner, theirs in by_owner.items():
            message = build_follow_paused(
                list(dict.fromkeys(f.customer_name for f in theirs)),
                channel_id,
                reason,
                in_thread=all(f.thread_ts for f in theirs),
            )
            problem = send_direct_message(client, owner, **message.to_dict())
            if problem is not None:
                logger.warning("follow paused in %s; its owner %s was not told", channel_id, owner)
        if paused:
            logger.info("paused %d follows in %s: %s", len(paused), channel_id, reason)
        return len(paused)


# ---- helpers ---------------------------------------------------------------------------------


def conversation_gone_reason(event: Mapping[str, Any], *, bot_user_id: str | None) -> str | None:
    """Why an event (bot.ids.CONVERSATION_GONE_EVENTS) means the bot can no longer post where
    it names; None when it does not (someone else left a channel)."""
    kind = event.get("type")
    if kind in ("channel_archive", "group_archive"):
        return ARCHIVED
    if kind in ("channel_left", "group_left"):
        return REMOVED  # sent to the bot about itself
    if kind == "member_left_channel":
        return REMOVED if bot_user_id and event.get("user") == bot_user_id else None
    if kind == "channel_shared":
        return SHARED_EXTERNALLY
    return None


def deliver(client: WebClient, result: FollowResult) -> None:
    """After the requester's answer: the conversation's one line, the owner's DM."""
    if result.announcement is not None and result.channel_id:
        problem = post_message(
            client,
            result.channel_id,
            thread_ts=result.thread_ts,
            **result.announcement.to_dict(),
        )
        if problem is not None:
            logger.info("follow started in %s without its announcement", result.channel_id)
    if result.owner_message is not None:
        owner, message = result.owner_message
        if send_direct_message(client, owner, **message.to_dict()) is not None:
            logger.info("an unfollow's owner %s was not told", owner)


def _action_value(body: Mapping[str, Any]) -> str:
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions else {}
    value = first.get("value") if isinstance(first, dict) else None
    return value if isinstance(value, str) else ""


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def button_thread(
    body: Mapping[str, Any], *, bot_ids: set[str], customer_value: str
) -> tuple[str, str] | None:
    """(conversation, thread) of a "Follow in this thread" click, from what Slack says the
    button was on: a message (not ephemeral) the bot posted, carrying a follow button with
    this very value. None for anything else (a forged or replayed value, a button we did not
    put there)."""
    container = _dict(body.get("container"))
    message = _dict(body.get("message"))
    channel_id = container.get("channel_id") or _dict(body.get("channel")).get("id")
    if container.get("type") != "message" or container.get("is_ephemeral"):
        return None
    if not isinstance(channel_id, str) or not channel_id or not customer_value:
        return None
    author = {message.get("user"), message.get("bot_id")} - {None}
    if not author & bot_ids:
        return None
    if not _carries_follow_button(message.get("blocks"), customer_value):
        return None
    thread_ts = message.get("thread_ts") or container.get("thread_ts") or message.get("ts")
    if not isinstance(thread_ts, str) or not thread_ts:
        return None
    return channel_id, thread_ts


def _carries_follow_button(blocks: Any, value: str) -> bool:
    if not isinstance(blocks, list):
        return False
    for block in blocks:
        elements = _dict(block).get("elements")
        for element in elements if isinstance(elements, list) else ():
            element = _dict(element)
            if (
                element.get("action_id") == ids.FOLLOW_IN_THREAD_ACTION
                and element.get("value") == value
            ):
                return True
    return False


def _no_single_customer(session: Session, query: str, result: SearchResult) -> Answer:
    if result.choices:
        names = [_choice_words(choice) for choice in result.choices[:AMBIGUOUS_NAMES_SHOWN]]
        has_more = result.has_more or len(result.choices) > AMBIGUOUS_NAMES_SHOWN
        return Answer(
            build_ambiguous_follow(query, names, has_more=has_more),
            Outcome.AMBIGUOUS,
            len(result.choices),
        )
    if latest_import_at(session) is None:
        return Answer(build_notice(STORE_EMPTY), Outcome.NOT_FOUND)
    return Answer(
        build_not_found(query, result.suggestions, command=f"{ids.LICENSE_COMMAND} follow"),
        Outcome.NOT_FOUND,
    )


def _choice_words(choice: CustomerChoice) -> str:
    """A same-named customer told apart: its name, then a subscription or account."""
    extra = (choice.subscription_names[:1] or (choice.account_name,))[0]
    return f"{choice.name} ({extra})" if extra and extra != choice.name else choice.name


def _follows_of(
    session: Session, channel_id: str, query: str, *, today: date
) -> list[follow_store.FollowRecord]:
    """The conversation's follows of the customer `query` names: those of the customer the
    search finds (bot.store.follows.follows_of_customer: started under its key, or naming it by
    their evidence today), else those started under that name; oldest first."""
    result = find_customers(session, query, today=today, load_choices=False)
    key = result.resolved_key
    of_customer = (
        {f.id for f in follow_store.follows_of_customer(session, channel_id, key)}
        if key is not None
        else set()
    )
    folded = company_name(query).folded
    return [
        follow
        for follow in follow_store.follows_in_conversation(session, channel_id)
        if follow.id in of_customer or company_name(follow.customer_name).folded == folded
    ]
