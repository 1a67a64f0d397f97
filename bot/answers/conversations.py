"""Can the bot post a card here? And, when Slack refuses a post, what do we tell the user?

ARCHITECTURE.md (Privacy): cards go only to the conversation the user acted in or one they chose,
and never into a conversation shared with another organisation; when the bot cannot tell,
it does not post. `conversations.info` is the one source: a channel it cannot see, or an
answer it cannot read, is a "no" with words saying what to do next.

Every path that puts a card into a conversation calls `check_conversation`: the share button
(Slack posts through the interaction's response_url), the message shortcut and the lookup
modal (the bot posts with chat.postMessage). What Slack answers a bot token, per kind:
a public channel: its object, `is_member` saying whether the bot is in it (channels:read);
a private channel, DM or group DM: its object only when the bot is in it, else
`channel_not_found` (groups:read, im:read, mpim:read see only the bot's own conversations).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse

from bot import ids
from bot.answers.audited import Requester
from bot.answers.redaction import Audience
from bot.outcomes import Outcome, PostRefusal
from bot.views.posting import UNREACHABLE, explain_slack_error, post_problem

if TYPE_CHECKING:  # the use cases' object, which itself builds the follows on this module
    from bot.answers.lookups import LookupService

logger = logging.getLogger(__name__)

# conversations.members pages read for a private conversation: 3 x 1,000 members fit Slack's 3
# seconds; a bigger one whose member list runs past them is a doubt, and doubt refuses.
MEMBER_PAGE_SIZE = 1000
MEMBER_PAGES_MAX = 3


class Delivery(enum.Enum):
    """How a card would reach the conversation: decides whether the bot must be a member."""

    # chat.postMessage as the bot: Slack refuses it (not_in_channel) where the bot is not in.
    BOT_MESSAGE = "bot_message"
    # Slack posts for the interaction through its response_url: no membership needed, so a
    # public channel the bot can read but is not in is fine.
    RESPONSE_URL = "response_url"
    # chat.unfurl: Slack attaches the preview to a message already posted there, so (as for a
    # response_url) a public channel needs no membership, and its sharer is in it.
    UNFURL = "unfurl"


@dataclass(frozen=True)
class PostCheck:
    """Whether a card may go into a conversation; `reason` says why not: one of ours
    (PostRefusal) or the error code Slack answered. The audit row's reason."""

    allowed: bool
    reason: PostRefusal | str | None = None

    @classmethod
    def ok(cls) -> PostCheck:
        return cls(True)

    @classmethod
    def refuse(cls, reason: PostRefusal | str) -> PostCheck:
        return cls(False, reason)

    @property
    def problem(self) -> str | None:
        """Why not, in the words the user reads (bot/views/posting.py)."""
        return None if self.allowed else post_problem(self.reason)


def slack_error_code(error: SlackApiError) -> str:
    """The Web API error code, or "unreachable" when Slack itself failed (HTTP 5xx, 429, or
    an answer that is not JSON): those are worth a retry, not an invitation."""
    response = error.response
    status = getattr(response, "status_code", 200) if response is not None else 500
    data = getattr(response, "data", None)
    if status >= 500 or status == 429 or not isinstance(data, dict):
        return "unreachable"
    return str(data.get("error") or "error")


def _is_direct_message_id(channel_id: str) -> bool:
    return channel_id.startswith("D")


def shared_with_another_organisation(channel: Mapping[str, Any]) -> bool:
    """The one rule for "customer data must not go here" (cards posted, links unfurled).

    Any sign of another organisation counts: the flags Slack documents, pending ones too, and
    a share that is not within this Enterprise organisation.
    """
    return bool(
        channel.get("is_ext_shared")
        or channel.get("is_pending_ext_shared")
        or (channel.get("is_shared") and not channel.get("is_org_shared"))
    )


def _is_public_channel(channel: Mapping[str, Any]) -> bool:
    # Only an explicit "not private" counts: a missing flag is a doubt, and doubt refuses.
    return (
        channel.get("is_private") is False
        and not channel.get("is_im")
        and not channel.get("is_mpim")
    )


