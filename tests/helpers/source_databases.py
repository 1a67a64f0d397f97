"""Source databases for `python -m bot sync`'s database source: CustomersDot's `licenses` table
and version.gitlab.com's `usage_data`, in their own layouts, with a few real-looking rows, for a
second database on the suite's PostgreSQL or a SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from tests.helpers.postgres import fresh_postgres_database

# CustomersDot's `licenses`, column for column (tests/data/customersdot_licenses.csv's header).
LICENSES_TABLE = """
CREATE TABLE licenses (
    id bigint PRIMARY KEY, name varchar, company varchar, email varchar, users_count integer,
    license_file text, expires_at date, created_at timestamp, updated_at timestamp,
    plan_name varchar, starts_at date, zuora_subscription_id varchar, notes text,
    previous_users_count integer, trueup_quantity integer, trueup_from date, trueup_to date,
    plan_code varchar, trial boolean, zuora_subscription_name varchar,
    license_file_md5 varchar, creator_id integer
)
"""
LICENSE_ROWS = [
    {
        "id": 9001,
        "name": "Bill Lumbergh",
        "company": "Initech, LLC",
        "email": "bill.lumbergh@initech.example",
        "users_count": 120,
        "license_file": "-----BEGIN LICENSE-----\nZXlK\n-----END LICENSE-----\n",
        "expires_at": "2027-06-30",
        "created_at": "2026-06-30 09:15:00.123456",
        "plan_name": "Premium",
        "starts_at": "2026-06-30",
        "zuora_subscription_id": "8a8aa0b1c2d3e4f5a6b7c8d9e0f1a2b3",
        "notes": 'Renewal agreed with "Bill", see deal desk\nsecond line',
        "previous_users_count": 100,
        "plan_code": "premium",
        "trial": False,
        "zuora_subscription_name": "A-S00090001",
        "license_file_md5": "5D41402A-BC4B-2A76-B971-9D911017C592",
    },
    {  # a trial
        "id": 8999,
        "name": "Peter Gibbons",
        "company": "Initech",
        "email": "peter@initech.example",
        "users_count": 50,
        "expires_at": "2026-08-01",
        "created_at": "2026-07-01 10:00:00.000001",
        "plan_name": "Ultimate",
        "starts_at": "2026-07-01",
        "plan_code": "ultimate",
        "trial": True,
    },
    {  # no company
        "id": 9002,
        "name": "Milton Waddams",
        "company": None,
        "email": "milton@initech.example",
        "users_count": 5,
        "expires_at": "2027-06-30",
        "created_at": "2026-07-02 08:00:00.25",
        "starts_at": "2026-07-02",
        "plan_code": "starter",
        "trial": False,
    },
    {  # an older license: no plan code, no expiry
        "id": 7001,
        "name": "Hank Scorpio",
        "company": "Globex Corporation",
        "email": "hank@globex.example",
        "users_count": 500,
        "created_at": "2019-01-01 00:00:00",
        "plan_name": "Premium",
        "starts_at": "2019-01-01",
    },
]
LICENSE_COLUMNS = (
    "id name company email users_count license_file expires_at created_at updated_at plan_name "
    "starts_at zuora_subscription_id notes previous_users_count trueup_quantity trueup_from "
    "trueup_to plan_code trial zuora_subscription_name license_file_md5 creator_id"
).split()

USAGE_DATA_TABLE = """
CREATE TABLE usage_data (
    id integer PRIMARY KEY, source_ip varchar, version varchar, active_user_count integer,
    license_md5 varchar, historical_max_users integer, recorded_at timestamp,
    created_at timestamp, uuid varchar, edition varchar, hostname varchar,
    license_billable_users integer, stats text
)
"""
# (id, hostname, version, active users, recorded_at, uuid): three instances, several pings each.
PINGS = [
    (1, "gitlab.initech.example", "17.1.0", 100, "2026-11-01 03:00:00", "AAAA-1111"),
    (2, "gitlab.initech.example", "17.3.0", 115, "2026-11-20 03:00:00.5", "aaaa-1111"),
    (3, "gitlab.initech.example", "17.2.0", 110, "2026-11-10 03:00:00", "aaaa-1111"),
    # Another instance under the same hostname (a different uuid).
    (4, "gitlab.initech.example", "16.0.0", 3, "2026-11-21 03:00:00", "bbbb-2222"),
    # No uuid: the instance is its hostname.
    (5, "git.globex.example", "15.0.0", 40, "2026-10-01 00:00:00", None),
    (6, "git.globex.example", "15.1.0", 42, "2026-10-08 00:00:00", ""),
    (7, "git.globex.example", "14.0.0", 41, None, None),
]


def fill_source(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text(LICENSES_TABLE))
        insert = text(
            f"INSERT INTO licenses ({', '.join(LICENSE_COLUMNS)}) "
            f"VALUES ({', '.join(':' + c for c in LICENSE_COLUMNS)})"
        )
        connection.execute(insert, [dict.fromkeys(LICENSE_COLUMNS) | r for r in LICENSE_ROWS])
        connection.execute(text(USAGE_DATA_TABLE))
        connection.execute(
            text(
                "INSERT INTO usage_data (id, hostname, version, active_user_count,"
                " historical_max_users, recorded_at, uuid, edition, license_billable_users,"
                " stats) VALUES (:id, :hostname, :version, :users, :users, :at, :uuid, 'EE',"
                " :users, '{}')"
            ),
            [
                dict(zip(("id", "hostname", "version", "users", "at", "uuid"), p, strict=True))
                for p in PINGS
            ],
        )
        if connection.dialect.name == "postgresql":
            connection.execute(text("CREATE SEQUENCE licenses_id_seq"))


def more_licenses(count: int, *, first_id: int = 20_000) -> list[dict[str, object]]:
    """`count` plain licenses (ids from `first_id`), for sources large enough that one row
    deleted stays under the import's 10% guard."""
    return [
        dict.fromkeys(LICENSE_COLUMNS)
        | {
            "id": first_id + n,
            "name": f"Admin {n}",
            "company": f"Company {n}",
            "email": f"admin{n}@company{n}.example",
            "users_count": 10 + n,
            "expires_at": "2027-01-31",
            "created_at": "2026-01-01 00:00:00",
            "updated_at": "2026-01-01 00:00:00",
            "starts_at": "2026-01-01",
            "plan_code": "premium",
            "trial": False,
        }
        for n in range(count)
    ]


