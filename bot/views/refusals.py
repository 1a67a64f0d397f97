"""What a refused person reads, by reason: the one wording, used by the cards (bot/views/notices.py,
App Home) and by the allowlist's plain-text fallback. Never anything about a customer."""

from __future__ import annotations

from collections.abc import Callable

from bot.outcomes import RefusalReason

# Read by any reason an audit row holds, or none (the general sentence).
_REFUSAL_SENTENCES: dict[str | None, str] = {
    RefusalReason.NOT_LISTED: "You're not on the list of people who can look up customer licenses.",
    RefusalReason.GUEST: "Guest accounts can't look up customer licenses.",
    RefusalReason.EXTERNAL: "People from other organisations can't look up customer licenses here.",
    RefusalReason.OUTSIDE_ORGANISATION: "CustomersDot isn't available in this workspace.",
    RefusalReason.NOT_INSTALLED: "CustomersDot isn't available in this workspace.",
    RefusalReason.DEACTIVATED: "Deactivated accounts can't look up customer licenses.",
    RefusalReason.UNKNOWN_USER: (
        "We couldn't find your Slack profile, so we can't let you look up customer data."
    ),
    RefusalReason.IDENTITY_UNAVAILABLE: (
        "We couldn't check who you are right now. Try again in a minute."
    ),
}
_DEFAULT_REFUSAL = "You don't have access to customer license data."
# Refusals that an access request can fix; guests and external users are never allowed.
_REFUSALS_WORTH_REQUESTING = frozenset({RefusalReason.NOT_LISTED, RefusalReason.UNKNOWN_USER})


def refusal_sentence(reason: str | None) -> str:
    """Why the bot said no, in one sentence (a notification's fallback text). A reason this
    version does not know (an old audit row's) gets the general sentence."""
    return _REFUSAL_SENTENCES.get(reason, _DEFAULT_REFUSAL)


def access_can_be_requested(reason: str | None) -> bool:
    """Whether asking for access could change the answer (not for guests or outsiders)."""
    return reason in _REFUSALS_WORTH_REQUESTING or reason not in _REFUSAL_SENTENCES


def _slack_link(url: str, label: str) -> str:
    return f"<{url}|{label}>"


def refusal_text(
    reason: str | None,
    access_request_url: str | None,
    *,
    link: Callable[[str, str], str] = _slack_link,
) -> str:
    """The refusal in mrkdwn: the sentence, and where to ask for access when that can help.

    `link` renders the request link (the cards pass their escaping one)."""
    sentence = refusal_sentence(reason)
    if access_request_url and access_can_be_requested(reason):
        return f"{sentence}\nYou can {link(access_request_url, 'request access here')}."
    return sentence
