"""bot/freshness.py: how old each kind's data is at a moment, and when it is stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config import Settings
from bot.freshness import FreshnessRule

NOW = datetime(2026, 2, 11, 12, 0, tzinfo=UTC)
KINDS = ("licenses", "subscriptions", "hosts")


def test_each_kind_is_judged_in_the_order_asked_and_a_kind_never_loaded_is_not_stale():
    freshness = FreshnessRule().judge(
        {"hosts": NOW - timedelta(hours=3), "licenses": NOW - timedelta(days=3)}, KINDS, now=NOW
    )
    licenses, subscriptions, hosts = freshness.kinds
    assert [kind.kind for kind in freshness.kinds] == list(KINDS)
    assert (licenses.age, licenses.stale) == (timedelta(days=3), True)
    assert (subscriptions.as_of, subscriptions.age, subscriptions.stale) == (None, None, False)
    assert (hosts.age, hosts.stale) == (timedelta(hours=3), False)
    assert freshness.stale == (licenses,)


@pytest.mark.parametrize(
    ("hours", "age", "stale"),
    [
        (26, timedelta(hours=26), False),  # at the threshold: not yet
        (26, timedelta(hours=26, seconds=1), True),
        (1.5, timedelta(minutes=89), False),
        (1.5, timedelta(minutes=91), True),
        (0.25, timedelta(minutes=16), True),
    ],
)
def test_stale_past_stale_after_hours_and_not_before_fractions_included(hours, age, stale):
    settings = Settings.from_env({"STALE_AFTER_HOURS": str(hours)}, dotenv_path=None)
    rule = FreshnessRule.from_settings(settings)
    [kind] = rule.judge({"licenses": NOW - age}, ("licenses",), now=NOW).kinds
    assert kind.stale is stale


def test_a_kind_with_a_sync_source_is_synced():
    settings = Settings.from_env({"SYNC_LICENSES": "/exports/licenses.csv"}, dotenv_path=None)
    freshness = FreshnessRule.from_settings(settings).judge({}, KINDS, now=NOW)
    assert [kind.synced for kind in freshness.kinds] == [True, False, False]


def test_a_data_time_ahead_of_the_clock_is_no_age_and_a_naive_one_is_utc():
    rule = FreshnessRule()
    [ahead] = rule.judge({"licenses": NOW + timedelta(minutes=5)}, ("licenses",), now=NOW).kinds
    assert (ahead.age, ahead.stale) == (timedelta(0), False)
    naive = datetime(2026, 2, 10, 6, 0)
    [kind] = rule.judge({"licenses": naive}, ("licenses",), now=NOW).kinds
    assert kind.age == timedelta(hours=30) and kind.stale
