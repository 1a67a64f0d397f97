"""What following a customer says: the answers to `/license follow|unfollow|following`, the one
line a conversation sees when a follow starts, the "Follow in this thread" button, the owner's
DMs, and App Home's list of the follows a person set up. Pure builders on bot.views.blocks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ConfirmObject,
    PlainTextObject,
    SectionBlock,
)

from bot import ids
from bot.outcomes import PostRefusal
from bot.store.models import FOLLOW_FEATURES
from bot.views.blocks import (
    NAME_MAX,
    SECTION_TEXT_MAX,
    SHORT_CODE_MAX,
    CardMessage,
    context_block,
    escape_text,
    fallback_text,
    format_date,
    mrkdwn,
    quoted_query,
    section_block,
    sentence,
)
from bot.views.posting import post_problem

# How each feature reads in a sentence ("following Acme here: renewals, expiry").
FEATURE_WORDS = {
    "licenses": "renewals",
    "trials": "trials",
    "expiry": "expiry",
    "recon": "reconciliations",
    "seats": "seats",
}
FOLLOWS_LISTED = 40  # one block each (plus a button): far under Slack's 50 blocks per message
_SLACK_ID = re.compile(r"^[UWCGD][A-Z0-9]{2,30}$")
USAGE = (
    "`/license follow Acme` posts Acme's news here as it happens: renewals, trials, expiry, "
    "reconciliations, seats. Name some to follow only those (`/license follow Acme expiry "
    "recon`), add `--daily` for one digest a day. `/license unfollow Acme` stops, "
    "`/license following` lists what this channel follows. A customer called “Following”? "
    'Quote it: `/license "Following"`.'
)


@dataclass(frozen=True)
class FollowShown:
    """A follow as the lists show it."""

    follow_id: int
    customer_name: str
    features: tuple[str, ...]
    daily: bool
    owner_user_id: str
    created_at: datetime
    channel_id: str
    thread_ts: str | None
    state: str = "active"
    state_reason: str | None = None


def features_words(features: Sequence[str]) -> str:
    """`renewals, expiry, reconciliations`; every feature when none is named."""
    named = [FEATURE_WORDS[f] for f in FOLLOW_FEATURES if f in features] or [
        FEATURE_WORDS[f] for f in FOLLOW_FEATURES
    ]
    return ", ".join(named)


def _name(customer_name: str) -> str:
    return f"*{escape_text(customer_name, NAME_MAX)}*"


def _mention(user_id: str) -> str:
    return f"<@{user_id}>" if _SLACK_ID.fullmatch(user_id) else escape_text(user_id, SHORT_CODE_MAX)


def _conversation(channel_id: str) -> str:
    return f"<#{channel_id}>" if _SLACK_ID.fullmatch(channel_id) else "a conversation"


def _here(in_thread: bool) -> str:
    return "in this thread" if in_thread else "here"


def _notice(text: str, *more: Block) -> CardMessage:
    return CardMessage(text=fallback_text(text), blocks=[section_block(text), *more])


# ---- answers to the person who asked (ephemeral) -------------------------------------------


def build_follow_usage() -> CardMessage:
    return _notice(USAGE)


def build_follow_started(
    customer_name: str,
    features: Sequence[str],
    *,
    daily: bool,
    in_thread: bool,
    already: bool = False,
) -> CardMessage:
    """The follower's confirmation: what will be posted, where, when, and how to stop it."""
    verb = "Now following" if already else "Following"
    when = (
        "One digest a day, at the time set for digests in your time zone."
        if daily
        else "Posted as it happens, several changes at once in one message."
    )
    where = (
        "Updates go to this thread only."
        if in_thread
        else "Updates go to this channel. `/license unfollow "
        + escape_text(customer_name, NAME_MAX).replace("`", "'")
        + "` stops them."
    )
    return _notice(
        f"{verb} {_name(customer_name)} {_here(in_thread)}: {features_words(features)}.\n"
        f"{when} {where}"
    )


def build_follow_announcement(
    user_id: str, customer_name: str, features: Sequence[str], *, in_thread: bool
) -> CardMessage:
    """The one line a conversation sees when a follow starts in it."""
    return _notice(
        f"{_mention(user_id)} is following {_name(customer_name)} {_here(in_thread)}: "
        f"{features_words(features)}"
    )