def judge_conversation(
    channel: dict[str, Any],
    *,
    requester_user_id: str | None,
    delivery: Delivery = Delivery.BOT_MESSAGE,
) -> PostCheck:
    """The decision on a `conversations.info` channel object (pure; see check_conversation)."""
    if shared_with_another_organisation(channel):
        return PostCheck.refuse(PostRefusal.EXTERNAL)
    if channel.get("is_im"):
        # The bot sees only its own DMs; one with the requester is theirs to fill.
        if requester_user_id is None or channel.get("user") != requester_user_id:
            return PostCheck.refuse(PostRefusal.DIRECT_MESSAGE)
        return PostCheck.ok()
    if channel.get("is_archived"):
        return PostCheck.refuse(PostRefusal.ARCHIVED)
    if channel.get("is_member") is False:
        if delivery is not Delivery.BOT_MESSAGE and _is_public_channel(channel):
            return PostCheck.ok()  # Slack posts it; the channel is public and internal
        return PostCheck.refuse(PostRefusal.NOT_MEMBER)
    return PostCheck.ok()


def check_conversation(
    client: WebClient,
    channel_id: str | None,
    *,
    requester_user_id: str | None,
    delivery: Delivery = Delivery.BOT_MESSAGE,
) -> PostCheck:
    """Ask Slack about the conversation, then judge it. Any doubt is a refusal: a conversation
    Slack will not show the bot (a DM or group DM between people, a private channel it is not
    in) or an answer it cannot get.

    A private conversation (private channel, group DM) takes a card only when the requester is
    in it too: a modified client can submit any conversation the bot is in, and the bot must
    not carry customer data into one its requester cannot read."""
    if not channel_id:
        return PostCheck.refuse(PostRefusal.NO_CONVERSATION)
    response = _ask_slack(
        "conversations.info", channel_id, partial(client.conversations_info, channel=channel_id)
    )
    if isinstance(response, str):
        if response != "unreachable" and _is_direct_message_id(channel_id):
            return PostCheck.refuse(PostRefusal.DIRECT_MESSAGE)
        return PostCheck.refuse(response)
    channel = response.get("channel")
    if not isinstance(channel, dict):
        return PostCheck.refuse(PostRefusal.UNREADABLE)
    check = judge_conversation(channel, requester_user_id=requester_user_id, delivery=delivery)
    if (
        check.allowed
        and requester_user_id is not None
        and delivery is not Delivery.UNFURL  # the sharer posted the link there
        and _is_private_conversation(channel)
    ):
        return _requester_membership(client, channel_id, requester_user_id)
    return check


def _is_private_conversation(channel: Mapping[str, Any]) -> bool:
    # A DM is judged by whose it is (judge_conversation); anything not plainly public is private.
    return not channel.get("is_im") and not _is_public_channel(channel)


def _requester_membership(client: WebClient, channel_id: str, user_id: str) -> PostCheck:
    """OK when conversations.members lists `user_id` within MEMBER_PAGES_MAX pages."""
    cursor: str | None = None
    for _page in range(MEMBER_PAGES_MAX):
        answer = _ask_slack(
            "conversations.members",
            channel_id,
            partial(
                client.conversations_members,
                channel=channel_id,
                limit=MEMBER_PAGE_SIZE,
                cursor=cursor,
            ),
        )
        if isinstance(answer, str):
            return PostCheck.refuse(answer)
        members = answer.get("members")
        if not isinstance(members, list):
            return PostCheck.refuse(PostRefusal.UNREADABLE)
        if user_id in members:
            return PostCheck.ok()
        metadata = answer.get("response_metadata")
        cursor = metadata.get("next_cursor") if isinstance(metadata, dict) else None
        if not cursor:
            break
    return PostCheck.refuse(PostRefusal.REQUESTER_NOT_MEMBER)


def _ask_slack(method: str, target: str, call: Callable[[], SlackResponse]) -> SlackResponse | str:
    """Slack's answer, or its error code ("unreachable" when Slack itself failed), logged."""
    try:
        return call()
    except SlackApiError as error:
        code = slack_error_code(error)
        logger.info("%s refused for %s: %s", method, target, code)
        return code
    except (SlackClientError, OSError) as error:
        logger.warning("%s failed for %s: %s", method, target, type(error).__name__)
        return "unreachable"


