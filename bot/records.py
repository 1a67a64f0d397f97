"""Plain values that travel from the store's queries to the card builders.

Card builders take these and nothing else: no session, no ORM object that could lazy-load,
no Slack client. Frozen dataclasses keep them hashable and obviously side-effect free.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class LicenseRecord:
    id: int
    company: str
    plan: str
    trial: bool
    contact_name: str | None = None
    contact_email: str | None = None
    user_count: int | None = None
    previous_user_count: int | None = None
    trueup_quantity: int | None = None
    license_type: str | None = None  # "cloud", "offline_cloud", "legacy"
    issued_at: datetime | None = None  # aware, UTC
    starts_at: date | None = None
    expires_at: date | None = None  # None: open-ended
    zuora_subscription_id: str | None = None
    zuora_subscription_name: str | None = None
    salesforce_account_id: str | None = None
    zuora_account_id: str | None = None
    # Internal: for the requester only; bot/answers/redaction.py drops it for a conversation.
    notes: str | None = None


@dataclass(frozen=True)
class HostRecord:
    hostname: str
    license_id: int | None
    gitlab_version: str | None = None
    active_user_count: int | None = None
    historical_max_users: int | None = None
    last_ping_at: datetime | None = None


class Standing(enum.Enum):
    """Where a license stands today (ARCHITECTURE.md's active-license rule)."""

    ACTIVE = "active"
    IN_GRACE = "in_grace"  # within 14 days after expiry, and nothing active
    EXPIRED = "expired"
    UPCOMING = "upcoming"  # starts in the future


class CustomerStanding(enum.Enum):
    """Where a customer stands today: its card's lead license's standing, or why it has none
    (`bot.licensing.customer_standing`). Every surface that says it reads this one value."""

    ACTIVE = "active"
    IN_GRACE = "in_grace"
    EXPIRED = "expired"
    UPCOMING = "upcoming"
    TRIAL_ONLY = "trial_only"  # trials, no paid license
    NONE = "none"  # no license at all


@dataclass(frozen=True)
class RankedLicense:
    license: LicenseRecord
    standing: Standing


@dataclass(frozen=True)
class LicenseOverview:
    """A customer's licenses in the order the card shows them."""

    lead: (
        RankedLicense | None
    )  # the active license, else in grace, else the newest; None: only trials
    others: tuple[RankedLicense, ...]  # non-trial licenses after the lead, newest first
    trials: tuple[RankedLicense, ...]  # newest first

    @property
    def license_count(self) -> int:
        return (1 if self.lead else 0) + len(self.others) + len(self.trials)


@dataclass(frozen=True)
class CustomerRecord:
    key: str
    name: str
    salesforce_account_id: str | None = None
    account_name: str | None = None  # the Zuora account's name, from a subscriptions export


@dataclass(frozen=True)
class CustomerLicenses:
    """Everything the license card shows for one customer."""

    customer: CustomerRecord
    overview: LicenseOverview
    hosts_by_license: dict[int, tuple[HostRecord, ...]] = field(default_factory=dict)
    data_as_of: datetime | None = None
    today: date | None = None  # the date the standings were computed for (UTC)


class ReconciliationStatus(enum.Enum):
    PENDING = "pending"
    PROCESSED = "processed"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class ReconciliationRecord:
    id: int
    customer_name: str
    status: str  # one of ReconciliationStatus's values; kept as text so odd data still renders
    subscription_name: str | None = None
    zuora_subscription_id: str | None = None
    reconcile_on: date | None = None
    reconcile_done_at: datetime | None = None
    skip_reason: str | None = None
    user_count: int | None = None
    invoiced_amount_minor: int | None = None
    currency: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class CustomerReconciliations:
    customer: CustomerRecord
    reconciliations: tuple[ReconciliationRecord, ...]  # newest first
    data_as_of: datetime | None = None


@dataclass(frozen=True)
class CustomerChoice:
    """One line of a pick list when a query matches several customers."""

    key: str
    name: str
    license_count: int = 0
    active_plan: str | None = None
    active_user_count: int | None = None
    # What tells customers of one name apart without telling their terms (type-ahead options).
    salesforce_account_id: str | None = None
    email_domain: str | None = None  # of the contact the customer's lead license went to
    # Keyword-only and required: a line that guessed its standing could contradict the card.
    standing: CustomerStanding = field(kw_only=True)
    # What tells same-named customers apart in a pick list.
    account_name: str | None = None
    subscription_names: tuple[str, ...] = ()
    email_domains: tuple[str, ...] = ()
