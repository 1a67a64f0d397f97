from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.licensing import SEATS_IN_USE_WINDOW, customer_standing, standing, summarise_licenses
from bot.records import CustomerStanding, HostRecord, LicenseRecord, SeatUsage, Standing

TODAY = date(2026, 6, 15)


def make_license(
    license_id: int,
    *,
    starts: date | None = None,
    expires: date | None = None,
    issued: datetime | None = None,
    trial: bool = False,
    plan: str = "premium",
    subscription: str | None = "A-S00000001",
    users: int | None = None,
) -> LicenseRecord:
    """A license; paid ones are of one subscription unless told (the rule applies per
    subscription)."""
    return LicenseRecord(
        id=license_id,
        company="Acme",
        plan=plan,
        trial=trial,
        starts_at=starts,
        expires_at=expires,
        issued_at=issued,
        user_count=users,
        subscription=None if trial else subscription,
    )


def issued(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("starts", "expires", "trial", "expected"),
    [
        (date(2026, 1, 1), date(2026, 12, 31), False, Standing.ACTIVE),
        (date(2026, 6, 15), date(2026, 6, 15), False, Standing.ACTIVE),  # both ends inclusive
        (None, date(2026, 12, 31), False, Standing.ACTIVE),  # no start: treated as started
        (date(2026, 1, 1), None, False, Standing.ACTIVE),  # no expiry: open-ended
        (None, None, False, Standing.ACTIVE),
        (date(2026, 6, 16), date(2027, 6, 15), False, Standing.UPCOMING),
        (date(2025, 6, 1), date(2026, 6, 14), False, Standing.IN_GRACE),
        (date(2025, 6, 1), date(2026, 6, 1), False, Standing.IN_GRACE),  # day 14 of grace
        (date(2025, 6, 1), date(2026, 5, 31), False, Standing.EXPIRED),  # day 15
        (date(2026, 6, 1), date(2026, 6, 14), True, Standing.EXPIRED),  # trials get no grace
        (date(2026, 6, 1), date(2026, 7, 1), True, Standing.ACTIVE),
    ],
)
def test_standing_follows_the_dates(
    starts: date | None, expires: date | None, trial: bool, expected: Standing
) -> None:
    assert standing(make_license(1, starts=starts, expires=expires, trial=trial), TODAY) is expected


def test_active_license_leads_and_the_rest_follow_newest_first() -> None:
    old = make_license(
        1, starts=date(2024, 1, 1), expires=date(2025, 1, 1), issued=issued(2024, 1, 1)
    )
    active = make_license(
        2, starts=date(2026, 1, 1), expires=date(2027, 1, 1), issued=issued(2025, 12, 20)
    )
    upcoming = make_license(
        3, starts=date(2027, 1, 1), expires=date(2028, 1, 1), issued=issued(2026, 6, 1)
    )
    middle = make_license(
        4, starts=date(2025, 1, 1), expires=date(2026, 1, 1), issued=issued(2025, 1, 1)
    )

    overview = summarise_licenses([old, active, upcoming, middle], TODAY)

    assert overview.lead is not None
    assert overview.lead.license.id == 2
    assert overview.lead.standing is Standing.ACTIVE
    assert [(r.license.id, r.standing) for r in overview.others] == [
        (3, Standing.UPCOMING),
        (4, Standing.EXPIRED),
        (1, Standing.EXPIRED),
    ]
    assert overview.trials == ()
    assert overview.license_count == 4


def test_latest_issued_wins_when_several_are_active() -> None:
    renewal_started_earlier = make_license(
        1, starts=date(2026, 3, 1), expires=date(2027, 3, 1), issued=issued(2026, 6, 10)
    )
    original = make_license(
        2, starts=date(2026, 4, 1), expires=date(2026, 12, 31), issued=issued(2026, 3, 20)
    )
    overview = summarise_licenses([original, renewal_started_earlier], TODAY)
    assert overview.lead is not None and overview.lead.license.id == 1
    # The superseded one is still within its dates: it stays marked active, after the lead.
    assert [(r.license.id, r.standing) for r in overview.others] == [(2, Standing.SUPERSEDED)]


