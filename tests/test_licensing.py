from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.licensing import customer_standing, standing, summarise_licenses
from bot.records import CustomerStanding, LicenseRecord, Standing

TODAY = date(2026, 6, 15)


def make_license(
    license_id: int,
    *,
    starts: date | None = None,
    expires: date | None = None,
    issued: datetime | None = None,
    trial: bool = False,
    plan: str = "premium",
) -> LicenseRecord:
    return LicenseRecord(
        id=license_id,
        company="Acme",
        plan=plan,
        trial=trial,
        starts_at=starts,
        expires_at=expires,
        issued_at=issued,
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
    assert [(r.license.id, r.standing) for r in overview.others] == [(2, Standing.ACTIVE)]


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
