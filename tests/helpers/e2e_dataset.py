"""A small dataset in the import format (docs/import-formats.md), different from the
demo's, for end-to-end tests.

Dates are relative to today so the active-license rule sees the same situation every day.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from bot.store.importing import import_file
from tests.helpers.log_guard import remember

GLOBEX_EMAIL = "hank.scorpio@globex.example"
INITECH_EMAIL = "bill.lumbergh@initech.example"
UMBRELLA_EMAIL = "a.wesker@umbrella.example"
ALL_CONTACT_EMAILS = (GLOBEX_EMAIL, INITECH_EMAIL, UMBRELLA_EMAIL, "peter@initech.example")

LICENSE_COLUMNS = [
    "Id", "Company", "Contact Name", "Contact Email", "Plan", "User Count", "Trial", "Issued At",
    "Starts At", "Expires At", "License Type", "Zuora Subscription Id", "Zuora Subscription Name",
    "Previous User Count", "Trueup Quantity", "Salesforce Account Id", "Zuora Account Id",
    "Extra Admin Column",
]  # fmt: skip


def write_dataset(directory: Path, today: date) -> dict[str, Path]:
    def day(offset: int) -> str:
        return (today + timedelta(days=offset)).isoformat()

    licenses = [
        # Initech: a renewal chain, the current one active, plus a trial.
        [9001, "Initech, LLC", "Bill Lumbergh", INITECH_EMAIL, "premium", 120, "false",
         f"{day(-30)}T09:15:00Z", day(-30), day(335), "cloud", "8a8aa0b1c2d3e4f5a6b7c8d9e0f1a2b3",
         "A-S00090001", 100, 20, "0016100000INITEC", "ZA-INITECH"],
        [9000, "Initech, LLC", "Peter Gibbons", "peter@initech.example", "premium", 100, "false",
         f"{day(-395)}T09:15:00", day(-395), day(-30), "cloud", "8a8aa0b1c2d3e4f5a6b7c8d9e0f1a2b3",
         "A-S00090001", "", "", "0016100000INITEC", "ZA-INITECH"],
        [8999, "Initech", "Peter Gibbons", "peter@initech.example", "ultimate", 50, "true",
         f"{day(-420)}T10:00:00Z", day(-420), day(-390), "legacy", "", "", "", "",
         "0016100000INITEC", ""],
        # Globex: expired 5 days ago -> in grace.
        [9100, "Globex Corporation", "Hank Scorpio", GLOBEX_EMAIL, "ultimate", 500, "false",
         f"{day(-370)}T00:00:00Z", day(-370), day(-5), "offline_cloud",
         "b1b2b3b4b5b6b7b8b9b0c1c2c3c4c5c6", "A-S00091000", "", "", "0016100000GLOBEX", ""],
        # Two Umbrella customers: an ambiguous name.
        [9200, "Umbrella GmbH", "Albert Wesker", UMBRELLA_EMAIL, "starter", 10, "false",
         f"{day(-10)}T00:00:00Z", day(-10), day(355), "cloud", "", "A-S00092000", "", "",
         "0016100000UMBREL", ""],
        [9300, "Umbrella Pharmaceuticals", "Ada Wong", "ada@umbrella-pharma.example", "premium",
         25, "false", f"{day(-10)}T00:00:00Z", day(-10), day(355), "cloud", "", "", "", "",
         "0016100000UMBPHA", ""],
    ]  # fmt: skip
    reconciliations = [
        ["Id", "Customer", "Subscription Name", "Zuora Subscription Id", "Status", "Reconcile On",
         "Reconcile Done At", "Skip Reason", "User Count", "Invoiced Amount", "Currency",
         "Error Message"],
        [501, "Initech", "A-S00090001", "8a8aa0b1c2d3e4f5a6b7c8d9e0f1a2b3", "processed",
         day(-20), f"{day(-20)}T06:00:00Z", "", 135, "4312.50", "USD", ""],
        [502, "Initech", "A-S00090001", "8a8aa0b1c2d3e4f5a6b7c8d9e0f1a2b3", "failed",
         day(-50), "", "", "", "", "", "Zuora rejected the amendment: invalid charge"],
        [503, "Initech LLC", "A-S00090009", "", "skipped", day(-80), "", "Customer opted out",
         "", "", "", ""],
        [504, "Globex Corp.", "A-S00091000", "b1b2b3b4b5b6b7b8b9b0c1c2c3c4c5c6", "pending",
         day(10), "", "", "", "", "", ""],
    ]  # fmt: skip
    hosts = [
        ["hostname", "license_id", "gitlab_version", "active_user_count", "historical_max_users",
         "last_ping_at"],
        ["gitlab.initech.example", 9001, "17.5.1", 118, 121, f"{day(-1)}T03:00:00Z"],
        ["gitlab-dr.initech.example", 9001, "17.5.1", 0, 3, f"{day(-2)}T03:00:00Z"],
    ]  # fmt: skip

    paths = {
        "licenses": directory / "licenses.csv",
        "reconciliations": directory / "reconciliations.csv",
        "hosts": directory / "hosts.csv",
    }
    _write_csv(paths["licenses"], [LICENSE_COLUMNS, *[[*row, "ignored"] for row in licenses]])
    _write_csv(paths["reconciliations"], reconciliations)
    _write_csv(paths["hosts"], hosts)
    return paths


def load_dataset(session_factory: sessionmaker[Session], directory: Path, today: date) -> None:
    for kind, path in write_dataset(directory, today).items():
        import_file(session_factory, kind, path)


def _write_csv(path: Path, rows: list[list[object]]) -> None:
    remember(*(str(cell) for row in rows for cell in row if "@" in str(cell)))
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