def build_follow_refused(customer_name: str | None, problem: str) -> CardMessage:
    """A follow that cannot be: where it would post is somewhere a card may not go."""
    what = _name(customer_name) if customer_name else "this customer"
    return _notice(f"Not following {what} here. {escape_text(problem, SECTION_TEXT_MAX - 200)}")


def build_follow_problem(problem: str) -> CardMessage:
    """A follow command that could not be read: what was wrong, and how it is written."""
    return _notice(f"{escape_text(problem, 300)}.", context_block(USAGE))


def build_ambiguous_follow(query: str, names: Sequence[str], *, has_more: bool) -> CardMessage:
    """Several customers match: a follow must name one (a card can be picked from a list; a
    follow, which posts for weeks, is named exactly)."""
    listed = "\n".join(f"• {escape_text(name, NAME_MAX)}" for name in names)
    more = "\n…and more." if has_more else ""
    return _notice(
        f"Several customers match {quoted_query(query)}, so nothing was followed:\n{listed}{more}\n"
        "Follow one by its exact name (quoted if need be), its Salesforce account id or a "
        "subscription: `/license follow A-S00012345`."
    )


def build_not_followed(customer_name: str, *, in_thread: bool = False) -> CardMessage:
    return _notice(
        f"{_name(customer_name)} isn't followed {_here(in_thread)}. "
        "`/license following` lists what this channel follows."
    )


def build_unfollowed(
    customer_name: str, *, stopped: Sequence[str], still: Sequence[str], in_thread: bool = False
) -> CardMessage:
    """What an unfollow stopped, and what is still followed."""
    if still:
        return _notice(
            f"Stopped {', '.join(FEATURE_WORDS[f] for f in stopped)} for "
            f"{_name(customer_name)} {_here(in_thread)}; still following: {features_words(still)}."
        )
    return _notice(f"Stopped following {_name(customer_name)} {_here(in_thread)}.")


def build_owner_told_of_unfollow(
    actor_user_id: str,
    customer_name: str,
    channel_id: str,
    *,
    stopped: Sequence[str],
    still: Sequence[str],
) -> CardMessage:
    """The DM to a follow's owner when someone else unfollows it (or some of its features)."""
    where = f"{_name(customer_name)} in {_conversation(channel_id)}"
    if still:
        stopped_words = ", ".join(FEATURE_WORDS[f] for f in FOLLOW_FEATURES if f in stopped)
        what = (
            f"stopped {stopped_words} of your follow of {where}; still followed: "
            f"{features_words(still)}."
        )
    else:
        what = f"stopped your follow of {where}."
    return _notice(f"{_mention(actor_user_id)} {what}")


def build_followed_in_threads(customer_name: str) -> CardMessage:
    """`/license unfollow` in a channel whose threads, not the channel, follow the customer."""
    return _notice(
        f"{_name(customer_name)} is followed in a thread here, not in the channel. "
        "`/license following` lists it, with Unfollow."
    )


def build_follow_paused(
    customer_names: Sequence[str], channel_id: str, reason: str, *, in_thread: bool = False
) -> CardMessage:
    """The DM to an owner whose follows in one conversation paused for one reason (a reason
    word: `_STATE_REASONS`, else a refusal or Slack error code `post_problem` explains): where,
    why, that nothing more is posted there, and what to do. `in_thread`: every follow named is
    in a thread there."""
    names = ", ".join(_name(name) for name in customer_names[:10])
    more = f" and {len(customer_names) - 10} more" if len(customer_names) > 10 else ""
    where = _conversation(channel_id)
    if in_thread:
        where = f"a thread in {where}"
    words = _STATE_REASONS.get(reason)
    why = f": {words}." if words else f". {post_problem(reason)}"
    if reason in _CUSTOMER_REASONS:
        then = (
            "Follow the customer you mean again there with `/license follow`, or unfollow it "
            "from my Home tab."
        )
    else:
        then = (
            "Once I can post there, follow again there with `/license follow`, or unfollow it "
            "from my Home tab."
        )
    return _notice(
        f"I've paused your follow of {names}{more} in {where}{why} "
        f"Nothing more is posted there. {then}"
    )


