"""A realistic synthetic dataset for trying the bot (`python -m bot demo`).

About three hundred customers with the shapes the cards must handle: renewal chains with one
license active today, customers in the 14-day grace after expiry, long-expired ones, prospects
with only trials, near-identical and accented names, Salesforce- and name-keyed customers,
every plan and license type, reconciliations in every status and several currencies,
usage-ping hosts, and a Zuora export of some customers' subscriptions with their accounts (so
their cards carry the account's name as in Salesforce, linked: Initech's among them). And what
a rep asks first (issue 17): Wayne Enterprises with two subscriptions in force and more users
than seats on one, a trial running; Pied Piper's trials typed three ways; 株式会社ヤマト技研.
Everything is seeded and dated relative to `today`, so the same day always gives the same files
and the demo always has active licenses.

The files are written in the import format (docs/import-formats.md), the subscriptions in
the Zuora data source export's own layout, and loaded through `import_file`, so the demo
exercises the real import path.
"""

from __future__ import annotations

import csv
import dataclasses
import random
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot import money
from bot.licensing import GRACE_PERIOD
from bot.search import company_search_key
from bot.store.importing import (
    ImportKind,
    ImportSummary,
    import_columns,
    import_file,
)

DEMO_SEED = 20261127
GENERATED_CUSTOMERS = 294  # plus the hand-written ones below: about 300 in all
FIRST_LICENSE_ID = 10_001
FIRST_RECONCILIATION_ID = 70_001

LICENSE_COLUMNS = tuple(import_columns(ImportKind.LICENSES))
RECONCILIATION_COLUMNS = tuple(import_columns(ImportKind.RECONCILIATIONS))
HOST_COLUMNS = tuple(import_columns(ImportKind.HOSTS))
# A Zuora data source export of Subscription with its Account, under Zuora's own column names
# (the importer takes them as written): the real layout an operator has.
ZUORA_SUBSCRIPTION_COLUMNS = (
    "Subscription.Name",
    "Subscription.Id",
    "Subscription.Version",
    "Account.Id",
    "Account.Name",
    "Account.AccountNumber",
    "Account.CrmId",
)
# Every this-many Salesforce customers of the generated crowd is in the Zuora export.
EXPORTED_ACCOUNT_EVERY = 3
# Imported in this order: the subscriptions after the licenses they name.
FILE_NAMES = {
    ImportKind.LICENSES: "demo-licenses.csv",
    ImportKind.SUBSCRIPTIONS: "demo-subscriptions.csv",
    ImportKind.RECONCILIATIONS: "demo-reconciliations.csv",
    ImportKind.HOSTS: "demo-hosts.csv",
}

