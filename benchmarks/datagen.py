"""Synthetic exports for benchmarks: company names that share words, as real ones do.

Customer `i` has domain `c{i}.example`, subscription `A-S{i:08d}` and hosts
`gitlab{n}.h{license}.example`, so a benchmark can name a customer every way a user would.
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

from bot.store.importer import ImportKind, import_columns

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
    """Every customer's name, in index order (the draw `write_licenses` makes first)."""
    rng = random.Random(seed)
    return [company_name(i, rng) for i in range(customers)]


def write_licenses(
    path: Path,
    licenses: int,
    customers: int,
    today: date,
    seed: int = 7,
    *,
    user_count_offset: int = 0,
) -> None:
    """`user_count_offset` != 0 writes the same licenses with every row changed (an update run)."""
    rng = random.Random(seed)
    names = [company_name(i, rng) for i in range(customers)]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(LICENSE_HEADER)
        for license_id in range(1, licenses + 1):
            customer = rng.randrange(customers)
            start = today - timedelta(days=rng.randrange(0, 1500))
            trial = rng.random() < 0.15
            domain = f"c{customer}.example"
            writer.writerow(
                [
                    license_id,
                    names[customer],
                    f"Contact {license_id}",
                    f"user{license_id % 97}@{domain}",
                    rng.choice(PLANS),
                    rng.choice([5, 10, 25, 50, 100, 250, 1000]) + user_count_offset,
                    "true" if trial else "false",
                    f"{start.isoformat()}T12:00:00Z",
                    start.isoformat(),
                    (start + timedelta(days=30 if trial else 365)).isoformat(),
                    rng.choice(TYPES),
                    f"{customer:032x}",
                    f"A-S{customer:08d}",
                    "",
                    "",
                    f"SF{customer:013d}",
                    f"ZA{customer:010d}",
                    "",  # license_md5
                    "",  # notes
                    "",  # plan_name
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
                ]
            )


def customer_name(index: int, seed: int = 7, customers: int | None = None) -> str:
    """The name `write_licenses` gave customer `index` (same seed, same draw order)."""
    return company_names((customers or index) + 1, seed)[index]
