"""Synthetic exports for benchmarks, shaped like real customer data (issue 12).

Company names share their words ("Blue", "Systems", "Bank"), as real ones do; a license's
company spells its legal form as its requester typed it (`Corp`, `Corp.`, `Corporation`); one
name in every SHARED_NAME_EVERY is also the next customer's, under another account; a third of
the customers have a Zuora account but no Salesforce id on their licenses (half of those have
one in the Zuora export, which is how Salesforce ids reach licenses in practice); trials are
self-requested, with no ids at all and the name typed with or without its legal form.

The Zuora export (`write_subscriptions`) has every customer's subscription in one to three
versions, each version with its own Zuora id (licenses carry the first version's), and the
account with its name as in Salesforce.

Every name a customer is known by is searched (issue 17), so those take real shapes too: each
customer has one to three contacts (first and last names from common ones, so one contact name
is many customers'), who receive its licenses; one customer in LICENSEE_EVERY has its paid
licenses issued to a licensee name that is not its account's (a former name, a subsidiary);
one in CJK_EVERY has a Japanese name (kana and kanji, 株式会社 before or after it); Salesforce
ids are Account ids (`001…`, 15 characters); half the pings report billable users.

Customer `i` has domain `c{i}.example`, subscription `A-S{i:08d}`, Zuora account number
`A{i:08d}` and hosts `gitlab{n}.h{license}.example`, so a benchmark can name a customer every
way a user would.
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

from bot.cli.demo import ZUORA_SUBSCRIPTION_COLUMNS
from bot.store.importing import ImportKind, import_columns

FIRST = (
    "Acme Global Initech Globex Umbrella Stark Wayne Wonka Hooli Pied Piper Soylent Cyberdyne "
    "Tyrell Aperture Black Mesa Vandelay Dunder Mifflin Sterling Cooper Prestige Monarch Gringotts "
    "Oscorp Massive Dynamic Nakatomi Virtucon Zorg Gekko Bluth Krusty Duff Planet Express"
).split()
SECOND = (
    "Systems Software Labs Networks Holdings Industries Solutions Technologies Digital Cloud "
    "Analytics Data Health Financial Logistics Energy Media Robotics Security Capital Partners"
).split()
SUFFIX = ["Inc.", "LLC", "GmbH", "Ltd", "S.A.", "B.V.", "Corp", "", "", ""]
# How requesters spell each legal form (the customer rule folds them to one).
LEGAL_SPELLINGS = {
    "Inc.": ("Inc", "Incorporated", "INC."),
    "Corp": ("Corp.", "Corporation", "CORP"),
    "Ltd": ("Ltd.", "Limited"),
    "LLC": ("L.L.C.", "llc"),
    "GmbH": ("GMBH", "Gmbh"),
    "S.A.": ("SA",),
    "B.V.": ("BV",),
}
# Every this-many-th customer has the previous customer's name, under its own accounts.
SHARED_NAME_EVERY = 50
# Every this-many-th customer's paid licenses name another licensee than its account.
LICENSEE_EVERY = 20
LICENSEE_OFFSET = 7
# Every this-many-th customer has a Japanese name.
CJK_EVERY = 100
CJK_OFFSET = 31
CJK_WORDS = (
    "ヤマト サクラ 富士 日立 東洋 技研 電機 製作所 システム ソフト 工業 情報 通信 精密 化学 物産"
).split()
CONTACT_FIRST = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Wei Priya Hiroshi Yuki Lars Ingrid Olu Amara "
    "Diego Sofia Mateo Chloe Noah Leila Marek Nadia Kwame Elif Jonas Mei Sipho Ravi"
).split()
CONTACT_LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Wilson Anderson Taylor Thomas Moore Jackson Martin Lee Tanaka Sato Suzuki Zhang Wang Sharma "
    "Patel Nilsson Berg Adeyemi Okafor Rossi Weber Dubois Kowalski Novak Silva Kim Chen Mensah"
).split()
# An update run upper-cases every this-many-th license's company.
RESPELT_EVERY = 100
PLANS = ["starter", "premium", "ultimate", "gitlab_com_premium", "gitlab_com_ultimate"]
TYPES = ["cloud", "offline_cloud", "legacy"]
STATUSES = ["pending", "processed", "skipped", "failed"]
LICENSE_HEADER = list(import_columns(ImportKind.LICENSES))
RECONCILIATION_HEADER = list(import_columns(ImportKind.RECONCILIATIONS))
HOST_HEADER = list(import_columns(ImportKind.HOSTS))


def company_name(index: int, rng: random.Random) -> str:
    words = [rng.choice(FIRST), rng.choice(SECOND)]
    if rng.random() < 0.4:
        words.insert(1, rng.choice(FIRST))
    # The index keeps names distinct while sharing all their words with many others.
    return f"{' '.join(words)} {index} {rng.choice(SUFFIX)}".strip()


def company_names(customers: int, seed: int = 7) -> list[str]:
    """Every customer's name, in index order (`write_licenses` files licenses under them)."""
    rng = random.Random(seed)
    names: list[str] = []
    for index in range(customers):
        name = company_name(index, rng)
        if index % SHARED_NAME_EVERY == SHARED_NAME_EVERY - 1:
            name = names[-1]  # one name, two companies: told apart by their accounts
        elif index % CJK_EVERY == CJK_OFFSET:
            name = cjk_name(index)
        names.append(name)
    return names