def post_message(
    client: WebClient,
    channel_id: str,
    *,
    text: str,
    blocks: list[dict[str, Any]],
    thread_ts: str | None = None,
) -> str | None:
    """Post; None when Slack took it, else the plain-language reason it did not."""
    posted = _ask_slack(
        "chat.postMessage",
        channel_id,
        partial(
            client.chat_postMessage,
            channel=channel_id,
            thread_ts=thread_ts,
            text=text,
            blocks=blocks,
            # A card is a card: links in it must not unfurl into previews of their own.
            unfurl_links=False,
            unfurl_media=False,
        ),
    )
    return explain_slack_error(posted) if isinstance(posted, str) else None


def check_before_posting(
    client: WebClient,
    lookups: LookupService,
    *,
    conversation_id: str | None,
    customer: str,
    requester: Requester,
    surface: str,
    delivery: Delivery,
) -> PostCheck:
    """The conversation check every card goes through before it is built, with a refusal
    audited (outcome "not_posted", the check's reason) so the trail shows what was withheld."""
    check = check_conversation(
        client, conversation_id, requester_user_id=requester.user_id, delivery=delivery
    )
    if not check.allowed:
        lookups.record_not_posted(
            surface=surface,
            customer_key=customer,
            requester=replace(requester, channel_id=conversation_id),
            reason=check.reason,
        )
    return check


def post_customer_card(
    client: WebClient,
    lookups: LookupService,
    *,
    conversation_id: str | None,
    customer: str,
    requester: Requester,
    surface: str,
    thread_ts: str | None = None,
    featured_license_id: int | None = None,
    note: str | None = None,
    followable: bool | None = None,
) -> str | None:
    """Post a customer's card, redacted for the conversation, where the user asked: check the
    conversation, build (and audit) the card, post it. None when posted, else the problem to
    show the user. `followable=False`: no "Follow in this thread" (it is being followed)."""
    check = check_before_posting(
        client,
        lookups,
        conversation_id=conversation_id,
        customer=customer,
        requester=requester,
        surface=surface,
        delivery=Delivery.BOT_MESSAGE,
    )
    if not check.allowed or conversation_id is None:
        return check.problem or ""
    answer = lookups.answer_customer(
        ids.LICENSE_COMMAND,
        customer,
        replace(requester, channel_id=conversation_id),
        audience=Audience.CONVERSATION,
        surface=surface,
        featured_license_id=featured_license_id,
        note=note,
        followable=followable,
    )
    if answer.outcome is not Outcome.OK:
        return answer.message.text
    return post_message(client, conversation_id, thread_ts=thread_ts, **answer.payload())


def send_direct_message(
    client: WebClient, user_id: str, *, text: str, blocks: list[dict[str, Any]]
) -> str | None:
    """Post into the user's DM with the bot (opened if need be); None when it arrived."""
    opened = _ask_slack(
        "conversations.open", user_id, partial(client.conversations_open, users=user_id)
    )
    if isinstance(opened, str):
        return explain_slack_error(opened)
    channel = opened.get("channel")
    channel_id = channel.get("id") if isinstance(channel, dict) else None
    if not isinstance(channel_id, str) or not channel_id:
        return UNREACHABLE
    return post_message(client, channel_id, text=text, blocks=blocks)


def post_via_response_url(respond: Callable[..., Any], **message: Any) -> bool:
    """True when Slack accepted a post to an interaction's response_url.

    slack_sdk's webhook client returns Slack's answer rather than raising on an expired URL or a
    5xx, and raises on a closed connection: either way the caller must tell the user."""
    try:
        response = respond(**message)
    except Exception as error:  # urllib errors, a reset connection: Slack did not take it
        logger.warning("response_url post failed: %s", type(error).__name__)
        return False
    status = getattr(response, "status_code", 200)
    if status != 200:
        logger.warning("response_url post refused: HTTP %s", status)
    return status == 200
