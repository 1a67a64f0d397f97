"""What `/license`'s text asks for: a lookup, or `follow`, `unfollow` or `following`.

`follow`, `unfollow` and `following` as the first word are subcommands, whatever follows them;
a customer with one of those names is looked up quoted (`/license "Following"`), and a quoted
name is how a name that ends in a feature word is followed (`/license follow "Acme Seats"`).
Slack's clients may turn straight quotes into curly ones, so both count.

    /license follow Acme                      every feature, posted as it happens
    /license follow Acme Corp expiry recon    only those
    /license follow Acme --daily              one digest a day
    /license unfollow Acme trials             stop one feature; with none named, the follow
    /license following                        what this channel follows
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import ids
from bot.store.models import FOLLOW_FEATURES

DAILY_OPTION = "--daily"
# Each feature by the words people type for it (singular, plural, what the update says).
FEATURE_BY_WORD: dict[str, str] = {
    "licenses": "licenses",
    "license": "licenses",
    "renewals": "licenses",
    "renewal": "licenses",
    "trials": "trials",
    "trial": "trials",
    "expiry": "expiry",
    "expiries": "expiry",
    "expiring": "expiry",
    "recon": "recon",
    "recons": "recon",
    "reconciliation": "recon",
    "reconciliations": "recon",
    "qsr": "recon",
    "seats": "seats",
    "seat": "seats",
}
# Straight and curly quotes, each with the quote that closes it.
_CLOSING_QUOTE = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "\u201d": "\u201d"}


@dataclass(frozen=True)
class FollowRequest:
    """`/license follow|unfollow|following …`, read.

    `features`: the ones named, in FOLLOW_FEATURES order; empty means every one (follow) or
    the whole follow (unfollow). `problem`: what could not be read, said instead of acting."""

    subcommand: str
    customer: str = ""
    features: tuple[str, ...] = ()
    daily: bool = False
    problem: str | None = None


def read_follow_request(text: str) -> FollowRequest | None:
    """The subcommand `text` asks for; None when it is a lookup."""
    stripped = text.strip()
    first, _, rest = stripped.partition(" ")
    subcommand = first.casefold()
    if subcommand not in ids.FOLLOW_SUBCOMMANDS:
        return None
    if subcommand == ids.FOLLOWING_SUBCOMMAND:
        return FollowRequest(subcommand, customer=rest.strip())
    customer, words = _split_customer(rest.strip())
    features: set[str] = set()
    daily = False
    unknown: list[str] = []
    for word in words:
        folded = word.casefold().strip(",")
        if not folded:
            continue
        if folded == DAILY_OPTION:
            daily = True
        elif folded in FEATURE_BY_WORD:
            features.add(FEATURE_BY_WORD[folded])
        else:
            unknown.append(word)
    ordered = tuple(feature for feature in FOLLOW_FEATURES if feature in features)
    problem = None
    if unknown:
        problem = f"unknown: {' '.join(unknown)}"
    elif daily and subcommand == ids.UNFOLLOW_SUBCOMMAND:
        problem = f"unknown: {DAILY_OPTION}"
    return FollowRequest(subcommand, customer, ordered, daily, problem)


def _split_customer(rest: str) -> tuple[str, list[str]]:
    """(the customer's words, the words after them): a quoted name is the customer whatever it
    says; otherwise the feature words and options at the end are peeled off."""
    if rest[:1] in _CLOSING_QUOTE:
        closing = _CLOSING_QUOTE[rest[0]]
        end = rest.find(closing, 1)
        if end > 0:
            return rest[1:end].strip(), rest[end + 1 :].split()
    words = rest.split()
    cut = len(words)
    while cut > 0 and _is_option_or_feature(words[cut - 1]):
        cut -= 1
    # Options anywhere after the name count (`follow Acme --daily recon`); a word that is
    # neither, after the name, is the name's.
    return " ".join(words[:cut]), words[cut:]


def _is_option_or_feature(word: str) -> bool:
    folded = word.casefold().strip(",")
    return folded.startswith("--") or folded in FEATURE_BY_WORD or not folded


def unquoted(text: str) -> str:
    """A lookup's text without the quotes around a whole name (`"Following"` → `Following`)."""
    stripped = text.strip()
    opening = stripped[:1]
    if len(stripped) >= 2 and opening in _CLOSING_QUOTE and stripped[-1] == _CLOSING_QUOTE[opening]:
        return stripped[1:-1].strip()
    return text
