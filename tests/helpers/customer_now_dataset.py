"""What a sales rep asks of a card, as the real exports say it (issue 17): the source systems'
own layouts, dated from `today`.

- Wayne Enterprises, a Salesforce account with two subscriptions in force: a 400-seat Ultimate
  one (its current license expiring in 35 days, an older one before it) and a later 25-seat
  Premium one for a second department, issued to another licensee name ("Wayne Foundation").
  Its servers: one reporting 412 billable users yesterday on the 400-seat license (two pings:
  the newest kept), one last seen 45 days ago on the older license, one on the Premium
  license, one on a trial running now (ends in 13 days). CustomersDot's `licenses` export
  carries no Salesforce id: the Zuora export links the subscriptions to the account.
- Pied Piper, a prospect whose trials were typed three ways, sent to one company domain.
- 株式会社ヤマト技研, a Zuora account, with a trial requested as "Yamato Giken" from its domain
  (the same company) and one as "Yamato Consulting" (another name: not merged).
- Raccoon City Pharmaceuticals, whose licenses say "Umbrella Corporation", and Umbrella
  Academy, a prospect.
- Globex Corporation and Globex Labs, two customers sharing a word.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from bot.store.importing import ImportKind, import_file
from tests.helpers import log_guard

WAYNE_SALESFORCE_ID = "0015000000WaYnE"  # 15 characters, as a rep copies it from a URL
WAYNE_KEY = "sf:0015000000WaYnEAAV"
WAYNE_ACCOUNT_ID = "2c92a0fd5e0d1a2b015e1f4a5b6c0200"
WAYNE_ACCOUNT_NUMBER = "A00002000"
# The 400-seat subscription's two versions (the current license carries the second's id).
ULTIMATE_V1, ULTIMATE_V2 = "8a8aa0b1c2d3e4f5a6b7c8d9e0f10401", "8a8aa0b1c2d3e4f5a6b7c8d9e0f10402"
PREMIUM_ID = "8a8aa0b1c2d3e4f5a6b7c8d9e0f10403"
BRUCE = "bruce.wayne@wayne-enterprises.example"
LUCIUS = "lucius.fox@wayne-enterprises.example"
ALFRED = "alfred@wayne-foundation.example"
HARVEY = "harvey.dent@wayne-enterprises.example"
YAMATO_ACCOUNT_ID = "2c92a0fd5e0d1a2b015e1f4a5b6c0500"
RACCOON_ACCOUNT_ID = "2c92a0fd5e0d1a2b015e1f4a5b6c0600"
EMAILS = (
    BRUCE,
    LUCIUS,
    ALFRED,
    HARVEY,
    "richard@piedpiper.example",
    "jared@piedpiper.example",
    "dinesh@piedpiper.example",
    "taro.yamada@yamato-giken.co.jp",
    "kenji@yamato-giken.co.jp",
    "sato@yamato-giken.co.jp",
    "albert.wesker@umbrella.example",
    "luther@umbrella-academy.example",
    "hank@globex.example",
    "frink@globexlabs.example",
)

# CustomersDot's `licenses` table as `COPY … CSV` writes it (tests/data has the real header).
LICENSES_HEADER = (
    "id,name,company,email,users_count,license_file,expires_at,created_at,updated_at,plan_name,"
    "starts_at,zuora_subscription_id,notes,previous_users_count,trueup_quantity,trueup_from,"
    "trueup_to,plan_code,trial,zuora_subscription_name,license_file_md5,creator_id"
).split(",")
SUBSCRIPTIONS_HEADER = (
    "Subscription.Name,Subscription.Id,Subscription.Version,Account.Id,Account.Name,"
    "Account.AccountNumber,Account.CrmId"
).split(",")
# version.gitlab.com's `usage_data`, one row per ping.
USAGE_HEADER = (
    "id,hostname,version,active_user_count,historical_max_users,recorded_at,license_md5,uuid,"
    "edition,license_billable_users"
).split(",")


def md5_of(license_id: int) -> str:
    return f"{license_id:032x}"


def write_exports(directory: Path, today: date) -> dict[ImportKind, Path]:
    def day(offset: int) -> str:
        return (today + timedelta(days=offset)).isoformat()

    def license_row(
        license_id: int,
        contact: str,
        company: str,
        email: str,
        users: int,
        starts: int,
        expires: int,
        plan: str,
        *,
        trial: bool = False,
        subscription: tuple[str, str] = ("", ""),
        issued: int | None = None,
    ) -> list[object]:
        created = f"{day(starts if issued is None else issued)} 09:15:00.000000"
        subscription_id, subscription_name = subscription
        return [
            license_id, contact, company, email, users, "-----BEGIN LICENSE-----", day(expires),
            created, created, plan.capitalize(), day(starts), subscription_id, "", "", "", "",
            "", plan, "t" if trial else "f", subscription_name, md5_of(license_id), 12,
        ]  # fmt: skip

    ultimate_v1 = (ULTIMATE_V1, "A-S00000401")
    ultimate_v2 = (ULTIMATE_V2, "A-S00000401")
    licenses = [
        # Wayne Enterprises: the 400-seat subscription (an older license, then the current one).
        license_row(600010, "Lucius Fox", "Wayne Enterprises, Inc.", LUCIUS, 350, -695, -330,
                    "ultimate", subscription=ultimate_v1, issued=-700),
        license_row(600011, "Bruce Wayne", "Wayne Enterprises, Inc.", BRUCE, 400, -330, 35,
                    "ultimate", subscription=ultimate_v2, issued=-331),
        # The second department's 25 seats, issued last, to another licensee name.
        license_row(600020, "Alfred Pennyworth", "Wayne Foundation", ALFRED, 25, -20, 345,
                    "premium", subscription=(PREMIUM_ID, "A-S00000402"), issued=-21),
        # A trial running now, and one a year ago.
        license_row(600030, "Harvey Dent", "Wayne Enterprises", HARVEY, 100, -17, 13,
                    "ultimate", trial=True),
        license_row(600031, "Lucius Fox", "Wayne Enterprises", LUCIUS, 50, -400, -370,
                    "premium", trial=True),
        # Pied Piper: three spellings of one prospect, one company domain.
        license_row(700001, "Richard Hendricks", "Pied Piper", "richard@piedpiper.example", 10,
                    -60, -30, "ultimate", trial=True),
        license_row(700002, "Jared Dunn", "Pied Piper, Inc.", "jared@piedpiper.example", 25,
                    -20, 10, "ultimate", trial=True),
        license_row(700003, "Dinesh Chugtai", "piedpiper", "dinesh@piedpiper.example", 5, -5,
                    25, "premium", trial=True),
        # 株式会社ヤマト技研 and two trials from its domain.
        license_row(800001, "山田太郎", "株式会社ヤマト技研", "taro.yamada@yamato-giken.co.jp",
                    200, -100, 265, "premium", subscription=("", "A-S00000500")),
        license_row(800002, "Kenji Ito", "Yamato Giken", "kenji@yamato-giken.co.jp", 30, -300,
                    -270, "ultimate", trial=True),
        license_row(800003, "Sato Hana", "Yamato Consulting", "sato@yamato-giken.co.jp", 10,
                    -10, 20, "ultimate", trial=True),
        # Raccoon City Pharmaceuticals' licenses say Umbrella Corporation.
        license_row(900001, "Albert Wesker", "Umbrella Corporation",
                    "albert.wesker@umbrella.example", 75, -50, 315, "premium",
                    subscription=("", "A-S00000600")),
        # A prospect sharing a word with the licensee name.
        license_row(930001, "Luther", "Umbrella Academy",
                    "luther@umbrella-academy.example", 7, -3, 27, "ultimate", trial=True),
        # Globex Corporation, and Globex Labs beside it.
        license_row(910001, "Hank Scorpio", "Globex Corporation", "hank@globex.example", 500,
                    -10, 355, "ultimate", subscription=("", "A-S00000700")),
        license_row(920001, "John Frink", "Globex Labs", "frink@globexlabs.example", 5, -10, 20,
                    "ultimate", trial=True),
    ]  # fmt: skip
    subscriptions = [
        ["A-S00000401", ULTIMATE_V1, 1, WAYNE_ACCOUNT_ID, "Wayne Enterprises",
         WAYNE_ACCOUNT_NUMBER, WAYNE_SALESFORCE_ID],
        ["A-S00000401", ULTIMATE_V2, 2, WAYNE_ACCOUNT_ID, "Wayne Enterprises",
         WAYNE_ACCOUNT_NUMBER, WAYNE_SALESFORCE_ID],
        ["A-S00000402", PREMIUM_ID, 1, WAYNE_ACCOUNT_ID, "Wayne Enterprises",
         WAYNE_ACCOUNT_NUMBER, WAYNE_SALESFORCE_ID],
        ["A-S00000500", "8a8aa0b1c2d3e4f5a6b7c8d9e0f10500", 1, YAMATO_ACCOUNT_ID,
         "株式会社ヤマト技研", "A00005000", ""],
        ["A-S00000600", "8a8aa0b1c2d3e4f5a6b7c8d9e0f10600", 1, RACCOON_ACCOUNT_ID,
         "Raccoon City Pharmaceuticals", "A00006000", ""],
    ]  # fmt: skip

    def ping(number: int, host: str, users: int, days_ago: int, license_id: int,
             uuid: str, billable: int | str = "", historical: int | str = "") -> list[object]:  # fmt: skip
        recorded = f"{day(-days_ago)} 03:00:00.000000"
        return [number, host, "17.6.1-ee", users, historical, recorded, md5_of(license_id),
                uuid, "EE", billable]  # fmt: skip

    usage = [
        # The production server, two pings: the newest (yesterday, 412 billable users) kept.
        ping(1, "gitlab.wayne-enterprises.example", 380, 8, 600011, "aaaa-0001", 375, 400),
        ping(2, "gitlab.wayne-enterprises.example", 430, 1, 600011, "aaaa-0001", 412, 440),
        # Still on the older license, last seen 45 days ago: listed, not counted.
        ping(3, "old.wayne-enterprises.example", 300, 45, 600010, "aaaa-0002"),
        ping(4, "ci.wayne-foundation.example", 20, 2, 600020, "aaaa-0003", 20, 22),
        ping(5, "trial.wayne-enterprises.example", 60, 1, 600030, "aaaa-0004"),
    ]
    paths = {
        ImportKind.SUBSCRIPTIONS: directory / "zuora_subscriptions.csv",
        ImportKind.LICENSES: directory / "customersdot_licenses.csv",
        ImportKind.HOSTS: directory / "usage_data.csv",
    }
    for kind, header, rows in (
        (ImportKind.SUBSCRIPTIONS, SUBSCRIPTIONS_HEADER, subscriptions),
        (ImportKind.LICENSES, LICENSES_HEADER, licenses),
        (ImportKind.HOSTS, USAGE_HEADER, usage),
    ):
        with paths[kind].open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
    log_guard.remember(*EMAILS)
    return paths


def load_exports(factory: sessionmaker[Session], directory: Path, today: date) -> None:
    for kind, path in write_exports(directory, today).items():
        import_file(factory, kind, path)
