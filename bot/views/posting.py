"""What the user reads when a card cannot go where they asked: the conversation check's
refusals (bot.outcomes.PostRefusal, bot/answers/conversations.py) and Slack's error codes, in plain words
that say what to do next; never the code or a trace alone."""

from __future__ import annotations

from bot.outcomes import PostRefusal

INVITE_HINT = "Add me first with `/invite @CustomersDot`, then try again."
# channel_not_found: a private channel or a group DM the bot is not in (Slack does not say
# which), so the words fit both; only a private channel can /invite it.
CANNOT_SEE = (
    "I can't see this conversation, so I can't tell who is in it. "
    f"In a private channel: {INVITE_HINT}"
)
NOT_A_MEMBER = f"I'm not in this channel. {INVITE_HINT}"
EXTERNAL = (
    "This conversation is shared with another organisation (Slack Connect): customer data "
    "never goes there. Use an internal channel."
)
DIRECT_MESSAGE = (
    "I can't post into a direct message between people. Use `/license` there (only you see "
    "the answer), or post the card in a channel."
)
ARCHIVED = "This channel is archived, so nothing can be posted in it."
RESTRICTED = (
    "Only some people can post in this channel, and I'm not one of them. "
    "Ask a channel manager, or post the card in another channel."
)
REQUESTER_NOT_MEMBER = (
    "You're not in this conversation, so I can't post a card there. Pick a conversation you're in."
)
UNREACHABLE = "I couldn't check this conversation with Slack just now. Try again in a minute."
NOT_OUR_CARD = (
    "That button is not on a card I posted here, so nothing was followed. Post the customer's "
    "card into the thread (the message's ⋮ menu: Post license card) and follow from it."
)
REJECTED = "Slack didn't accept the card. Try again in a minute; if it keeps happening, tell the team that runs this bot."

# chat.postMessage / conversations.info error codes -> what the user should read.
_ERROR_WORDS = {
    "channel_not_found": CANNOT_SEE,
    "not_in_channel": NOT_A_MEMBER,
    "missing_scope": CANNOT_SEE,
    "is_archived": ARCHIVED,
    "restricted_action": RESTRICTED,
    "restricted_action_read_only_channel": RESTRICTED,
    "restricted_action_thread_only_channel": RESTRICTED,
    "restricted_action_non_threadable_channel": RESTRICTED,
    "cannot_reply_to_message": RESTRICTED,
    "ekm_access_denied": RESTRICTED,
    "team_access_not_granted": CANNOT_SEE,
    "unreachable": UNREACHABLE,
    "ratelimited": UNREACHABLE,
    "rate_limited": UNREACHABLE,
    "fatal_error": UNREACHABLE,
    "internal_error": UNREACHABLE,
    "service_unavailable": UNREACHABLE,
    "request_timeout": UNREACHABLE,
}

SHARE_NOT_TAKEN = (
    "Slack didn't take the card for that channel, so nothing was shared. Share buttons work for "
    "30 minutes: run /license again and share from the new reply."
)

_REFUSAL_WORDS: dict[str, str] = {
    PostRefusal.EXTERNAL: EXTERNAL,
    PostRefusal.DIRECT_MESSAGE: DIRECT_MESSAGE,
    PostRefusal.ARCHIVED: ARCHIVED,
    PostRefusal.NOT_MEMBER: NOT_A_MEMBER,
    PostRefusal.NO_CONVERSATION: CANNOT_SEE,
    PostRefusal.UNREADABLE: UNREACHABLE,
    PostRefusal.REQUESTER_NOT_MEMBER: REQUESTER_NOT_MEMBER,
    PostRefusal.NOT_OUR_CARD: NOT_OUR_CARD,
}


def post_problem(reason: str | None) -> str:
    """Why a card was not posted: our refusal's words, else those of Slack's error code."""
    return _REFUSAL_WORDS.get(reason or "") or explain_slack_error(reason)


def explain_slack_error(error_code: str | None) -> str:
    """Plain words for a Slack Web API error code; never the code or a trace alone."""
    return _ERROR_WORDS.get(error_code or "", REJECTED)