def cjk_name(index: int) -> str:
    """A Japanese company name: two or three words, 株式会社 before or after, and the index."""
    rng = random.Random(index)
    words = "".join(rng.sample(CJK_WORDS, 2 + index % 2))
    return f"株式会社{words}{index}" if index % 2 else f"{words}{index}株式会社"


def licensee_name(index: int) -> str | None:
    """The licensee a customer's paid licenses name, when it is not its account's name."""
    if index % LICENSEE_EVERY != LICENSEE_OFFSET:
        return None
    return f"{FIRST[index % len(FIRST)]} {SECOND[index % len(SECOND)]} Group {index}"


def salesforce_id(customer: int) -> str:
    """A Salesforce Account id (key prefix 001), 15 characters."""
    return f"001{customer:012d}"


def contact(customer: int, license_id: int) -> tuple[str, str]:
    """One of the customer's one to three contacts: (name, email)."""
    which = license_id % (1 + customer % 3)
    rng = random.Random(customer * 7 + which)
    first, last = rng.choice(CONTACT_FIRST), rng.choice(CONTACT_LAST)
    return f"{first} {last}", f"{first}.{last}@c{customer}.example".lower()


def typed(name: str, rng: random.Random, *, trial: bool) -> str:
    """The company as a license carries it: its legal form respelt now and then; a trial's
    requester often leaves the legal form out."""
    words = name.split()
    form = words[-1] if words else ""
    if form in LEGAL_SPELLINGS:
        if trial and rng.random() < 0.4:
            return " ".join(words[:-1])
        if rng.random() < 0.3:
            return " ".join([*words[:-1], rng.choice(LEGAL_SPELLINGS[form])])
    return name


def write_licenses(
    path: Path,
    licenses: int,
    customers: int,
    today: date,
    seed: int = 7,
    *,
    user_count_offset: int = 0,
) -> None:
    """`user_count_offset` != 0 writes the same licenses with every row changed (an update run):
    every seat count, and one company in RESPELT_EVERY upper-cased, as CustomersDot's admins
    correct a name now and then; the customer rule reads the company, so the update regroups."""
    names = company_names(customers, seed)
    rng = random.Random(seed * 31 + 1)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(LICENSE_HEADER)
        for license_id in range(1, licenses + 1):
            customer = rng.randrange(customers)
            start = today - timedelta(days=rng.randrange(0, 1500))
            trial = rng.random() < 0.15
            # Self-requested trials carry no ids; a third of the customers no Salesforce id.
            salesforce = "" if trial or customer % 3 == 0 else salesforce_id(customer)
            zuora = "" if trial else f"ZA{customer:010d}"
            licensee = None if trial else licensee_name(customer)
            company = licensee or typed(names[customer], rng, trial=trial)
            if user_count_offset and license_id % RESPELT_EVERY == 0:
                company = company.upper()
            contact_name, contact_email = contact(customer, license_id)
            writer.writerow(
                [
                    license_id,
                    company,
                    contact_name,
                    contact_email,
                    rng.choice(PLANS),
                    rng.choice([5, 10, 25, 50, 100, 250, 1000]) + user_count_offset,
                    "true" if trial else "false",
                    f"{start.isoformat()}T12:00:00Z",
                    start.isoformat(),
                    (start + timedelta(days=30 if trial else 365)).isoformat(),
                    rng.choice(TYPES),
                    "" if trial else f"{customer:032x}",
                    "" if trial else f"A-S{customer:08d}",
                    "",
                    "",
                    salesforce,
                    zuora,
                    "",  # license_md5
                    "",  # notes
                    "",  # plan_name
                ]
            )