BASE_NAMES = (
    "Globex, Umbrella, Cyberdyne, Soylent, Tyrell, Vandelay, Dunder Mifflin, Pied Piper, "
    "Massive Dynamic, Aperture, Black Mesa, Oscorp, Wonka, Stark, Wayne, Gringotts, Monarch, "
    "Nakatomi, Weyland, Yoyodyne, Virtucon, Gekko, Sirius, Bluth, Prestige, Oceanic, Dharma, "
    "Spacely, Cogswell, Rekall, Encom, Blue Sun, Veidt, Ajax, Sterling Cooper, Paper Street, "
    "InGen, Abstergo, Hanso, Praxis, Axiom, Frobozz, Nimbus, Northwind, Contoso, Fabrikam, "
    "Tailspin, Litware, Adventure Works, Wide World, Proseware, Lucerne, Woodgrove, Coho, "
    "Fourth Coffee, Trey, Blue Yonder, Humongous, Wingtip, VanArsdel, Relecloud, Southridge, "
    "Lamna, Olympia, Bellows, Datum, Halcyon, Kestrel, Meridian, Obsidian, Pinnacle, Quasar, "
    "Redwood, Saffron, Tangent, Ultraviolet, Vertex, Willow, Xylo, Zephyr, Arcadia, Borealis, "
    "Cobalt, Driftwood, Ember, Fjord, Granite, Harbor, Indigo, Juniper, Kinetic, Lumen"
).split(", ")
ACCENTED_NAMES = (
    "Société Générale de Logiciels, Müller & Söhne, Ærø Software, Zürcher Datentechnik, "
    "Crème Brûlée Labs, São Paulo Sistemas, Łódź Code, Ñandú Tecnología, Øresund Data, "
    "Café Olé Digital, Björk Digital, Dvořák Systems, Škoda Informatika, Gödel Analytics, "
    "Ångström Robotics, Citroën Numérique, Piñata Payments, Malmö Molnet, Kraków Cloud, "
    "Ísafjörður Hugbúnaður"
).split(", ")
SECTORS = (
    "Systems Labs Software Analytics Cloud Health Financial Logistics Robotics Media Energy "
    "Insurance Bank Networks Security Games Foods Motors Pharma Aerospace Telecom Retail"
).split()
LEGAL_FORMS = (
    "Inc.",
    "LLC",
    "Corp.",
    "Ltd",
    "GmbH",
    "AG",
    "S.A.",
    "SAS",
    "B.V.",
    "AB",
    "Pty Ltd",
    "K.K.",
    "Oy",
    "plc",
    "",
    "",
    "",
    "",
)
TOP_LEVEL_DOMAINS = ("com", "com", "com", "io", "de", "co.uk", "fr", "se", "jp", "com.au")
FIRST_NAMES = (
    "Jane Bill Priya Wei Olu Sofia Mateo Aiko Lars Fatima Diego Chloé Noah Amara Ingrid Ravi "
    "Hana Tomás Zoe Kwame Elif Jonas Mei Sipho Anaïs Hiroshi Leila Marek Nadia Oscar"
).split()
LAST_NAMES = (
    "Doe Lumbergh Sharma Zhang Adeyemi Rossi García Tanaka Nilsson Haddad López Martin Smith "
    "Okafor Berg Iyer Kim Silva Novak Mensah Yılmaz Weber Chen Dlamini Dubois Sato Karimi "
    "Kowalski Petrova Andersson"
).split()
SELF_MANAGED_PLANS = ("premium", "premium", "premium", "ultimate", "ultimate", "starter")
GITLAB_COM_PLANS = ("gitlab_com_premium", "gitlab_com_premium", "gitlab_com_ultimate")
CURRENCIES = ("USD",) * 10 + ("EUR",) * 4 + ("GBP",) * 2 + ("JPY", "AUD", "CAD", "KWD")
# List price per seat per year, in the currency's major unit, by plan tier.
SEAT_PRICES = {"starter": 48, "premium": 348, "ultimate": 1188}
CURRENCY_RATES = {
    "USD": 1.0,
    "EUR": 0.92,
    "GBP": 0.79,
    "JPY": 151.0,
    "AUD": 1.52,
    "CAD": 1.36,
    "KWD": 0.308,
}
SKIP_REASONS = (
    "No overage: billable users ({billable}) within subscription quantity ({quantity})",
    "Customer opted out of quarterly subscription reconciliation",
    "Subscription is on a multi-year ramp deal",
    "Reseller-managed subscription: reconciled by the channel partner",
    "No usage data: no usage ping received in the last 30 days",
    "Subscription amended since the last usage report",
)
ERROR_MESSAGES = (
    "Zuora API error: INVALID_VALUE - The subscription version is out of date (amendment pending)",
    "Zuora API timeout after 30s while creating the add-on amendment",
    "Payment failed: card on file declined (expired card)",
    "Usage ping reports 0 billable users; refusing to reconcile downwards",
    "Subscription not found in Zuora: it was cancelled before reconciliation ran",
)
GITLAB_VERSIONS = (
    "17.6.1-ee",
    "17.5.3-ee",
    "17.5.1-ee",
    "17.4.2-ee",
    "17.2.0-ee",
    "16.11.4-ee",
    "16.8.1-ee",
    "15.11.13-ee",
)
HOST_PREFIXES = ("gitlab", "git", "gitlab-dr", "gitlab.eu", "code", "scm")