# ---- lists: `/license following`, App Home ----------------------------------------------


# Why a follow is paused or stopped (its reason word), as the lists and the owner's DM say it:
# Slack's error codes and events (bot/answers/following.py), the conversation check's refusals
# (bot.outcomes.PostRefusal) and the customer's own troubles.
_STATE_REASONS = {
    "is_archived": "the channel was archived",
    PostRefusal.ARCHIVED: "the channel was archived",
    "not_in_channel": "I'm no longer in the channel",
    PostRefusal.NOT_MEMBER: "I'm no longer in the channel",
    "channel_not_found": "I can no longer see the conversation",
    PostRefusal.EXTERNAL: "shared with another organisation",
    PostRefusal.DIRECT_MESSAGE: "it is a direct message between people",
    PostRefusal.REQUESTER_NOT_MEMBER: "its owner is no longer in the conversation",
    "ambiguous": "its records now belong to more than one customer",
    "customer_gone": "the customer is no longer in the data",
    "owner_not_allowed": "its owner no longer has access",
}
# The reasons that are the customer's, not the conversation's: following again there is fine.
_CUSTOMER_REASONS = frozenset({"ambiguous", "customer_gone"})


def _state_words(follow: FollowShown) -> str:
    if follow.state == "active":
        return ""
    reason = follow.state_reason or ""
    words = _STATE_REASONS.get(reason) or sentence(reason, 60)
    return f" · *{escape_text(follow.state, 20)}*" + (f": {words}" if words else "")


def unfollow_button(follow_id: int) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text="Unfollow"),
        action_id=ids.UNFOLLOW_ACTION,
        value=str(follow_id),
        confirm=ConfirmObject(
            title="Unfollow?",
            text="Nothing more will be posted for this follow.",
            confirm="Unfollow",
            deny="Keep",
        ),
    )


def _follow_block(follow: FollowShown, *, show_owner: bool, show_where: bool) -> SectionBlock:
    where = ""
    if show_where:
        where = f" in {_conversation(follow.channel_id)}"
    if follow.thread_ts:
        where += " (in a thread)"
    digest = " · daily digest" if follow.daily else ""
    since = format_date(follow.created_at.date())
    who = (
        f" · set up by {_mention(follow.owner_user_id)} on {since}"
        if show_owner
        else f" · since {since}"
    )
    text = (
        f"{_name(follow.customer_name)}{where}: {features_words(follow.features)}{digest}"
        f"{who}{_state_words(follow)}"
    )
    return SectionBlock(
        block_id=f"follow:{follow.follow_id}",
        text=mrkdwn(text),
        accessory=unfollow_button(follow.follow_id),
    )


def build_following(follows: Sequence[FollowShown]) -> CardMessage:
    """What this channel follows (its threads too), who set each up and when."""
    if not follows:
        return _notice("This channel follows no customer. " + USAGE)
    title = f"This channel follows {len(follows)} customer{'s' if len(follows) != 1 else ''}:"
    blocks: list[Block] = [section_block(title)]
    blocks += [
        _follow_block(follow, show_owner=True, show_where=False)
        for follow in follows[:FOLLOWS_LISTED]
    ]
    if len(follows) > FOLLOWS_LISTED:
        blocks.append(context_block(f"…and {len(follows) - FOLLOWS_LISTED} more."))
    return CardMessage(text=fallback_text(title), blocks=blocks)


def home_follow_blocks(follows: Sequence[FollowShown], *, limit: int) -> list[Block]:
    """App Home: the follows the person set up, each with Unfollow."""
    blocks: list[Block] = [section_block("*Customers you follow*")]
    if not follows:
        blocks.append(
            context_block("None yet. `/license follow Acme` in a channel posts Acme's news there.")
        )
        return blocks
    blocks += [
        _follow_block(follow, show_owner=False, show_where=True) for follow in follows[:limit]
    ]
    if len(follows) > limit:
        blocks.append(context_block(f"…and {len(follows) - limit} more."))
    return blocks


# ---- the button on cards posted into a conversation ---------------------------------------


def follow_in_thread_button(customer_key: str) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text="Follow in this thread"),
        action_id=ids.FOLLOW_IN_THREAD_ACTION,
        value=customer_key,
    )
