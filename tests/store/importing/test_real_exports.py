"""The source systems' own exports, as they write them (issue 12: "The real exports").

tests/data holds them in their real layouts: CustomersDot's `licenses` table as PostgreSQL's
`COPY … CSV` writes it (t/f booleans, zone-less timestamps with microseconds, quoted cells with
commas, quotes and newlines, the multi-line license file itself), saved with a BOM and CRLF
line ends, and a Zuora data source export of subscriptions with their accounts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.search import find_customers
from bot.store.importing import ImportKind, import_file
from bot.store.models import License
from bot.store.queries import load_customer_licenses
from tests.helpers.paths import DATA

INITECH = "sf:0016100001AbCdEAAV"
TODAY = date(2026, 11, 27)


def load(factory: sessionmaker[Session]) -> None:
    import_file(factory, ImportKind.LICENSES, DATA / "customersdot_licenses.csv")
    import_file(factory, ImportKind.SUBSCRIPTIONS, DATA / "zuora_subscriptions.csv")


def test_customersdots_licenses_table_imports_as_written(session_factory) -> None:
    summary = import_file(session_factory, ImportKind.LICENSES, DATA / "customersdot_licenses.csv")
    assert (summary.rows, summary.inserted) == (5, 5)
    # The export's layout is the documented one: nothing to warn about (a daily cron's output
    # is silent), and the license file is never stored.
    assert summary.warnings == ()
    with session_factory() as session:
        paid = session.get(License, 9001)
        trial = session.get(License, 8999)
        old = session.get(License, 7001)
        stored = [tuple(row) for row in session.execute(select(License.__table__)).all()]
    assert (paid.contact_name, paid.contact_email) == (
        "Bill Lumbergh",
        "bill.lumbergh@initech.example",
    )
    assert (paid.plan, paid.user_count, paid.previous_user_count) == ("premium", 120, 100)
    assert paid.issued_at == datetime(2026, 6, 30, 9, 15, 0, 123456, tzinfo=UTC)
    assert paid.license_md5 == "5d41402abc4b2a76b9719d911017c592"
    assert paid.notes == 'Renewal agreed with "Bill", see deal desk\nsecond line'
    assert (paid.trial, trial.trial) == (False, True)
    assert old.plan == ""  # neither plan_code nor plan_name: "Plan not recorded" on the card
    assert not any("BEGIN LICENSE" in str(value) for row in stored for value in row)


def test_the_real_exports_answer_a_lookup(session_factory, tmp_path) -> None:
    load(session_factory)
    with session_factory() as session:
        result = find_customers(session, "Initech", today=TODAY)
        assert result.resolved_key == INITECH
        card = load_customer_licenses(session, INITECH, today=TODAY)
        # The account's name as in Salesforce (the newest version's account).
        assert card.customer.name == "Initech Corporation"
        assert [r.license.id for r in card.overview.trials] == [8999]
        # The row without a company is kept, under its subscription's customer.
        paid = {card.overview.lead.license.id} | {r.license.id for r in card.overview.others}
        assert paid == {9001, 9002}
        # Without a company or a subscription: under its contact's email domain.
        globex = find_customers(session, "@globex.example", today=TODAY)
        assert {choice.key for choice in globex.choices} == {
            "name:globex corp",
            "domain:globex.example",
        }
    # Once Globex has an account, the domain's license joins it, and its old key follows.
    globex_paid = tmp_path / "globex.csv"
    globex_paid.write_text(
        "id,company,plan,zuora_account_id,contact_email\n"
        "7003,Globex Corporation,premium,Z-GLOBEX,hank@globex.example\n",
        encoding="utf-8",
    )
    import_file(session_factory, ImportKind.LICENSES, globex_paid)
    with session_factory() as session:
        moved = load_customer_licenses(session, "domain:globex.example", today=TODAY)
        assert moved.customer.key == "za:Z-GLOBEX"


def test_usage_pings_as_version_gitlab_com_exports_them(session_factory, tmp_path) -> None:
    load(session_factory)
    # One row per ping; the instance is its uuid (two unrelated instances share a hostname);
    # the license is the one whose MD5 the ping reports.
    pings = tmp_path / "usage_data.csv"
    pings.write_text(
        "\ufeffid,hostname,version,active_user_count,historical_max_users,recorded_at,"
        "license_md5,uuid,edition\r\n"
        "1,gitlab.example.com,17.2.1,100,110,2026-11-01 03:00:00.123456,"
        "5d41402a-bc4b-2a76-b971-9d911017c592,AAAA-1111,EE\r\n"
        "2,gitlab.example.com,17.3.0,115,120,2026-11-20 03:00:00.000001,"
        "5d41402abc4b2a76b9719d911017c592,aaaa-1111,EE\r\n"
        "3,gitlab.example.com,16.0.0,3,3,2026-11-21 03:00:00,,bbbb-2222,CE\r\n",
        encoding="utf-8",
    )
    summary = import_file(session_factory, ImportKind.HOSTS, pings)
    assert (summary.rows, summary.inserted) == (3, 2)
    with session_factory() as session:
        card = load_customer_licenses(session, INITECH, today=TODAY)
        hosts = card.hosts_by_license[9001]
        assert [(h.hostname, h.gitlab_version, h.active_user_count) for h in hosts] == [
            ("gitlab.example.com", "17.3.0", 115)
        ]
        assert find_customers(session, "gitlab.example.com", today=TODAY).resolved_key == INITECH


def test_zuoras_export_imports_without_a_word(session_factory) -> None:
    import_file(session_factory, ImportKind.LICENSES, DATA / "customersdot_licenses.csv")
    summary = import_file(
        session_factory, ImportKind.SUBSCRIPTIONS, DATA / "zuora_subscriptions.csv"
    )
    assert summary.warnings == ()


USAGE_DATA_HEADER = (
    "id,source_ip,version,active_user_count,license_md5,historical_max_users,licensee,"
    "license_user_count,license_starts_at,license_expires_at,license_add_ons,recorded_at,"
    "created_at,updated_at,mattermost_enabled,uuid,edition,hostname,host_id,license_trial,"
    "source_license_id,installation_type,license_plan,license_billable_users,stats"
)


def test_two_pings_of_one_server_are_one_instance_in_a_silent_import(session_factory, tmp_path):
    """version.gitlab.com's usage_data as written: its many other columns are known (ignored
    without a warning), and two pings of one server are said as such, not "1 unchanged"."""
    ping = (
        "{id},203.0.113.5,17.2.0-ee,{users},5d41402abc4b2a76b9719d911017c592,130,Initech,150,"
        "2026-01-01,2027-01-01,{{}},{at},{at},{at},f,9f1c3c1e-57c8-4a3d-9a6e-2f3b1c0d7e11,EE,"
        "gitlab.initech.example,42,f,7,omnibus,premium,{users},{{}}"
    )
    path = tmp_path / "usage_data.csv"
    path.write_text(
        "\n".join(
            [
                USAGE_DATA_HEADER,
                ping.format(id=1, users=110, at="2026-11-20 06:00:00"),
                ping.format(id=2, users=118, at="2026-11-27 06:00:00"),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    summary = import_file(session_factory, ImportKind.HOSTS, path)
    assert summary.warnings == ()
    assert summary.describe() == (
        "hosts: 2 pings from usage_data.csv, 1 instance (the newest ping of each kept): "
        "1 inserted, 0 updated, 0 unchanged, 0 deleted"
    )
