"""How old a card's data is, in words: the footer's age of each kind the card shows, the
"stale" banner of its first lines, and the same for the `text` fallback.

Pure: a `Freshness` (bot/freshness.py) judged at the moment of the answer in, words out. In
Slack the footer's ages are date tokens (`<!date^…^{ago}|…>`) that Slack renders against the
reader's own clock, so a card read in a thread a week later still says its data's true age;
their fallback, and everything else here, is said as of the moment the card was built.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from slack_sdk.models.blocks import Block, ContextBlock, SectionBlock

from bot import ids
from bot.freshness import Freshness, KindFreshness
from bot.views.blocks import as_utc, capitalised, context_block, mrkdwn, plural, truncate

# What each import kind is to a reader of a card (hosts: the servers' usage pings).
KIND_WORDS = {
    "licenses": "licenses",
    "subscriptions": "subscriptions",
    "hosts": "usage pings",
    "reconciliations": "reconciliations",
}
STALE_MARK = "⚠️"
TOLD_WORDS = "The operator has been told."
NOT_TOLD_WORDS = "Ask whoever imports the data to refresh it."


def kind_words(kind: str) -> str:
    return KIND_WORDS.get(kind, kind)


def age_words(age: timedelta) -> str:
    """`5 minutes`, `27 hours`, `3 days`: hours until two days, so a day past a threshold of
    26 hours does not read as "1 day"."""
    minutes = int(age.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return plural(minutes, "minute")
    hours = minutes // 60
    if hours < 48:
        return plural(hours, "hour")
    return plural(hours // 24, "day")


def ago_words(age: timedelta) -> str:
    return "just now" if age < timedelta(minutes=1) else f"{age_words(age)} ago"


def threshold_words(stale_after: timedelta) -> str:
    """STALE_AFTER_HOURS in words: `26 hours`, `1.5 hours`, `30 minutes`."""
    hours = stale_after.total_seconds() / 3600
    if hours < 1:
        minutes = stale_after.total_seconds() / 60
        return f"{minutes:g} minute" + ("" if minutes == 1 else "s")
    return f"{hours:g} hour" + ("" if hours == 1 else "s")


def _slack_ago(kind: KindFreshness) -> str:
    """The data's age as Slack's date token: "2 hours ago" by the reader's clock; its fallback
    (clients that cannot render it, the shell) the age when the card was built."""
    assert kind.as_of is not None and kind.age is not None
    timestamp = int(as_utc(kind.as_of).timestamp())
    return f"<!date^{timestamp}^{{ago}}|{ago_words(kind.age)}>"


def _footer_part(kind: KindFreshness, *, first: bool) -> str:
    words = capitalised(kind_words(kind.kind)) if first else kind_words(kind.kind)
    if kind.as_of is None:
        return f"{'No' if first else 'no'} {kind_words(kind.kind)} data"
    mark = f"{STALE_MARK} " if kind.stale else ""
    as_of = " as of" if first else ""
    return f"{mark}{words}{as_of} {_slack_ago(kind)}"


def freshness_footer(freshness: Freshness) -> ContextBlock:
    """`Licenses as of 2 hours ago · subscriptions 5 hours ago · no usage pings data`: each
    kind the card shows, a stale one marked."""
    parts = [_footer_part(kind, first=index == 0) for index, kind in enumerate(freshness.kinds)]
    return context_block(" · ".join(parts) or "No import recorded yet", block_id=ids.FOOTER_BLOCK)


def _listed(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def _who_was_told(stale: Sequence[KindFreshness]) -> str:
    told = [kind_words(kind.kind) for kind in stale if kind.synced]
    untold = [kind_words(kind.kind) for kind in stale if not kind.synced]
    if not untold:
        return TOLD_WORDS
    if not told:
        return NOT_TOLD_WORDS
    return (
        f"The operator has been told about {_listed(told)}; ask whoever imports "
        f"{_listed(untold)} to refresh them."
    )


def _stale_ages(stale: Sequence[KindFreshness]) -> str:
    """`licenses are 3 days old`, `licenses are 3 days old and usage pings 27 hours`."""
    parts = []
    for index, kind in enumerate(stale):
        assert kind.age is not None
        age = age_words(kind.age)
        words = kind_words(kind.kind)
        parts.append(f"{words} are {age} old" if index == 0 else f"{words} {age}")
    return _listed(parts)


def stale_banner(freshness: Freshness) -> SectionBlock | None:
    """A card's first lines when any of its kinds is stale: which, how old, against what, and
    who has been told; None when none is."""
    stale = freshness.stale
    if not stale:
        return None
    text = (
        f"{STALE_MARK} *Stale:* {_stale_ages(stale)} (data older than "
        f"{threshold_words(freshness.stale_after)} is stale). {_who_was_told(stale)}"
    )
    return SectionBlock(block_id=ids.STALE_BLOCK, text=mrkdwn(truncate(text, 3000)))


def stale_blocks(freshness: Freshness) -> list[Block]:
    """The banner as a card's blocks: none when nothing is stale."""
    banner = stale_banner(freshness)
    return [] if banner is None else [banner]


def stale_fallback(freshness: Freshness, fallback: str) -> str:
    """The message's `text` (notification, screen reader), led by the staleness when any."""
    stale = freshness.stale
    if not stale:
        return fallback
    return f"{STALE_MARK} Stale: {_stale_ages(stale)}. {fallback}"
