"""Synthetic exports for benchmarks: company names that share words, as real ones do."""

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
LICENSE_HEADER = list(import_columns(ImportKind.LICENSES))


def company_name(index: int, rng: random.Random) -> str:
    words = [rng.choice(FIRST), rng.choice(SECOND)]
    if rng.random() < 0.4:
        words.insert(1, rng.choice(FIRST))
    # The index keeps names distinct while sharing all their words with many others.
    return f"{' '.join(words)} {index} {rng.choice(SUFFIX)}".strip()


def write_licenses(path: Path, licenses: int, customers: int, today: date, seed: int = 7) -> None:
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
                    rng.choice([5, 10, 25, 50, 100, 250, 1000]),
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
                ]
            )


def customer_name(index: int, seed: int = 7, customers: int | None = None) -> str:
    """The name `write_licenses` gave customer `index` (same seed, same draw order)."""
    rng = random.Random(seed)
    names = [company_name(i, rng) for i in range((customers or index) + 1)]
    return names[index]