@dataclass
class _License:
    company: str
    plan: str
    user_count: int
    trial: bool
    issued_at: datetime
    starts_at: date
    expires_at: date | None
    license_type: str | None
    contact_name: str | None = None
    contact_email: str | None = None
    previous_user_count: int | None = None
    trueup_quantity: int | None = None
    zuora_subscription_id: str | None = None
    zuora_subscription_name: str | None = None
    salesforce_account_id: str | None = None
    zuora_account_id: str | None = None
    hosts: list[dict[str, Any]] = field(default_factory=list)
    id: int = 0

    @property
    def subscription(self) -> tuple[str, str] | None:
        if self.zuora_subscription_id and self.zuora_subscription_name:
            return self.zuora_subscription_id, self.zuora_subscription_name
        return None

    def as_row(self) -> dict[str, Any]:
        """The license as a row of the import format: each of its fields that is an import
        column, by name (a column the demo leaves out is written empty)."""
        return {
            name: _cell(getattr(self, name)) for name in _LICENSE_FIELDS if name in LICENSE_COLUMNS
        }


def _cell(value: Any) -> Any:
    """A value as the import format writes it (docs/import-formats.md)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _timestamp_text(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


_LICENSE_FIELDS = tuple(f.name for f in dataclasses.fields(_License))


@dataclass
class _Customer:
    name: str
    domain: str
    salesforce_account_id: str | None
    zuora_account_id: str
    currency: str
    licenses: list[_License] = field(default_factory=list)
    # The account's name as in Salesforce, for a customer whose subscriptions are in the Zuora
    # export (None: not in it).
    account_name: str | None = None


@dataclass
class DemoData:
    """The generated rows, before they are written out."""

    licenses: list[dict[str, Any]]
    reconciliations: list[dict[str, Any]]
    hosts: list[dict[str, Any]]
    subscriptions: list[dict[str, Any]]  # keyed by ZUORA_SUBSCRIPTION_COLUMNS

    def rows(self, kind: ImportKind) -> list[dict[str, Any]]:
        return {
            ImportKind.LICENSES: self.licenses,
            ImportKind.SUBSCRIPTIONS: self.subscriptions,
            ImportKind.RECONCILIATIONS: self.reconciliations,
            ImportKind.HOSTS: self.hosts,
        }[kind]


def write_demo_files(directory: Path, today: date) -> dict[ImportKind, Path]:
    """Write the demo's CSV files into `directory`, in FILE_NAMES's order (the import order)."""
    data = build_demo_data(today)
    columns = {
        ImportKind.LICENSES: LICENSE_COLUMNS,
        ImportKind.SUBSCRIPTIONS: ZUORA_SUBSCRIPTION_COLUMNS,
        ImportKind.RECONCILIATIONS: RECONCILIATION_COLUMNS,
        ImportKind.HOSTS: HOST_COLUMNS,
    }
    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[ImportKind, Path] = {}
    for kind, file_name in FILE_NAMES.items():
        path = directory / file_name
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns[kind], lineterminator="\n")
            writer.writeheader()
            writer.writerows(data.rows(kind))
        paths[kind] = path
    return paths


def load_demo(
    session_factory: sessionmaker[Session],
    today: date,
    *,
    now: datetime | None = None,
    public_email_domains: Iterable[str] = (),
) -> list[ImportSummary]:
    """Generate the demo files and import them (licenses, subscriptions, reconciliations, hosts),
    in that order.

    Upserts by id like any import, so running it again on a later day moves the same rows.
    """
    with tempfile.TemporaryDirectory(prefix="customersdot-demo-") as directory:
        paths = write_demo_files(Path(directory), today)
        return [
            import_file(
                session_factory, kind, path, now=now, public_email_domains=public_email_domains
            )
            for kind, path in paths.items()
        ]


def build_demo_data(today: date) -> DemoData:
    generator = _DemoGenerator(random.Random(DEMO_SEED), today)
    return generator.build()


# --- Generation ----------------------------------------------------------------------------


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _timestamp_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _DemoGenerator:
    def __init__(self, rng: random.Random, today: date) -> None:
        self.rng = rng
        self.today = today
        self.customers: list[_Customer] = []
        self.reconciliations: list[dict[str, Any]] = []
        self.used_keys: set[str] = set()
        self.subscription_numbers: Iterator[int] = iter(range(12_345, 99_999, 7))

    # -- building blocks

    def hex_id(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def salesforce_id(self) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "0016g00000" + "".join(self.rng.choice(alphabet) for _ in range(8))

    def subscription_name(self) -> str:
        return f"A-S{next(self.subscription_numbers):08d}"

    def issued(self, starts_at: date, days_before: int = 10) -> datetime:
        day = starts_at - timedelta(days=self.rng.randint(0, days_before))
        moment = time(self.rng.randint(6, 20), self.rng.randint(0, 59), self.rng.randint(0, 59))
        return datetime.combine(day, moment, tzinfo=UTC)

    def contact(self, customer: _Customer) -> tuple[str, str]:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        local = f"{first}.{last}".lower()
        local = local.encode("ascii", "ignore").decode() or "licensing"
        if self.rng.random() < 0.15:  # admin exports keep whatever case people typed
            local = local.title()
        if self.rng.random() < 0.1:
            return "Licensing Team", f"licensing@{customer.domain}"
        return f"{first} {last}", f"{local}@{customer.domain}"

    def new_customer(
        self, name: str, *, salesforce: bool | None = None, domain: str | None = None
    ) -> _Customer:
        keyed_by_salesforce = self.rng.random() < 0.65 if salesforce is None else salesforce
        if domain is None:
            stem = "".join(c for c in company_search_key(name) if c.isascii() and c.isalnum())
            domain = f"{stem or 'example'}.{self.rng.choice(TOP_LEVEL_DOMAINS)}"
        customer = _Customer(
            name=name,
            domain=domain,
            salesforce_account_id=self.salesforce_id() if keyed_by_salesforce else None,
            zuora_account_id=self.hex_id(),
            currency=self.rng.choice(CURRENCIES),
        )
        self.customers.append(customer)
        self.used_keys.add(company_search_key(name))
        return customer

    def license(
        self,
        customer: _Customer,
        *,
        plan: str,
        user_count: int,
        starts_at: date,
        expires_at: date | None,
        trial: bool = False,
        license_type: str | None = "cloud",
        company: str | None = None,
        subscription: tuple[str, str] | None = None,
        previous_user_count: int | None = None,
        trueup_quantity: int | None = None,
    ) -> _License:
        contact_name, contact_email = self.contact(customer)
        record = _License(
            company=company or customer.name,
            plan=plan,
            user_count=user_count,
            trial=trial,
            issued_at=self.issued(starts_at, days_before=0 if trial else 14),
            starts_at=starts_at,
            expires_at=expires_at,
            license_type=license_type,
            contact_name=contact_name,
            contact_email=contact_email,
            previous_user_count=previous_user_count,
            trueup_quantity=trueup_quantity,
            zuora_subscription_id=subscription[0] if subscription else None,
            zuora_subscription_name=subscription[1] if subscription else None,
            salesforce_account_id=customer.salesforce_account_id,
            zuora_account_id=None if trial else customer.zuora_account_id,
        )
        customer.licenses.append(record)
        return record

    def trial(self, customer: _Customer, starts_at: date, plan: str = "ultimate") -> _License:
        return self.license(
            customer,
            plan=plan,
            user_count=self.rng.choice((10, 25, 50, 100)),
            starts_at=starts_at,
            expires_at=starts_at + timedelta(days=30),
            trial=True,
            license_type=self.license_type_for(starts_at, offline=False),
        )

    def license_type_for(self, starts_at: date, offline: bool) -> str:
        if starts_at < self.today - timedelta(days=3 * 365):
            return "legacy"
        return "offline_cloud" if offline else "cloud"

    def renewal_chain(
        self,
        customer: _Customer,
        *,
        last_expires_at: date,
        terms: int,
        plan: str,
        first_user_count: int,
        offline: bool = False,
        renamed_from: str | None = None,
    ) -> list[_License]:
        """Yearly licenses on one subscription, the last expiring on `last_expires_at`."""
        subscription = (self.hex_id(), self.subscription_name())
        starts = [_add_years(last_expires_at, -(terms - n)) for n in range(terms)]
        chain: list[_License] = []
        users = first_user_count
        previous: int | None = None
        for index, starts_at in enumerate(starts):
            trueup = None
            if previous is not None and self.rng.random() < 0.4:
                trueup = self.rng.randint(1, max(1, previous // 5))
            company = renamed_from if renamed_from and index < terms - 1 else None
            record = self.license(
                customer,
                plan=plan,
                user_count=users,
                starts_at=starts_at,
                expires_at=_add_years(starts_at, 1),
                license_type=self.license_type_for(starts_at, offline),
                company=company,
                subscription=subscription,
                previous_user_count=previous,
                trueup_quantity=trueup,
            )
            chain.append(record)
            previous = users
            users = int(users * self.rng.uniform(1.0, 1.6)) + self.rng.randint(0, 10)
            if plan == "premium" and self.rng.random() < 0.1:
                plan = "ultimate"  # an upgrade at renewal
        return chain

    def hosts_for(
        self, customer: _Customer, record: _License, count: int, *, stale: bool = False
    ) -> None:
        taken = {host["hostname"] for lic in customer.licenses for host in lic.hosts}
        hostnames = [f"{prefix}.{customer.domain}" for prefix in HOST_PREFIXES]
        for hostname in [name for name in hostnames if name not in taken][:count]:
            active = max(1, int(record.user_count * self.rng.uniform(0.6, 1.15)))
            days_ago = self.rng.randint(40, 400) if stale else self.rng.randint(0, 6)
            pinged = datetime.combine(
                self.today - timedelta(days=days_ago),
                time(self.rng.randint(0, 23), self.rng.randint(0, 59)),
                tzinfo=UTC,
            )
            versions = GITLAB_VERSIONS[-3:] if stale else GITLAB_VERSIONS[:6]
            record.hosts.append(
                {
                    "hostname": hostname,
                    "gitlab_version": self.rng.choice(versions),
                    "active_user_count": active,
                    "historical_max_users": active + self.rng.randint(0, max(1, active // 8)),
                    "last_ping_at": _timestamp_text(pinged),
                }
            )

    def reconciliation(
        self,
        customer: _Customer,
        record: _License,
        *,
        reconcile_on: date,
        status: str,
        salesforce_name: str | None = None,
    ) -> None:
        quantity = record.user_count
        row: dict[str, Any] = {
            "customer": salesforce_name or customer.name,
            "subscription_name": record.zuora_subscription_name,
            "zuora_subscription_id": record.zuora_subscription_id,
            "status": status,
            "reconcile_on": reconcile_on.isoformat(),
            "reconcile_done_at": None,
            "skip_reason": None,
            "user_count": None,
            "invoiced_amount": None,
            "currency": None,
            "error_message": None,
        }
        ran_at = datetime.combine(reconcile_on, time(6, self.rng.randint(0, 59)), tzinfo=UTC)
        if status == "processed":
            added = self.rng.randint(1, max(2, quantity // 6))
            remaining_share = (
                max(0.05, (record.expires_at - reconcile_on).days / 365)
                if record.expires_at
                else 1.0
            )
            tier = (
                "ultimate"
                if "ultimate" in record.plan
                else "starter"
                if record.plan == "starter"
                else "premium"
            )
            price = SEAT_PRICES[tier] * CURRENCY_RATES[customer.currency]
            row.update(
                reconcile_done_at=_timestamp_text(ran_at),
                user_count=quantity + added,
                invoiced_amount=money.decimal_text(
                    added * price * remaining_share, customer.currency
                ),
                currency=customer.currency,
            )
        elif status == "skipped":
            reason = self.rng.choice(SKIP_REASONS).format(
                billable=max(1, quantity - self.rng.randint(1, max(1, quantity // 4))),
                quantity=quantity,
            )
            row.update(reconcile_done_at=_timestamp_text(ran_at), skip_reason=reason)
        elif status == "failed":
            row.update(
                reconcile_done_at=_timestamp_text(ran_at),
                error_message=self.rng.choice(ERROR_MESSAGES),
            )
        self.reconciliations.append(row)

    def quarterly_reconciliations(self, customer: _Customer, record: _License) -> None:
        """Quarterly reconciliations of the current term: past ones ran, the next is pending."""
        if record.expires_at is None or record.zuora_subscription_id is None:
            return
        for quarter in (1, 2, 3):
            reconcile_on = record.starts_at + timedelta(days=91 * quarter)
            if reconcile_on >= record.expires_at:
                break
            if reconcile_on > self.today:
                self.reconciliation(customer, record, reconcile_on=reconcile_on, status="pending")
                break
            status = self.rng.choices(("processed", "skipped", "failed"), weights=(70, 22, 8))[0]
            self.reconciliation(customer, record, reconcile_on=reconcile_on, status=status)

    # -- the hand-written customers the README and tests talk about

    def add_named_customers(self) -> None:
        today = self.today
        initech = self.new_customer("Initech", salesforce=True, domain="initech.com")
        initech.currency = "USD"
        initech.account_name = "Initech, Inc."  # as in Salesforce; CustomersDot says "Initech"
        self.trial(initech, today - timedelta(days=4 * 365 + 40), plan="ultimate")
        chain = self.renewal_chain(
            initech,
            last_expires_at=today + timedelta(days=245),
            terms=4,
            plan="premium",
            first_user_count=50,
        )
        chain[-1].contact_name, chain[-1].contact_email = (
            "Bill Lumbergh",
            "Bill.Lumbergh@initech.com",
        )
        active, previous = chain[-1], chain[-2]
        self.hosts_for(initech, active, 3)
        self.hosts_for(initech, previous, 1, stale=True)
        # One reconciliation in every status: two from the previous term, two from this one.
        for record, days_into_term, status in (
            (previous, 182, "failed"),
            (previous, 273, "skipped"),
            (active, 91, "processed"),
            (active, 182, "pending"),
        ):
            self.reconciliation(
                initech,
                record,
                reconcile_on=record.starts_at + timedelta(days=days_into_term),
                status=status,
                salesforce_name="Initech, Inc." if status == "processed" else None,
            )

        labs = self.new_customer("Initech Labs", salesforce=False, domain="initechlabs.io")
        self.trial(labs, today - timedelta(days=200))
        self.trial(labs, today - timedelta(days=10))

        initek = self.new_customer("Initek GmbH", salesforce=False, domain="initek.de")
        initek.currency = "EUR"
        chain = self.renewal_chain(
            initek,
            last_expires_at=today + timedelta(days=90),
            terms=2,
            plan="ultimate",
            first_user_count=20,
            offline=True,
        )
        self.quarterly_reconciliations(initek, chain[-1])

        acme = self.new_customer("Acme Corp", salesforce=True, domain="acme.com")
        chain = self.renewal_chain(
            acme,
            last_expires_at=today + timedelta(days=300),
            terms=3,
            plan="ultimate",
            first_user_count=500,
        )
        self.hosts_for(acme, chain[-1], 2)
        self.quarterly_reconciliations(acme, chain[-1])
        self.reconciliation(
            acme, chain[-1], reconcile_on=today + timedelta(days=20), status="pending"
        )

        acme_inc = self.new_customer("ACME Inc.", salesforce=False, domain="acme-inc.com")
        self.renewal_chain(
            acme_inc,
            last_expires_at=today - timedelta(days=6),
            terms=2,
            plan="premium",
            first_user_count=30,
        )  # in grace

        acme_systems = self.new_customer("Acmé Systems", salesforce=False, domain="acme-systems.fr")
        acme_systems.currency = "EUR"
        self.renewal_chain(
            acme_systems,
            last_expires_at=today - timedelta(days=400),
            terms=1,
            plan="starter",
            first_user_count=10,
        )  # long expired

        hooli = self.new_customer("Hooli XYZ", salesforce=True, domain="hooli.xyz")
        chain = self.renewal_chain(
            hooli,
            last_expires_at=today + timedelta(days=150),
            terms=3,
            plan="gitlab_com_ultimate",
            first_user_count=1000,
            renamed_from="Hooli",
        )
        self.quarterly_reconciliations(hooli, chain[-1])

        bank = self.new_customer(
            "Gringotts Wizarding Bank", salesforce=True, domain="gringotts.co.uk"
        )
        bank.currency = "GBP"
        self.license(  # an open-ended legacy license: no expiry date
            bank,
            plan="ultimate",
            user_count=300,
            starts_at=today - timedelta(days=2000),
            expires_at=None,
            license_type="legacy",
        )

    def add_what_customers_have_now(self) -> None:
        """The shapes of issue 17 ("what does this customer have right now?"): a customer with
        two subscriptions in force, more users than seats on one, servers on both and on a
        trial running now; a prospect whose trials were typed three ways at one domain; a
        Japanese company with a trial requested under its romaji name."""
        today = self.today
        wayne = self.new_customer("Wayne Enterprises", salesforce=True, domain="wayne-ent.com")
        wayne.account_name = "Wayne Enterprises"
        ultimate = (self.hex_id(), self.subscription_name())
        self.license(
            wayne,
            plan="ultimate",
            user_count=350,
            starts_at=today - timedelta(days=695),
            expires_at=today - timedelta(days=330),
            subscription=ultimate,
        )
        current = self.license(
            wayne,
            plan="ultimate",
            user_count=400,
            starts_at=today - timedelta(days=330),
            expires_at=today + timedelta(days=35),
            subscription=ultimate,
            previous_user_count=350,
        )
        department = self.license(
            wayne,
            plan="premium",
            user_count=25,
            starts_at=today - timedelta(days=20),
            expires_at=today + timedelta(days=345),
            subscription=(self.hex_id(), self.subscription_name()),
            company="Wayne Foundation",
        )
        trial = self.trial(wayne, today - timedelta(days=17), plan="ultimate")
        for record, hostname, users, days_ago in (
            (current, "gitlab.wayne-ent.com", 412, 1),
            (current, "gitlab-old.wayne-ent.com", 390, 45),
            (department, "gitlab.wayne-foundation.org", 20, 2),
            (trial, "trial.wayne-ent.com", 60, 1),
        ):
            pinged = datetime.combine(today - timedelta(days=days_ago), time(3), tzinfo=UTC)
            record.hosts.append(
                {
                    "hostname": hostname,
                    "gitlab_version": GITLAB_VERSIONS[0],
                    "active_user_count": users + 18,
                    "billable_user_count": users,
                    "historical_max_users": users + 28,
                    "last_ping_at": _timestamp_text(pinged),
                }
            )

        pied_piper = self.new_customer("Pied Piper", salesforce=False, domain="piedpiper.com")
        for days_ago, spelling in ((90, "Pied Piper"), (40, "Pied Piper, Inc."), (6, "piedpiper")):
            self.trial(pied_piper, today - timedelta(days=days_ago)).company = spelling

        yamato = self.new_customer(
            "株式会社ヤマト技研", salesforce=False, domain="yamato-giken.co.jp"
        )
        yamato.currency = "JPY"
        self.renewal_chain(
            yamato,
            last_expires_at=today + timedelta(days=200),
            terms=2,
            plan="premium",
            first_user_count=150,
        )
        self.trial(yamato, today - timedelta(days=120)).company = "Yamato Giken"

    # -- the generated crowd

    def unique_name(self) -> str:
        for _ in range(1000):
            base = self.rng.choice(BASE_NAMES)
            shape = self.rng.random()
            if shape < 0.08:
                name = self.rng.choice(ACCENTED_NAMES)
            elif shape < 0.45:
                name = f"{base} {self.rng.choice(LEGAL_FORMS)}"
            else:
                name = f"{base} {self.rng.choice(SECTORS)} {self.rng.choice(LEGAL_FORMS)}"
            name = name.strip()
            if company_search_key(name) not in self.used_keys:
                return name
        raise RuntimeError("ran out of demo company names")  # pragma: no cover

    def add_generated_customer(self) -> None:
        customer = self.new_customer(self.unique_name())
        if customer.salesforce_account_id and len(self.customers) % EXPORTED_ACCOUNT_EVERY == 0:
            customer.account_name = customer.name
        today = self.today
        shape = self.rng.choices(
            (
                "renewing",
                "gitlab_com",
                "grace",
                "expired",
                "trials_only",
                "trial_heavy",
                "upcoming",
            ),
            weights=(44, 10, 7, 12, 13, 5, 4),
        )[0]
        if shape in {"trials_only", "trial_heavy"}:
            trials = self.rng.randint(1, 3) if shape == "trials_only" else self.rng.randint(5, 8)
            for index in range(trials):
                # The newest trial is recent, so prospects show a live evaluation.
                days_ago = self.rng.randint(0, 60) if index == 0 else self.rng.randint(0, 700)
                self.trial(customer, today - timedelta(days=days_ago))
            if shape == "trials_only":
                return
        if shape == "gitlab_com":
            plan = self.rng.choice(GITLAB_COM_PLANS)
        else:
            plan = self.rng.choice(SELF_MANAGED_PLANS)
        if shape == "grace":
            last_expires_at = today - timedelta(days=self.rng.randint(1, GRACE_PERIOD.days - 1))
        elif shape == "expired":
            last_expires_at = today - timedelta(days=self.rng.randint(60, 900))
        else:
            last_expires_at = today + timedelta(days=self.rng.randint(20, 360))
        chain = self.renewal_chain(
            customer,
            last_expires_at=last_expires_at,
            terms=self.rng.randint(1, 5),
            plan=plan,
            first_user_count=self.rng.choice((5, 10, 25, 40, 50, 100, 150, 250, 500, 1200)),
            offline=self.rng.random() < 0.12,
        )
        current = chain[-1]
        if shape == "upcoming" or (
            shape == "renewing"
            and current.expires_at
            and (current.expires_at - today).days < 30
            and self.rng.random() < 0.5
        ):
            # The renewal is already issued and starts when the current term ends.
            renewal = self.license(
                customer,
                plan=current.plan,
                user_count=int(current.user_count * 1.2),
                starts_at=current.expires_at or today,
                expires_at=_add_years(current.expires_at or today, 1),
                license_type=current.license_type,
                subscription=current.subscription,
                previous_user_count=current.user_count,
            )
            renewal.issued_at = datetime.combine(
                today - timedelta(days=self.rng.randint(1, 9)), time(15, 30), tzinfo=UTC
            )
        if shape in {"renewing", "gitlab_com", "upcoming"}:
            self.quarterly_reconciliations(customer, current)
        elif shape == "grace" and self.rng.random() < 0.5:
            self.reconciliation(
                customer,
                current,
                reconcile_on=current.starts_at + timedelta(days=91),
                status="skipped",
            )
        if not plan.startswith("gitlab_com") and self.rng.random() < 0.45:
            self.hosts_for(
                customer, current, self.rng.choice((1, 1, 1, 2, 3)), stale=shape == "expired"
            )

    def zuora_subscriptions(self) -> list[dict[str, Any]]:
        """The Zuora export's rows: each exported customer's subscriptions, one row per
        subscription (its latest version: one per license issued on it), with the account.
        Drawn without the random generator, so the other files stay as they were."""
        rows: list[dict[str, Any]] = []
        exported = [c for c in self.customers if c.account_name]
        for number, customer in enumerate(exported, start=1):
            versions: dict[tuple[str, str], int] = {}
            for record in customer.licenses:
                if record.subscription is not None:
                    versions[record.subscription] = versions.get(record.subscription, 0) + 1
            for (subscription_id, subscription_name), version in sorted(versions.items()):
                rows.append(
                    {
                        "Subscription.Name": subscription_name,
                        "Subscription.Id": subscription_id,
                        "Subscription.Version": version,
                        "Account.Id": customer.zuora_account_id,
                        "Account.Name": customer.account_name,
                        "Account.AccountNumber": f"A{number:08d}",
                        "Account.CrmId": customer.salesforce_account_id,
                    }
                )
        return sorted(rows, key=lambda row: row["Subscription.Name"])

    # -- output

    def build(self) -> DemoData:
        self.add_named_customers()
        self.add_what_customers_have_now()
        for _ in range(GENERATED_CUSTOMERS):
            self.add_generated_customer()
        licenses = sorted(
            (record for customer in self.customers for record in customer.licenses),
            key=lambda record: (record.issued_at, record.company),
        )
        # CustomersDot ids grow with time: number licenses in issue order.
        for offset, record in enumerate(licenses):
            record.id = FIRST_LICENSE_ID + offset
        hosts = [{"license_id": record.id, **host} for record in licenses for host in record.hosts]
        reconciliations = sorted(self.reconciliations, key=lambda row: row["reconcile_on"])
        for offset, row in enumerate(reconciliations):
            row["id"] = FIRST_RECONCILIATION_ID + offset
        return DemoData(
            licenses=[record.as_row() for record in licenses],
            reconciliations=reconciliations,
            hosts=hosts,
            subscriptions=self.zuora_subscriptions(),
        )