def test_recently_expired_license_leads_in_grace_when_nothing_is_active() -> None:
    lapsed = make_license(
        1, starts=date(2025, 6, 10), expires=date(2026, 6, 10), issued=issued(2025, 6, 1)
    )
    older = make_license(
        2, starts=date(2024, 6, 10), expires=date(2025, 6, 10), issued=issued(2024, 6, 1)
    )
    overview = summarise_licenses([older, lapsed], TODAY)
    assert overview.lead is not None
    assert (overview.lead.license.id, overview.lead.standing) == (1, Standing.IN_GRACE)
    assert [(r.license.id, r.standing) for r in overview.others] == [(2, Standing.EXPIRED)]


def test_grace_is_not_shown_beside_an_active_license() -> None:
    lapsed = make_license(1, starts=date(2025, 6, 10), expires=date(2026, 6, 10))
    renewed = make_license(2, starts=date(2026, 6, 11), expires=date(2027, 6, 10))
    overview = summarise_licenses([lapsed, renewed], TODAY)
    assert overview.lead is not None and overview.lead.license.id == 2
    assert [(r.license.id, r.standing) for r in overview.others] == [(1, Standing.EXPIRED)]


def test_newest_license_leads_expired_when_none_is_active_or_in_grace() -> None:
    newest = make_license(1, starts=date(2025, 1, 1), expires=date(2026, 1, 1))
    oldest = make_license(2, starts=date(2023, 1, 1), expires=date(2024, 1, 1))
    overview = summarise_licenses([oldest, newest], TODAY)
    assert overview.lead is not None
    assert (overview.lead.license.id, overview.lead.standing) == (1, Standing.EXPIRED)
    assert [r.license.id for r in overview.others] == [2]


def test_future_license_leads_upcoming_over_expired_ones() -> None:
    upcoming = make_license(1, starts=date(2026, 7, 1), expires=date(2027, 7, 1))
    expired = make_license(2, starts=date(2025, 1, 1), expires=date(2026, 1, 1))
    overview = summarise_licenses([expired, upcoming], TODAY)
    assert overview.lead is not None
    assert (overview.lead.license.id, overview.lead.standing) == (1, Standing.UPCOMING)


def test_trials_are_listed_apart_and_never_lead() -> None:
    trial_old = make_license(
        1, starts=date(2025, 1, 1), expires=date(2025, 2, 1), trial=True, plan="ultimate"
    )
    trial_new = make_license(
        2, starts=date(2026, 6, 1), expires=date(2026, 7, 1), trial=True, plan="ultimate"
    )
    paid = make_license(3, starts=date(2024, 1, 1), expires=date(2025, 1, 1))
    overview = summarise_licenses([trial_old, paid, trial_new], TODAY)
    assert overview.lead is not None and overview.lead.license.id == 3
    assert [(r.license.id, r.standing) for r in overview.trials] == [
        (2, Standing.ACTIVE),
        (1, Standing.EXPIRED),
    ]
    assert overview.others == ()
    assert overview.license_count == 3


def test_only_trials_means_no_lead() -> None:
    overview = summarise_licenses(
        [make_license(1, starts=date(2026, 6, 1), expires=date(2026, 7, 1), trial=True)], TODAY
    )
    assert overview.lead is None
    assert [r.license.id for r in overview.trials] == [1]
    assert overview.license_count == 1


def test_no_licenses_at_all() -> None:
    overview = summarise_licenses([], TODAY)
    assert (overview.lead, overview.others, overview.trials) == (None, (), ())


def test_ties_on_start_are_broken_by_issue_time_then_id() -> None:
    same_start = date(2024, 1, 1)
    expires = date(2025, 1, 1)
    first = make_license(10, starts=same_start, expires=expires, issued=issued(2023, 12, 1))
    later_issued = make_license(5, starts=same_start, expires=expires, issued=issued(2023, 12, 5))
    higher_id = make_license(11, starts=same_start, expires=expires, issued=issued(2023, 12, 1))
    overview = summarise_licenses([first, later_issued, higher_id], TODAY)
    ordered = [overview.lead.license.id] if overview.lead else []
    ordered += [r.license.id for r in overview.others]
    assert ordered == [5, 11, 10]


