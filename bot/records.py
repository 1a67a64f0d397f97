"""Plain values that travel from the store's queries to the card builders.

Card builders take these and nothing else: no session, no ORM object that could lazy-load,
no Slack client. Frozen dataclasses keep them hashable and obviously side-effect free.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
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
    # The Zuora subscription it belongs to: its name from the subscriptions export (any
    # version's id joins it), else the name or id on the row; None: a license of its own.
    subscription: str | None = None
    # The Zuora account number of its subscription (the subscriptions export), when known.
    account_number: str | None = None


@dataclass(frozen=True)
class HostRecord:
    hostname: str
    license_id: int | None
    gitlab_version: str | None = None
    active_user_count: int | None = None
    historical_max_users: int | None = None
    last_ping_at: datetime | None = None
    # The users its license bills (usage_data's license_billable_users), when the ping says.
    billable_user_count: int | None = None

    @property
    def users_in_use(self) -> int | None:
        """What the instance uses of its seats: the billable users where the ping reports
        them, else the active users."""
        if self.billable_user_count is not None:
            return self.billable_user_count
        return self.active_user_count


class Standing(enum.Enum):
    """Where a license stands today (ARCHITECTURE.md's active-license rule, per subscription)."""

    ACTIVE = "active"
    IN_GRACE = "in_grace"  # within 14 days after expiry, and nothing active in its subscription
    EXPIRED = "expired"
    UPCOMING = "upcoming"  # starts in the future
    # Active by its dates, but a later license of its subscription (a true-up, an early
    # renewal) replaced it.
    SUPERSEDED = "superseded"


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
class SeatUsage:
    """Seats in use on a subscription: over the servers running any of its licenses, each by
    its newest ping if it is recent (bot.licensing.SEATS_IN_USE_WINDOW), the highest user
    count (billable where reported), against the seats its current license bought."""

    in_use: int
    bought: int | None
    historical_max: int | None  # the highest historical maximum those servers report
    servers: int  # how many servers were counted

    @property
    def over(self) -> int:
        """Users beyond the seats bought: a true-up ahead."""
        if self.bought is None:
            return 0
        return max(self.in_use - self.bought, 0)


@dataclass(frozen=True)
class SubscriptionOverview:
    """One Zuora subscription of a customer (or one license without any) as the card shows
    it: its current license by the active-license rule, a renewal already issued, the
    licenses it replaced, its servers and its seats in use."""

    name: str | None  # `A-S…` (else its Zuora id); None: a license without a subscription
    current: RankedLicense
    renewal: RankedLicense | None = None  # issued, starts after today
    history: tuple[RankedLicense, ...] = ()  # its other licenses, newest first
    hosts: tuple[HostRecord, ...] = ()  # servers reporting any of its licenses, newest first
    seats: SeatUsage | None = None  # None: no server reported recently

    @property
    def in_force(self) -> bool:
        return self.current.standing is Standing.ACTIVE

    @property
    def licenses(self) -> tuple[RankedLicense, ...]:
        renewal = (self.renewal,) if self.renewal is not None else ()
        return (self.current, *renewal, *self.history)


@dataclass(frozen=True)
class LicenseOverview:
    """A customer's licenses in the order the card shows them (bot.licensing): its
    subscriptions, those in force first, then its trials."""

    subscriptions: tuple[SubscriptionOverview, ...] = ()
    trials: tuple[RankedLicense, ...] = ()  # newest first

    @property
    def lead(self) -> RankedLicense | None:
        """The first subscription's current license: in force, else in grace, else upcoming,
        else the newest; None: only trials."""
        return self.subscriptions[0].current if self.subscriptions else None

    @property
    def in_force(self) -> tuple[SubscriptionOverview, ...]:
        return tuple(subscription for subscription in self.subscriptions if subscription.in_force)

    @property
    def paid(self) -> tuple[RankedLicense, ...]:
        """Every paid license, in card order (the subscriptions', each current first)."""
        return tuple(ranked for sub in self.subscriptions for ranked in sub.licenses)

    @property
    def others(self) -> tuple[RankedLicense, ...]:
        """The paid licenses after the lead."""
        return self.paid[1:]

    @property
    def running_trial(self) -> RankedLicense | None:
        """A trial running today (the one that ends last): a prospect evaluating now."""
        running = [ranked for ranked in self.trials if ranked.standing is Standing.ACTIVE]
        if not running:
            return None
        return max(running, key=lambda ranked: ranked.license.expires_at or date.max)

    @property
    def paid_count(self) -> int:
        return sum(len(subscription.licenses) for subscription in self.subscriptions)

    @property
    def license_count(self) -> int:
        return self.paid_count + len(self.trials)


@dataclass(frozen=True)
class CustomerRecord:
    key: str
    name: str
    salesforce_account_id: str | None = None
    account_name: str | None = None  # the Zuora account's name, from a subscriptions export


# "Also sent to @domain" on a card: at most this many licenses named.
SAME_DOMAIN_SHOWN = 5


@dataclass(frozen=True)
class SameDomainLicense:
    """A license sent to one of the customer's company domains but filed under another customer
    (the customer rule did not merge it: its name is another company's)."""

    license_id: int
    company: str
    trial: bool
    domain: str


@dataclass(frozen=True)
class CustomerLicenses:
    """Everything the license card shows for one customer."""

    customer: CustomerRecord
    overview: LicenseOverview
    hosts_by_license: dict[int, tuple[HostRecord, ...]] = field(default_factory=dict)
    # The data time of each import kind the card shows (bot/freshness.py; None or missing:
    # never imported).
    data_times: Mapping[str, datetime | None] = field(default_factory=dict)
    today: date | None = None  # the date the standings were computed for (UTC)
    # Sent to its company domains, filed under other customers: "also sent to @domain".
    same_domain: tuple[SameDomainLicense, ...] = ()


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
    data_times: Mapping[str, datetime | None] = field(default_factory=dict)


@dataclass(frozen=True)
class CustomerChoice:
    """One line of a pick list when a query matches several customers."""

    key: str
    name: str
    license_count: int = 0  # paid and trials (`paid_count` + `trial_count`)
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
    account_numbers: tuple[str, ...] = ()  # Zuora account numbers of its subscriptions
    paid_count: int = 0
    trial_count: int = 0
    subscriptions_in_force: int = 0
    # What it matched a name search by, when not by the name it is shown with: (kind, name),
    # `("company", "Umbrella Corporation")`, `("contact", "Bill Lumbergh")`.
    matched_as: tuple[str, str] | None = None