def write_subscriptions(path: Path, customers: int, seed: int = 7) -> None:
    """The Zuora data source export of Subscription with its Account, in Zuora's own column
    names: customer `i`'s subscription `A-S{i:08d}` in 1-3 versions (version 1's id is the one
    its licenses carry), under account `ZA{i:010d}`."""
    names = company_names(customers, seed)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(ZUORA_SUBSCRIPTION_COLUMNS)
        for customer in range(customers):
            # The licenses' Salesforce id, else (for half of the others) one only Zuora knows.
            has_salesforce_id = customer % 3 != 0 or customer % 6 == 3
            for version in range(1, 2 + customer % 3):
                writer.writerow(
                    [
                        f"A-S{customer:08d}",
                        f"{customer:032x}" if version == 1 else f"{customer:030x}v{version}",
                        version,
                        f"ZA{customer:010d}",
                        names[customer],
                        f"A{customer:08d}",
                        salesforce_id(customer) if has_salesforce_id else "",
                    ]
                )


def write_reconciliations(
    path: Path, reconciliations: int, customers: int, today: date, seed: int = 11
) -> None:
    """Seat reconciliations of the customers' subscriptions (ids shared with the licenses)."""
    rng = random.Random(seed)
    names = company_names(customers)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(RECONCILIATION_HEADER)
        for reconciliation_id in range(1, reconciliations + 1):
            customer = rng.randrange(customers)
            status = rng.choice(STATUSES)
            on = today - timedelta(days=rng.randrange(-60, 700))
            writer.writerow(
                [
                    reconciliation_id,
                    names[customer],
                    f"A-S{customer:08d}",
                    f"{customer:032x}",
                    status,
                    on.isoformat(),
                    f"{on.isoformat()}T06:00:00Z" if status == "processed" else "",
                    "no change" if status == "skipped" else "",
                    rng.randrange(5, 2000),
                    f"{rng.randrange(100, 90000)}.{rng.randrange(100):02d}",
                    "USD",
                    "card declined" if status == "failed" else "",
                ]
            )


def write_hosts(path: Path, hosts: int, licenses: int, today: date, seed: int = 13) -> None:
    """Self-managed hosts pinging with a license; host n is `gitlab{n}.c{customer}.example`."""
    rng = random.Random(seed)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HOST_HEADER)
        for number in range(hosts):
            license_id = rng.randrange(1, licenses + 1)
            users = rng.randrange(1, 3000)
            writer.writerow(
                [
                    f"gitlab{number}.h{license_id}.example",
                    license_id,
                    f"17.{rng.randrange(12)}.{rng.randrange(8)}",
                    users,
                    users + rng.randrange(0, 200),
                    f"{(today - timedelta(days=rng.randrange(0, 30))).isoformat()}T03:00:00Z",
                    "",  # uuid: keyed by hostname
                    "",  # license_md5: reported by license id
                    max(users - rng.randrange(0, 5), 0) if number % 2 else "",  # billable users
                ]
            )


def customer_name(index: int, seed: int = 7, customers: int | None = None) -> str:
    """The name `write_licenses` gave customer `index` (same seed, same draw order)."""
    return company_names((customers or index) + 1, seed)[index]