def test_license_without_start_is_placed_by_its_issue_date() -> None:
    no_start = make_license(1, expires=date(2025, 12, 1), issued=issued(2025, 1, 10))
    started_long_ago = make_license(2, starts=date(2022, 1, 1), expires=date(2023, 1, 1))
    overview = summarise_licenses([started_long_ago, no_start], TODAY)
    assert overview.lead is not None and overview.lead.license.id == 1


@pytest.mark.parametrize(
    ("licenses", "expected"),
    [
        ([make_license(1, starts=date(2026, 1, 1), expires=date(2027, 1, 1))], "ACTIVE"),
        ([make_license(1, starts=date(2025, 6, 10), expires=date(2026, 6, 10))], "IN_GRACE"),
        ([make_license(1, starts=date(2025, 1, 1), expires=date(2026, 1, 1))], "EXPIRED"),
        ([make_license(1, starts=date(2026, 7, 1), expires=date(2027, 7, 1))], "UPCOMING"),
        # A trial active today is still no paid license.
        ([make_license(1, expires=date(2026, 7, 1), trial=True)], "TRIAL_ONLY"),
        ([], "NONE"),
        # In grace beside an active license: the customer is active.
        (
            [
                make_license(1, starts=date(2025, 6, 10), expires=date(2026, 6, 10)),
                make_license(2, starts=date(2026, 6, 11), expires=date(2027, 6, 10)),
            ],
            "ACTIVE",
        ),
    ],
)
def test_a_customer_stands_where_its_lead_license_stands(
    licenses: list[LicenseRecord], expected: str
) -> None:
    overview = summarise_licenses(licenses, TODAY)
    assert customer_standing(overview) is CustomerStanding[expected]


# --- What the customer has right now: per subscription (issue 17) --------------------------


def test_every_subscription_in_force_leads_the_largest_first() -> None:
    # A 400-seat Ultimate subscription, and a later 25-seat Premium one (a second department):
    # both in force; the 400 seats lead, whatever was issued last.
    ultimate = make_license(
        1,
        starts=date(2025, 7, 20),
        expires=date(2026, 7, 20),
        issued=issued(2025, 7, 19),
        plan="ultimate",
        users=400,
        subscription="A-S00000001",
    )
    premium = make_license(
        2,
        starts=date(2026, 5, 1),
        expires=date(2027, 5, 1),
        issued=issued(2026, 4, 30),
        users=25,
        subscription="A-S00000002",
    )
    overview = summarise_licenses([premium, ultimate], TODAY)
    assert [sub.name for sub in overview.in_force] == ["A-S00000001", "A-S00000002"]
    assert overview.lead is not None and overview.lead.license.id == 1
    assert [sub.current.standing for sub in overview.subscriptions] == [Standing.ACTIVE] * 2
    assert (overview.paid_count, overview.license_count) == (2, 2)


def test_each_subscription_keeps_its_own_current_license_and_history() -> None:
    old = make_license(1, starts=date(2024, 7, 1), expires=date(2025, 7, 1), users=300)
    current = make_license(2, starts=date(2025, 7, 1), expires=date(2026, 7, 1), users=400)
    # An early renewal, issued last week, starting when the current term ends.
    renewal = make_license(
        3, starts=date(2026, 7, 1), expires=date(2027, 7, 1), issued=issued(2026, 6, 8), users=450
    )
    other = make_license(4, starts=date(2026, 1, 1), expires=date(2027, 1, 1), subscription="A-S2")
    overview = summarise_licenses([old, current, renewal, other], TODAY)
    first = overview.subscriptions[0]
    assert first.current.license.id == 2
    assert first.renewal is not None and first.renewal.license.id == 3
    assert first.renewal.standing is Standing.UPCOMING
    assert [(r.license.id, r.standing) for r in first.history] == [(1, Standing.EXPIRED)]
    assert overview.subscriptions[1].current.license.id == 4