def add_licenses(url: str, rows: list[dict[str, object]]) -> None:
    execute(
        url,
        f"INSERT INTO licenses ({', '.join(LICENSE_COLUMNS)}) "
        f"VALUES ({', '.join(':' + c for c in LICENSE_COLUMNS)})",
        rows,
    )


def execute(url: str, sql: str, parameters: list[dict[str, object]] | None = None) -> None:
    """One statement on a source database, committed (as its own application would write)."""
    engine = create_engine(_writable(url))
    try:
        with engine.begin() as connection:
            connection.execute(text(sql), parameters or [{}])
    finally:
        engine.dispose()


def _writable(url: str) -> str:
    # An operator's driverless postgresql:// URL, read by this suite with psycopg 3.
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@contextmanager
def postgres_source(password: str) -> Iterator[str]:
    """A filled source database of its own on the suite's PostgreSQL, dropped afterwards; its
    URL driverless as an operator writes it, carrying `password` (the test server trusts
    loopback, so any password connects)."""
    with fresh_postgres_database("sync_command_source", migrated=False) as url:
        if url is None:
            pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL (scripts/start-postgres.sh)")
        engine = create_engine(url)
        fill_source(engine)
        engine.dispose()
        source = make_url(url).set(drivername="postgresql", password=password)
        yield source.render_as_string(hide_password=False)


def sqlite_source(path: Path) -> str:
    """A filled SQLite source file at `path`; its URL."""
    engine = create_engine(f"sqlite:///{path}")
    fill_source(engine)
    engine.dispose()
    return f"sqlite:///{path}"
