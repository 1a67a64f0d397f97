"""bot/views/freshness.py: a card's data age in words, the stale banner and its fallback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot import ids
from bot.freshness import FreshnessRule
from bot.views.freshness import (
    age_words,
    ago_words,
    freshness_footer,
    stale_banner,
    stale_fallback,
    threshold_words,
)
from bot.views.text import mrkdwn_to_text

NOW = datetime(2026, 2, 11, 12, 0, tzinfo=UTC)
KINDS = ("licenses", "subscriptions", "hosts")


@pytest.mark.parametrize(
    ("age", "words"),
    [
        (timedelta(seconds=59), "under a minute"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(minutes=59, seconds=59), "59 minutes"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(hours=27, minutes=50), "27 hours"),  # past a 26-hour threshold: not "1 day"
        (timedelta(hours=47, minutes=59), "47 hours"),
        (timedelta(hours=48), "2 days"),
        (timedelta(days=9, hours=23), "9 days"),
    ],
)
def test_ages_in_words(age, words):
    assert age_words(age) == words


def test_ago_words_and_the_threshold_in_words():
    assert ago_words(timedelta(seconds=10)) == "just now"
    assert ago_words(timedelta(hours=2, minutes=5)) == "2 hours ago"
    assert threshold_words(timedelta(hours=26)) == "26 hours"
    assert threshold_words(timedelta(hours=1)) == "1 hour"
    assert threshold_words(timedelta(hours=1.5)) == "1.5 hours"
    assert threshold_words(timedelta(hours=0.5)) == "30 minutes"


def judged(rule: FreshnessRule | None = None, **ages: timedelta):
    times = {kind: NOW - age for kind, age in ages.items()}
    return (rule or FreshnessRule()).judge(times, KINDS, now=NOW)


def test_the_footer_says_each_kind_as_slack_dates_with_the_age_as_their_fallback():
    freshness = judged(licenses=timedelta(hours=2), hosts=timedelta(days=3))
    footer = freshness_footer(freshness).to_dict()
    assert footer["block_id"] == ids.FOOTER_BLOCK
    text = footer["elements"][0]["text"]
    at = int(NOW.timestamp())
    assert text == (
        f"Licenses as of <!date^{at - 7200}^{{ago}}|2 hours ago> · no subscriptions data · "
        f"⚠️ usage pings <!date^{at - 3 * 86400}^{{ago}}|3 days ago>"
    )
    assert mrkdwn_to_text(text) == (
        "Licenses as of 2 hours ago · no subscriptions data · ⚠️ usage pings 3 days ago"
    )


def test_no_banner_until_a_kind_is_stale_and_never_for_a_kind_never_loaded():
    assert stale_banner(judged(licenses=timedelta(hours=26))) is None
    assert stale_banner(judged()) is None
    assert stale_fallback(judged(), "Acme Corp: active license") == "Acme Corp: active license"


def test_a_stale_kind_imported_by_hand_says_whom_to_ask():
    freshness = judged(licenses=timedelta(days=3), subscriptions=timedelta(hours=1))
    banner = stale_banner(freshness)
    assert banner is not None and banner.block_id == ids.STALE_BLOCK
    assert banner.to_dict()["text"]["text"] == (
        "⚠️ *Stale:* licenses are 3 days old (data older than 26 hours is stale). "
        "Ask whoever imports the data to refresh it."
    )
    assert stale_fallback(freshness, "Acme Corp: active license") == (
        "⚠️ Stale: licenses are 3 days old. Acme Corp: active license"
    )


def test_a_stale_synced_kind_says_the_operator_has_been_told():
    rule = FreshnessRule(stale_after=timedelta(hours=1.5), synced_kinds=frozenset(KINDS))
    banner = stale_banner(judged(rule, licenses=timedelta(hours=2), hosts=timedelta(days=2)))
    assert banner is not None
    assert banner.to_dict()["text"]["text"] == (
        "⚠️ *Stale:* licenses are 2 hours old and usage pings 2 days (data older than 1.5 hours "
        "is stale). The operator has been told."
    )


def test_synced_and_hand_imported_stale_kinds_each_say_who_knows():
    rule = FreshnessRule(synced_kinds=frozenset({"licenses"}))
    banner = stale_banner(judged(rule, licenses=timedelta(days=2), hosts=timedelta(days=4)))
    assert banner is not None
    assert banner.to_dict()["text"]["text"].endswith(
        "The operator has been told about licenses; ask whoever imports usage pings to "
        "refresh them."
    )
