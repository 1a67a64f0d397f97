"""Which of a customer's licenses leads the card, where each one stands, and so where the
customer stands (ARCHITECTURE.md).

Pure: no session, no clock. The caller passes `today` (a UTC date) so every card built from
one lookup agrees on what "today" is.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from bot.records import (
    CustomerStanding,
    LicenseOverview,
    LicenseRecord,
    RankedLicense,
    Standing,
)

# A lapsed subscription keeps leading the card this long while its renewal is being sorted out.
GRACE_PERIOD = timedelta(days=14)

_NEVER = datetime.min.replace(tzinfo=UTC)


def standing(license: LicenseRecord, today: date) -> Standing:
    """Where `license` stands on `today`, judged by its own dates alone.

    No start date counts as started; no expiry date is open-ended. IN_GRACE here only means
    "expired less than 14 days ago": `summarise_licenses` demotes it to EXPIRED when another
    license is active, and trials never get a grace period.
    """
    if license.starts_at is not None and license.starts_at > today:
        return Standing.UPCOMING
    if license.expires_at is None or today <= license.expires_at:
        return Standing.ACTIVE
    if not license.trial and today <= license.expires_at + GRACE_PERIOD:
        return Standing.IN_GRACE
    return Standing.EXPIRED


def newest_first_key(license: LicenseRecord) -> tuple[date, datetime, int]:
    """Sort key, ascending = oldest: by start, then issued, then id.

    A license without a start date is placed by the day it was issued, so one issued last
    week does not sink below a license that started years ago.
    """
    issued = license.issued_at or _NEVER
    started = license.starts_at or (license.issued_at.date() if license.issued_at else date.min)
    return (started, issued, license.id)


def _latest_issued_key(license: LicenseRecord) -> tuple[datetime, date, int]:
    started, issued, license_id = newest_first_key(license)
    return (issued, started, license_id)


def summarise_licenses(licenses: Iterable[LicenseRecord], today: date) -> LicenseOverview:
    """Order a customer's licenses for the card: the lead, the other paid ones, the trials."""
    paid: list[LicenseRecord] = []
    trials: list[LicenseRecord] = []
    for license in licenses:
        (trials if license.trial else paid).append(license)
    paid.sort(key=newest_first_key, reverse=True)
    trials.sort(key=newest_first_key, reverse=True)

    standings = {license.id: standing(license, today) for license in paid}
    active = [license for license in paid if standings[license.id] is Standing.ACTIVE]
    in_grace = [license for license in paid if standings[license.id] is Standing.IN_GRACE]

    lead: LicenseRecord | None
    if active:
        # Overlapping licenses (an early renewal, an add-on): the one issued last is current.
        lead = max(active, key=_latest_issued_key)
    elif in_grace:
        lead = in_grace[0]
    else:
        lead = paid[0] if paid else None

    def ranked(license: LicenseRecord) -> RankedLicense:
        position = standings[license.id]
        if position is Standing.IN_GRACE and active:
            # Grace only means something while nothing else is active.
            position = Standing.EXPIRED
        return RankedLicense(license, position)

    return LicenseOverview(
        lead=ranked(lead) if lead is not None else None,
        others=tuple(ranked(license) for license in paid if license is not lead),
        trials=tuple(RankedLicense(trial, standing(trial, today)) for trial in trials),
    )


_CUSTOMER_STANDING_OF_LEAD = {
    Standing.ACTIVE: CustomerStanding.ACTIVE,
    Standing.IN_GRACE: CustomerStanding.IN_GRACE,
    Standing.EXPIRED: CustomerStanding.EXPIRED,
    Standing.UPCOMING: CustomerStanding.UPCOMING,
}


def customer_standing(overview: LicenseOverview) -> CustomerStanding:
    """Where the customer of `overview` stands: as its lead license does (the card's first
    line), else trials only, else no license at all. The pick list, the card, the modals and
    the shell all say this one value, so a line cannot say "no active license" about a card
    that says "in grace period".
    """
    if overview.lead is not None:
        return _CUSTOMER_STANDING_OF_LEAD[overview.lead.standing]
    return CustomerStanding.TRIAL_ONLY if overview.trials else CustomerStanding.NONE
