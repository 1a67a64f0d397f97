"""How a request ended and why one was refused: the one vocabulary of audit rows and request
lines.

An audit row's `outcome` and `reason`, the request log's `outcome=` and the App Home's recent
lookups all use these values, stored and logged as their strings. The words a person reads for a
refusal live with the views (bot/views/refusals.py); here are only the codes.
"""

from __future__ import annotations

import enum


class Outcome(enum.StrEnum):
    """How a request ended. Each value means one thing wherever it is written."""

    # Decided by the app: audit rows, and the request line of the request that decided it.
    OK = "ok"  # an answer with customer data
    AMBIGUOUS = "ambiguous"  # a pick list
    NOT_FOUND = "not_found"  # no customer matched the query
    USAGE = "usage"  # empty query: the usage card
    DENIED = "denied"  # refused (a RefusalReason says why)
    RATE_LIMITED = "rate_limited"  # over LOOKUP_RATE_LIMIT_PER_HOUR
    UNAVAILABLE = "unavailable"  # the store could not answer: what an outage alert keys on
    NOT_POSTED = "not_posted"  # a card the conversation check kept out of a conversation
    # The request line only, from the HTTP status, where no listener decided an outcome.
    HANDLED = "handled"  # answered without a lookup: an ack, an event, a health probe
    UNAUTHORIZED = "unauthorized"  # 401/403: the signature did not verify
    UNKNOWN_PATH = "unknown_path"  # 404: nothing is served at that path
    BAD_REQUEST = "bad_request"  # other 4xx: malformed, too large, too slow to arrive
    FAILED = "failed"  # a 5xx other than the store's 503: a bug; its traceback is logged


# What an audit row may say: the outcomes the app decides. The rest are the request line's own.
AUDIT_OUTCOMES = frozenset(
    {
        Outcome.OK,
        Outcome.AMBIGUOUS,
        Outcome.NOT_FOUND,
        Outcome.USAGE,
        Outcome.DENIED,
        Outcome.RATE_LIMITED,
        Outcome.UNAVAILABLE,
        Outcome.NOT_POSTED,
    }
)
# Outcomes a person would recognise as "a lookup I made" (App Home's recent lookups).
LOOKUP_OUTCOMES = (Outcome.OK, Outcome.AMBIGUOUS, Outcome.NOT_FOUND)


def outcome_of_status(status: int) -> Outcome:
    """A request line's outcome when no listener decided one: what its HTTP status says."""
    if status < 300:
        return Outcome.HANDLED
    if status in (401, 403):
        return Outcome.UNAUTHORIZED
    if status == 404:
        return Outcome.UNKNOWN_PATH
    if status < 500:
        return Outcome.BAD_REQUEST
    if status == 503:
        return Outcome.UNAVAILABLE
    return Outcome.FAILED


class RefusalReason(enum.StrEnum):
    """Why a request was refused: an audit row's `reason` for Outcome.DENIED."""

    NOT_LISTED = "not_listed"  # on no allowlist entry
    GUEST = "guest"
    EXTERNAL = "external"  # a member of another organisation (a Slack Connect visitor)
    # The request came through an installation outside ALLOWED_TEAM_IDS / ALLOWED_ENTERPRISE_IDS.
    OUTSIDE_ORGANISATION = "outside_organisation"
    # OAuth mode: its workspace has no installation (never installed, or uninstalled since).
    NOT_INSTALLED = "not_installed"
    DEACTIVATED = "deactivated"
    BOT = "bot"
    UNKNOWN_USER = "unknown_user"  # Slack does not know the user id
    IDENTITY_UNAVAILABLE = "identity_unavailable"  # Slack could not tell us who it is, for now
    NO_USER = "no_user"  # the request names no user to check


class PostRefusal(enum.StrEnum):
    """Why the conversation check kept a card out of a conversation: an audit row's `reason`
    for Outcome.NOT_POSTED, beside the error codes Slack itself answers (`not_in_channel`…)."""

    EXTERNAL = "external"  # shared with another organisation (Slack Connect)
    DIRECT_MESSAGE = "direct_message"  # a DM between people
    ARCHIVED = "archived"
    NOT_MEMBER = "not_member"  # the bot is not in the channel
    NO_CONVERSATION = "no_conversation"  # no conversation was named
    UNREADABLE = "unreadable"  # Slack's answer did not say what the conversation is
    REQUESTER_NOT_MEMBER = "requester_not_member"  # a private conversation the requester is not in
    # A "Follow in this thread" click not on a card the bot posted there with that button: a
    # forged or misplaced value, followed nowhere.
    NOT_OUR_CARD = "not_our_card"