def test_a_license_in_grace_leads_its_subscription_over_a_renewal_starting_next_week() -> None:
    # Five days into grace, its renewal issued and starting next week: the subscription stands
    # in grace (the renewal is not current yet), and the customer with it. Leading with the
    # newest license (the renewal, upcoming) here is the mistake this pins.
    lapsed = make_license(1, starts=date(2025, 6, 10), expires=date(2026, 6, 10), users=100)
    renewal = make_license(
        2,
        starts=date(2026, 6, 22),
        expires=date(2027, 6, 22),
        issued=issued(2026, 6, 12),
        users=120,
    )
    overview = summarise_licenses([renewal, lapsed], TODAY)
    assert overview.lead is not None
    assert (overview.lead.license.id, overview.lead.standing) == (1, Standing.IN_GRACE)
    assert overview.subscriptions[0].renewal is not None
    assert overview.subscriptions[0].renewal.license.id == 2
    assert customer_standing(overview) is CustomerStanding.IN_GRACE


def test_a_paid_license_without_a_subscription_is_one_of_its_own() -> None:
    legacy = make_license(1, starts=date(2020, 1, 1), expires=None, subscription=None)
    another = make_license(2, starts=date(2019, 1, 1), expires=None, subscription=None)
    overview = summarise_licenses([legacy, another], TODAY)
    assert len(overview.subscriptions) == 2
    assert all(sub.name is None and sub.in_force for sub in overview.subscriptions)


def _host(
    name: str,
    license_id: int,
    *,
    days_ago: int,
    active: int | None,
    billable: int | None = None,
    historical: int | None = None,
) -> HostRecord:
    return HostRecord(
        hostname=name,
        license_id=license_id,
        active_user_count=active,
        billable_user_count=billable,
        historical_max_users=historical,
        last_ping_at=datetime.combine(TODAY - timedelta(days=days_ago), time(3), tzinfo=UTC),
    )


def test_seats_in_use_are_the_highest_recent_count_over_every_license_of_the_subscription() -> None:
    older = make_license(1, starts=date(2024, 6, 1), expires=date(2025, 6, 1), users=300)
    current = make_license(2, starts=date(2025, 6, 1), expires=date(2026, 7, 20), users=400)
    hosts = {
        # Yesterday, on the current license: billable users reported, so they count.
        2: (
            _host("gitlab.wayne.example", 2, days_ago=1, active=430, billable=412, historical=440),
        ),
        # Still running the older license, pinging recently: it counts too.
        1: (
            _host("dr.wayne.example", 1, days_ago=3, active=90),
            # Last seen 45 days ago: listed, not counted.
            _host("old.wayne.example", 1, days_ago=45, active=999, historical=1200),
        ),
    }
    overview = summarise_licenses([older, current], TODAY, hosts)
    subscription = overview.subscriptions[0]
    assert [host.hostname for host in subscription.hosts] == [
        "gitlab.wayne.example",
        "dr.wayne.example",
        "old.wayne.example",
    ]
    assert subscription.seats == SeatUsage(in_use=412, bought=400, historical_max=440, servers=2)
    assert subscription.seats.over == 12


def test_no_recent_ping_means_no_seats_in_use() -> None:
    current = make_license(1, starts=date(2025, 6, 1), expires=date(2026, 7, 20), users=400)
    stale = {1: (_host("old", 1, days_ago=SEATS_IN_USE_WINDOW.days + 1, active=500),)}
    overview = summarise_licenses([current], TODAY, stale)
    assert overview.subscriptions[0].seats is None
    assert len(overview.subscriptions[0].hosts) == 1
    within = {1: (_host("new", 1, days_ago=SEATS_IN_USE_WINDOW.days, active=380),)}
    seats = summarise_licenses([current], TODAY, within).subscriptions[0].seats
    assert seats is not None and (seats.in_use, seats.over) == (380, 0)


def test_a_trial_running_today_is_the_one_that_ends_last() -> None:
    ended = make_license(1, starts=date(2026, 4, 1), expires=date(2026, 5, 1), trial=True)
    running = make_license(2, starts=date(2026, 6, 1), expires=date(2026, 6, 28), trial=True)
    overview = summarise_licenses([ended, running], TODAY)
    assert overview.running_trial is not None and overview.running_trial.license.id == 2
    assert summarise_licenses([ended], TODAY).running_trial is None
