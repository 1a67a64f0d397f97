from __future__ import annotations

import json
from contextlib import closing
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from bot.freshness import FreshnessRule
from bot.store.importing import (
    BATCH_SIZE,
    ImportFailed,
    ImportKind,
    _open_writer,
    import_file,
)
from bot.store.importing.kinds import spec_for
from bot.store.importing.reading import read_records
from bot.store.models import Host, ImportRun, License, Reconciliation
from tests.helpers.import_files import (
    HOST_COLUMNS,
    NOW,
    RECONCILIATION_COLUMNS,
    SUBSCRIPTION_ID,
    UNSUBSCRIBED,
    customers,
    failure,
    import_licenses,
    license_row,
    licenses_file,
    reconciliation_row,
    snapshot,
    write_csv,
)

# --- Good files ----------------------------------------------------------------------------


def test_csv_licenses_are_stored_with_normalised_values(session_factory, tmp_path):
    path = tmp_path / "licenses.csv"
    path.write_text(
        "ID,Company,Contact Name,Contact-Email,Plan,User Count,TRIAL,Issued at,starts_at,"
        "expires_at,License type,zuora_subscription_id,Zuora Subscription Name,"
        "previous_user_count,trueup_quantity,salesforce_account_id,zuora_account_id\n"
        f"101, Acme Inc. ,Jane Doe,Jane.Doe@Acme.IO,Premium, 50 ,,2026-01-10T09:30:00Z,2026-01-10,"
        f"2027-01-10,Offline cloud,{SUBSCRIPTION_ID},a-s00012345,40,10,0016g00000AbCdE,Z-1\n"
        "102,Acme Inc.,,,ultimate,5,YES,2026-02-01 08:00:00,2026-02-01,2026-03-01,,,,,,"
        "0016g00000AbCdE,\n"
        "103,Initech,Bill,,starter,,f,2025-02-01 08:00:00 UTC,2025-02-01,,legacy,,,,,,\n",
        encoding="utf-8",
    )
    summary = import_licenses(session_factory, path)

    assert (summary.rows, summary.inserted, summary.updated, summary.deleted) == (3, 3, 0, 0)
    assert summary.warnings == ("columns not in the file, stored as empty: license_md5, notes",)
    with session_factory() as session:
        first = session.get(License, 101)
        second = session.get(License, 102)
        third = session.get(License, 103)
    assert first.company == "Acme Inc."
    # Salesforce ids are kept in their 18-character form (issue 12).
    assert first.customer_key == "sf:0016g00000AbCdEAAV"
    assert first.salesforce_account_id == "0016g00000AbCdEAAV"
    assert first.contact_email == "Jane.Doe@Acme.IO"
    assert first.contact_email_key == "jane.doe@acme.io"
    assert first.contact_email_domain == "acme.io"
    assert first.plan == "premium"
    assert (first.user_count, first.previous_user_count, first.trueup_quantity) == (50, 40, 10)
    assert first.trial is False
    assert first.license_type == "offline_cloud"
    assert first.issued_at == datetime(2026, 1, 10, 9, 30, tzinfo=UTC)
    assert (first.starts_at, first.expires_at) == (date(2026, 1, 10), date(2027, 1, 10))
    assert first.zuora_subscription_name == "A-S00012345"
    assert first.zuora_account_id == "Z-1"
    assert second.trial is True
    assert second.issued_at == datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
    assert second.contact_name is None and second.contact_email_key is None
    assert second.license_type is None and second.zuora_subscription_name is None
    assert third.issued_at == datetime(2025, 2, 1, 8, 0, tzinfo=UTC)
    assert third.expires_at is None and third.user_count is None
    assert third.customer_key == "name:initech"
    assert customers(session_factory) == {
        "sf:0016g00000AbCdEAAV": ("Acme Inc.", "acme", "0016g00000AbCdEAAV"),
        "name:initech": ("Initech", "initech", None),
    }


def test_json_lines_give_the_same_rows_as_csv(session_factory, tmp_path):
    rows = [
        license_row(1, trial="true", user_count="7", previous_user_count="5"),
        license_row(2, company="Initech", issued_at="2026-03-01T10:00:00+02:00"),
    ]
    csv_path = licenses_file(tmp_path, rows)
    import_licenses(session_factory, csv_path)
    from_csv = snapshot(session_factory)["license"]

    json_path = tmp_path / "export.txt"  # no telling extension: detected by its first `{`
    with json_path.open("w", encoding="utf-8") as handle:
        handle.write("\n")
        first = license_row(1, trial=True, user_count=7, previous_user_count=5)
        first["Zuora Account ID"] = first.pop("zuora_account_id")  # header variants apply too
        first["trueup_quantity"] = None
        handle.write(json.dumps(first) + "\n")
        second = license_row(2, company="Initech", issued_at="2026-03-01T10:00:00+02:00")
        del second["zuora_account_id"]  # JSON exports omit nulls
        handle.write(json.dumps(second) + "\n")
    summary = import_licenses(session_factory, json_path)

    assert (summary.rows, summary.inserted, summary.updated) == (2, 0, 0)
    assert snapshot(session_factory)["license"] == from_csv
    with session_factory() as session:
        assert session.get(License, 2).issued_at == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_jsonl_extension_and_json_numbers(session_factory, tmp_path):
    path = tmp_path / "recons.jsonl"
    path.write_text(
        json.dumps({"id": 5, "customer": "Acme", "status": "Failed", "invoiced_amount": 12.5})
        .replace("12.5", "4312.10")  # a JSON number, kept exact (never a float)
        .replace("}", ', "currency": "eur", "extra": [1]}')
        + "\n",
        encoding="utf-8",
    )
    summary = import_file(session_factory, "reconciliations", path, now=NOW)

    assert summary.warnings == ("1 unknown column ignored: 'extra'",)
    with session_factory() as session:
        stored = session.get(Reconciliation, 5)
    assert (stored.status, stored.invoiced_amount_minor, stored.currency) == (
        "failed",
        431210,
        "EUR",
    )


def test_reconciliations_are_normalised(session_factory, tmp_path):
    path = write_csv(
        tmp_path / "recon.csv",
        [
            reconciliation_row(
                1, customer="Acmé Systems GmbH", subscription_name="a-s00099", status=" Skipped "
            ),
            reconciliation_row(2, status="PENDING", invoiced_amount="", currency=""),
        ],
        RECONCILIATION_COLUMNS,
    )
    import_file(session_factory, ImportKind.RECONCILIATIONS, path, now=NOW)

    with session_factory() as session:
        first = session.get(Reconciliation, 1)
        second = session.get(Reconciliation, 2)
    assert first.customer_name == "Acmé Systems GmbH"
    assert first.customer_search_key == "acme systems"
    assert first.subscription_name == "A-S00099"
    assert first.status == "skipped"
    assert first.reconcile_on == date(2026, 4, 10)
    assert first.reconcile_done_at == datetime(2026, 4, 10, 6, 0, tzinfo=UTC)
    assert (first.invoiced_amount_minor, first.currency) == (431250, "USD")
    assert second.status == "pending"
    assert (second.invoiced_amount_minor, second.currency) == (None, None)


def test_hosts_are_keyed_by_normalised_hostname(session_factory, tmp_path):
    path = write_csv(
        tmp_path / "hosts.csv",
        [
            {
                "hostname": "GitLab.Acme.io.",
                "license_id": 101,
                "gitlab_version": "17.5.1-ee",
                "active_user_count": 48,
                "historical_max_users": 52,
                "last_ping_at": "2026-11-20T03:00:00Z",
            }
        ],
        HOST_COLUMNS,
    )
    import_file(session_factory, "hosts", path, now=NOW)
    path.write_text(
        path.read_text().replace("GitLab.Acme.io.", "gitlab.acme.io").replace("48", "49")
    )
    summary = import_file(session_factory, "hosts", path, now=NOW)

    assert (summary.inserted, summary.updated) == (0, 1)
    with session_factory() as session:
        hosts = session.scalars(select(Host)).all()
    assert [(h.hostname, h.license_id, h.active_user_count) for h in hosts] == [
        ("gitlab.acme.io", 101, 49)
    ]
    assert hosts[0].last_ping_at == datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def test_a_timestamp_in_a_date_column_gives_the_date_as_written(session_factory, tmp_path):
    path = licenses_file(
        tmp_path,
        [
            license_row(
                1, starts_at="2026-01-10T00:00:00-05:00", expires_at="2027-01-10 00:00:00 UTC"
            )
        ],
    )
    import_licenses(session_factory, path)
    with session_factory() as session:
        stored = session.get(License, 1)
    assert (stored.starts_at, stored.expires_at) == (date(2026, 1, 10), date(2027, 1, 10))


def test_semicolon_separated_excel_export(session_factory, tmp_path):
    path = tmp_path / "licenses.csv"
    path.write_text("id;company;plan\n7;Initech;premium\n", encoding="utf-8")
    import_licenses(session_factory, path)
    with session_factory() as session:
        assert session.get(License, 7).company == "Initech"


# --- Errors name the line and the reason ---------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("expires_at", "soon", "expires_at 'soon' is not a date (YYYY-MM-DD)"),
        ("starts_at", "2026-02-30", "starts_at '2026-02-30' is not a valid date (YYYY-MM-DD)"),
        ("starts_at", "10/01/2026", "starts_at '10/01/2026' is not a date (YYYY-MM-DD)"),
        (
            "issued_at",
            "yesterday",
            "issued_at 'yesterday' is not a timestamp (YYYY-MM-DD HH:MM:SS, ISO 8601)",
        ),
        (
            "user_count",
            "1,000",
            "user_count '1,000' is not a whole number (digits only, no separators)",
        ),
        ("user_count", "12.0", "user_count '12.0' is not a whole number"),
        ("user_count", "-3", "user_count '-3' is below 0"),
        ("user_count", "99999999999", "user_count '99999999999' is too large"),
        ("id", "abc", "id 'abc' is not a whole number"),
        ("id", "0", "id '0' is below 1"),
        ("trial", "maybe", "trial 'maybe' is not true or false (true/false, yes/no, 1/0)"),
        ("license_type", "saas", "license_type 'saas' is not one of cloud, legacy, offline_cloud"),
        ("plan", "x" * 65, "plan is longer than 64 characters"),
        ("contact_email", "a@" + "b" * 330, "contact_email is longer than 320 characters"),
    ],
)
def test_a_bad_value_names_its_line_and_reason(session_factory, tmp_path, column, value, reason):
    path = licenses_file(
        tmp_path, [license_row(1), license_row(2), license_row(3, **{column: value})]
    )
    message = failure(session_factory, "licenses", path)
    assert message.startswith(f"line 4: {reason}")
    assert snapshot(session_factory)["license"] == []


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"status": "done"}, "status 'done' is not one of failed, pending, processed, skipped"),
        ({"customer": ""}, "customer is empty; every reconciliation needs one"),
        ({"currency": "US$"}, "currency 'US$' is not a currency code (three letters, e.g. USD)"),
        (
            {"invoiced_amount": "$4,312.50"},
            "invoiced_amount '$4,312.50' is not an amount (digits with an optional '.', e.g. 4312.50)",
        ),
        (
            {"invoiced_amount": "1e3"},
            "invoiced_amount '1e3' is not an amount (digits with an optional '.', e.g. 4312.50)",
        ),
        ({"currency": ""}, "invoiced_amount '4312.50' has no currency"),
        (
            {"invoiced_amount": "10.005"},
            "invoiced_amount '10.005' has more decimals than USD allows (2)",
        ),
        (
            {"invoiced_amount": "1200.5", "currency": "JPY"},
            "invoiced_amount '1200.5' has more decimals than JPY allows (0)",
        ),
    ],
)
def test_a_bad_reconciliation_names_its_line_and_reason(
    session_factory, tmp_path, overrides, reason
):
    path = write_csv(
        tmp_path / "recon.csv",
        [reconciliation_row(1), reconciliation_row(2, **overrides)],
        RECONCILIATION_COLUMNS,
    )
    assert failure(session_factory, "reconciliations", path) == f"line 3: {reason}"


def test_quoted_newlines_are_counted_as_physical_lines(session_factory, tmp_path):
    path = licenses_file(
        tmp_path,
        [
            license_row(1, contact_name="Jane\nDoe\n(procurement)"),  # lines 2-4
            license_row(2, company="Initech\r\nLabs"),  # lines 5-6
            license_row(3, expires_at="never"),  # line 7
        ],
    )
    assert failure(session_factory, "licenses", path).startswith("line 7: expires_at 'never'")


def test_quoted_newlines_are_kept_in_values(session_factory, tmp_path):
    path = licenses_file(tmp_path, [license_row(1, contact_name="Jane\nDoe")])
    import_licenses(session_factory, path)
    with session_factory() as session:
        assert session.get(License, 1).contact_name == "Jane\nDoe"


def test_excel_bom_and_crlf_line_endings(session_factory, tmp_path):
    path = tmp_path / "licenses.csv"
    body = "id,company,plan,trial\r\n1,Acme,premium,yes\r\n2,Initech,starter,no\r\n\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    summary = import_licenses(session_factory, path)

    assert summary.rows == 2
    assert not any(warning.startswith("unknown column") for warning in summary.warnings)
    with session_factory() as session:
        stored = session.scalars(select(License).order_by(License.id)).all()
    assert [(row.id, row.company, row.plan, row.trial) for row in stored] == [
        (1, "Acme", "premium", True),
        (2, "Initech", "starter", False),
    ]


def test_bom_then_error_line_numbers_are_still_physical(session_factory, tmp_path):
    path = tmp_path / "licenses.csv"
    path.write_bytes(b"\xef\xbb\xbfid,company,plan\r\n1,Acme,premium\r\nx,Initech,starter\r\n")
    assert failure(session_factory, "licenses", path).startswith("line 3: id 'x'")


def test_latin1_bytes_are_reported_with_their_line(session_factory, tmp_path):
    path = tmp_path / "licenses.csv"
    path.write_bytes(
        "id,company,plan\n1,Acme,premium\n2,Société Générale,premium\n".encode("latin-1")
    )
    message = failure(session_factory, "licenses", path)
    assert message.startswith("line 3: byte 0xe9 at position 7 is not UTF-8")
    assert "save the file as UTF-8" in message


def test_utf16_file_is_refused_clearly(session_factory, tmp_path):
    path = tmp_path / "licenses.csv"
    path.write_bytes("id,company,plan\n1,Acme,premium\n".encode("utf-16"))
    assert "the file is UTF-16" in failure(session_factory, "licenses", path)


def test_duplicate_ids_name_both_lines(session_factory, tmp_path):
    path = licenses_file(
        tmp_path, [license_row(1), license_row(2), license_row(3), license_row(2, plan="ultimate")]
    )
    assert failure(session_factory, "licenses", path) == (
        "line 5: id 2 appears twice, on lines 3 and 5"
    )


def test_pings_of_one_instance_keep_the_newest_in_a_file_and_across_imports(
    session_factory, tmp_path
):
    # Several pings of one instance are its history, not an error (issue 12): a hostname
    # normalises to one instance, and the newest ping by its time wins.
    path = tmp_path / "hosts.csv"
    path.write_text(
        "hostname,license_id,last_ping_at,active_user_count\n"
        "gitlab.acme.io,1,2026-05-02T00:00:00Z,20\n"
        "GITLAB.acme.io.,1,2026-05-03T00:00:00Z,30\n"
        "gitlab.acme.io,1,2026-05-01T00:00:00Z,10\n"
    )
    summary = import_file(session_factory, "hosts", path, now=NOW)
    assert (summary.rows, summary.inserted) == (3, 1)
    older = tmp_path / "older.csv"
    older.write_text(
        "hostname,license_id,last_ping_at,active_user_count\n"
        "gitlab.acme.io,1,2026-04-01T00:00:00Z,5\n"
    )
    assert import_file(session_factory, "hosts", older, now=NOW).updated == 0
    with session_factory() as session:
        (host,) = session.scalars(select(Host)).all()
    assert (host.hostname, host.active_user_count) == ("gitlab.acme.io", 30)


def test_missing_required_columns_are_named(session_factory, tmp_path):
    path = tmp_path / "licenses.csv"
    path.write_text("id,contact_email\n1,jane@acme.io\n")
    assert failure(session_factory, "licenses", path) == (
        "line 1: the licenses file lacks required columns: company, plan"
    )


def test_a_row_with_the_wrong_number_of_values(session_factory, tmp_path):
    path = tmp_path / "licenses.csv"
    path.write_text("id,company,plan\n1,Acme,premium\n2,Acme, Inc,premium\n")
    assert failure(session_factory, "licenses", path) == (
        "line 3: 4 values but the header has 3 columns"
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
        ('{"id": 1, "company": "Acme", "plan": "premium"}\n{"id": 2,\n', "line 2: not valid JSON"),
        (
            '{"id": 1, "company": "Acme", "plan": "premium"}\n[1, 2]\n',
            "line 2: expected a JSON object",
        ),
        (
            '{"id": 1, "company": {"name": "Acme"}, "plan": "x"}\n',
            "line 1: company holds a JSON list",
        ),
        (
            '{"id": true, "company": "Acme", "plan": "x"}\n',
            "line 1: id 'true' is not a whole number",
        ),
        ('{"id": 1, "company": "Ac\\u0000me", "plan": "x"}\n', "line 1: company contains a NUL"),
        ("id,company,plan\n1,Acme,x\n2,Ac\x00me,x\n", "line 3: company contains a NUL character"),
        (
            '{"id": 1, "company": "A", "plan": "x", "issued_at": "0001-01-01T00:00:00+01:00"}\n',
            "line 1: issued_at '0001-01-01T00:00:00+01:00' is not a timestamp",
        ),
    ],
)
def test_malformed_files(session_factory, tmp_path, content, reason):
    path = tmp_path / "licenses.data"
    path.write_text(content, encoding="utf-8")
    assert failure(session_factory, "licenses", path).startswith(reason)


def test_unknown_kind_and_missing_file(session_factory, tmp_path):
    path = licenses_file(tmp_path, [license_row(1)])
    assert "unknown import kind 'customers'" in failure(session_factory, "customers", path)
    assert "no such file" in failure(session_factory, "licenses", tmp_path / "nope.csv")


def test_unknown_and_missing_columns_are_warnings(session_factory, tmp_path):
    path = tmp_path / "licenses.csv"
    path.write_text("id,company,plan,Salesforce Owner,,user_count\n1,Acme,premium,Kim,x,3\n")
    summary = import_licenses(session_factory, path)

    assert summary.warnings[0] == "1 unknown column ignored: 'Salesforce Owner'"
    assert summary.warnings[1] == "1 column without a name ignored (column 5)"
    assert summary.warnings[2].startswith("columns not in the file, stored as empty: contact_name,")
    missing = summary.warnings[2].partition(": ")[2].split(", ")
    assert "user_count" not in missing
    # Our own columns that CustomersDot's export does not have are not missed.
    assert not {"license_type", "salesforce_account_id", "zuora_account_id"} & set(missing)
    with session_factory() as session:
        assert session.get(License, 1).user_count == 3


def test_ten_thousand_unknown_columns_are_one_line(session_factory, tmp_path):
    extra = [f"extra_{n}" for n in range(10_000)]
    path = tmp_path / "licenses.csv"
    path.write_text(
        ",".join(["id", "company", "plan", *extra]) + "\n" + "1,Acme,premium" + ",x" * 10_000 + "\n"
    )
    summary = import_licenses(session_factory, path)
    unknown = [w for w in summary.warnings if "unknown" in w]
    assert unknown == [
        "10,000 unknown columns ignored: 'extra_0', 'extra_1', 'extra_2', 'extra_3', 'extra_4', …"
    ]
    assert len(summary.warnings) <= 2


# --- Upserts, full mode, atomicity ---------------------------------------------------------


def test_reimport_is_idempotent_and_changes_are_counted(session_factory, tmp_path):
    rows = [license_row(i, company=f"Customer {i}", **UNSUBSCRIBED) for i in range(1, 6)]
    path = licenses_file(tmp_path, rows)

    first = import_licenses(session_factory, path)
    after_first = snapshot(session_factory)
    second = import_licenses(session_factory, path)
    rows[1]["user_count"] = 75
    rows.append(license_row(6, company="Customer 6", **UNSUBSCRIBED))
    third = import_licenses(session_factory, licenses_file(tmp_path, rows, "v2.csv"))

    assert (first.inserted, first.updated, first.unchanged) == (5, 0, 0)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 5)
    assert (third.inserted, third.updated, third.unchanged) == (1, 1, 4)
    after_second = snapshot(session_factory)
    assert len(after_second["license"]) == 6
    assert after_first["customer"] == after_second["customer"][:5]
    with session_factory() as session:
        assert session.get(License, 2).user_count == 75
        runs = session.scalars(select(ImportRun).order_by(ImportRun.id)).all()
    assert [(r.kind, r.file, r.rows, r.inserted, r.updated, r.deleted, r.full) for r in runs] == [
        ("licenses", "licenses.csv", 5, 5, 0, 0, False),
        ("licenses", "licenses.csv", 5, 0, 0, 0, False),
        ("licenses", "v2.csv", 6, 1, 1, 0, False),
    ]
    assert runs[0].finished_at == NOW


def test_the_sources_own_time_is_kept_and_never_later_than_the_import(session_factory, tmp_path):
    rows = [license_row(1)]
    exported = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    import_licenses(session_factory, licenses_file(tmp_path, rows))
    import_licenses(session_factory, licenses_file(tmp_path, rows), source_time=exported)
    # A source whose clock runs ahead of ours: its data is no fresher than its import.
    ahead = datetime(2026, 11, 28, tzinfo=UTC)
    import_licenses(session_factory, licenses_file(tmp_path, rows), source_time=ahead)
    with session_factory() as session:
        times = session.scalars(select(ImportRun.source_time).order_by(ImportRun.id)).all()
    assert times == [None, exported, NOW]
    with pytest.raises(ValueError, match="timezone-aware"):
        import_licenses(
            session_factory,
            licenses_file(tmp_path, rows),
            source_time=datetime(2026, 11, 27, 9, 30),
        )


def test_full_import_deletes_rows_missing_from_the_file(session_factory, tmp_path):
    rows = [license_row(i, company=f"Customer {i}", **UNSUBSCRIBED) for i in range(1, 21)]
    import_licenses(session_factory, licenses_file(tmp_path, rows))

    summary = import_licenses(
        session_factory, licenses_file(tmp_path, rows[:18], "full.csv"), full=True
    )

    assert (summary.deleted, summary.unchanged, summary.customers_deleted) == (2, 18, 2)
    with session_factory() as session:
        assert session.scalars(select(License.id).order_by(License.id)).all() == list(range(1, 19))
        assert session.scalars(select(ImportRun.deleted).order_by(ImportRun.id)).all() == [0, 2]
    assert "name:customer 19" not in customers(session_factory)
    assert "name:customer 18" in customers(session_factory)


def test_full_import_refuses_a_mass_delete_unless_allowed(session_factory, tmp_path):
    rows = [license_row(i, company=f"Customer {i}", **UNSUBSCRIBED) for i in range(1, 21)]
    import_licenses(session_factory, licenses_file(tmp_path, rows))
    before = snapshot(session_factory)
    partial = licenses_file(tmp_path, [*rows[:17], license_row(99, company="New")], "partial.csv")

    message = failure(session_factory, "licenses", partial, full=True)

    assert "would delete 3 of 20 licenses (15%)" in message
    assert "--allow-mass-delete" in message
    assert snapshot(session_factory) == before
    summary = import_licenses(session_factory, partial, full=True, allow_mass_delete=True)
    assert (summary.inserted, summary.deleted) == (1, 3)


def test_full_import_of_hosts_deletes_by_hostname(session_factory, tmp_path):
    path = tmp_path / "hosts.csv"
    path.write_text("hostname,license_id\n" + "".join(f"h{i}.acme.io,1\n" for i in range(10)))
    import_file(session_factory, "hosts", path, now=NOW)
    path.write_text("hostname,license_id\n" + "".join(f"h{i}.acme.io,1\n" for i in range(1, 10)))

    summary = import_file(session_factory, "hosts", path, full=True, now=NOW)

    assert summary.deleted == 1  # exactly 10%: allowed
    with session_factory() as session:
        assert "h0.acme.io" not in session.scalars(select(Host.hostname)).all()


def test_a_bad_row_at_the_end_of_a_large_file_changes_nothing(session_factory, tmp_path):
    import_licenses(
        session_factory,
        licenses_file(tmp_path, [license_row(i, company=f"Old {i}") for i in range(1, 11)]),
    )
    reconciliations = write_csv(
        tmp_path / "recon.csv", [reconciliation_row(1)], RECONCILIATION_COLUMNS
    )
    import_file(session_factory, "reconciliations", reconciliations, now=NOW)
    before = snapshot(session_factory)
    rows = [
        license_row(i, company=f"Renamed {i}", issued_at="2026-06-01T00:00:00Z")
        for i in range(1, 5000)
    ]
    rows.append(license_row(5000, trial="perhaps"))
    progress: list[int] = []

    with pytest.raises(ImportFailed, match=r"^line 5001: trial 'perhaps'"):
        import_file(
            session_factory,
            "licenses",
            licenses_file(tmp_path, rows, "big.csv"),
            full=True,
            on_progress=progress.append,
            now=NOW,
        )

    assert progress == [BATCH_SIZE, 2 * BATCH_SIZE]  # earlier batches were written, then undone
    assert snapshot(session_factory) == before


def test_progress_is_reported_per_batch(session_factory, tmp_path):
    rows = [license_row(i, company=f"C{i % 7}", **UNSUBSCRIBED) for i in range(1, 5001)]
    progress: list[int] = []
    summary = import_file(
        session_factory,
        "licenses",
        licenses_file(tmp_path, rows),
        on_progress=progress.append,
        now=NOW,
    )
    assert progress == [2000, 4000, 5000]
    assert (summary.rows, summary.inserted) == (5000, 5000)
    assert len(customers(session_factory)) == 7


# --- Money ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("4312.50", "USD", 431250),
        ("4312.5", "usd", 431250),
        ("-10.00", "EUR", -1000),
        ("0.1", "EUR", 10),
        (".5", "GBP", 50),
        ("1200", "JPY", 1200),
        ("1200.00", "JPY", 1200),
        ("1.234", "KWD", 1234),
        ("15.5", "BHD", 15500),
        ("92233720368547758.07", "USD", 9223372036854775807),
    ],
)
def test_invoiced_amounts_are_exact_minor_units(session_factory, tmp_path, amount, currency, minor):
    path = write_csv(
        tmp_path / "recon.csv",
        [reconciliation_row(1, invoiced_amount=amount, currency=currency)],
        RECONCILIATION_COLUMNS,
    )
    import_file(session_factory, "reconciliations", path, now=NOW)
    with session_factory() as session:
        stored = session.get(Reconciliation, 1)
    assert (stored.invoiced_amount_minor, stored.currency) == (minor, currency.upper())


def test_minor_units_never_rounds():
    from decimal import Decimal

    from bot.money import to_minor_units as minor_units

    assert minor_units(Decimal("0.30"), "USD") == 30
    assert minor_units(Decimal("1E+2"), "USD") == 10000
    with pytest.raises(ValueError, match="more decimals than USD allows"):
        minor_units(Decimal("0.3000000000000000000000000000001"), "USD")


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("5000", "PYG", "invoiced 5,000 PYG"),  # zero decimals
        ("1200", "JPY", "invoiced ¥1,200"),
        ("4312.50", "USD", "invoiced $4,312.50"),  # two
        ("15.125", "BHD", "invoiced 15.125 BHD"),  # three
        ("1.234", "KWD", "invoiced 1.234 KWD"),
        ("1.2345", "CLF", "invoiced 1.2345 CLF"),  # four
    ],
)
def test_an_imported_amount_shows_on_the_card_as_written(
    session_factory, tmp_path, amount, currency, shown
):
    """The importer and the cards read one ISO 4217 table (bot/money.py): a round trip."""
    from bot.links import Links
    from bot.store.queries import load_reconciliation
    from bot.views.recon_card import build_recon_unfurl

    path = write_csv(
        tmp_path / "recon.csv",
        [reconciliation_row(1, invoiced_amount=amount, currency=currency)],
        RECONCILIATION_COLUMNS,
    )
    import_file(session_factory, "reconciliations", path, now=NOW)
    with session_factory() as session:
        record = load_reconciliation(session, 1)
    assert record is not None
    links = Links(
        customersdot_url="https://customers.example.test",
        zuora_url="https://zuora.example.test",
        version_app_url="https://version.example.test",
        salesforce_url="https://salesforce.example.test",
    )
    freshness = FreshnessRule().judge({"reconciliations": NOW}, ("reconciliations",), now=NOW)
    card = build_recon_unfurl(record, links, freshness=freshness)
    assert shown in json.dumps(card.blocks[0].to_dict(), ensure_ascii=False)


@pytest.mark.parametrize("currency", ["ABC", "XAU", "XXX"])
def test_a_currency_iso_4217_does_not_list_is_refused_with_its_line(
    session_factory, tmp_path, currency
):
    from bot.money import ISO_4217_PUBLISHED

    path = write_csv(
        tmp_path / "recon.csv",
        [reconciliation_row(1), reconciliation_row(2, currency=currency.lower())],
        RECONCILIATION_COLUMNS,
    )
    assert failure(session_factory, "reconciliations", path) == (
        f"line 3: currency '{currency.lower()}' is not an ISO 4217 currency with a minor unit"
        f" (list of {ISO_4217_PUBLISHED})"
    )
    assert snapshot(session_factory)["reconciliation"] == []


# --- Customers -----------------------------------------------------------------------------


def test_customers_are_keyed_by_salesforce_id_else_folded_name(session_factory, tmp_path):
    path = licenses_file(
        tmp_path,
        [
            license_row(1, company="Acme Inc.", issued_at="2025-01-01T00:00:00Z", **UNSUBSCRIBED),
            license_row(2, company="ACME, Inc", issued_at="2026-01-01T00:00:00Z", **UNSUBSCRIBED),
            license_row(3, company="Acme Corp", salesforce_account_id="0016g00000AcmeX"),
            license_row(4, company="Acmé Systems", **UNSUBSCRIBED),
        ],
    )
    import_licenses(session_factory, path)

    # `Acme Inc.` has a legal form other than `Acme Corp`'s: a different company (issue 12).
    assert customers(session_factory) == {
        "name:acme inc": ("ACME, Inc", "acme", None),
        "sf:0016g00000AcmeXAAR": ("Acme Corp", "acme", "0016g00000AcmeXAAR"),
        "name:acme systems": ("Acmé Systems", "acme systems", None),
    }


def test_customer_takes_the_name_of_its_newest_license(session_factory, tmp_path):
    sf = {"salesforce_account_id": "0016g00000Init"}
    rows = [
        license_row(10, company="Initech", issued_at="2024-01-01T00:00:00Z", **sf),
        license_row(11, company="Initech Labs", issued_at="2025-01-01T00:00:00Z", **sf),
        license_row(9, company="Initech Old", issued_at="", **sf),  # no date: oldest
    ]
    import_licenses(session_factory, licenses_file(tmp_path, rows))
    assert customers(session_factory)["sf:0016g00000Init"][0] == "Initech Labs"

    # Same issue time: the higher id is newer.
    rows.append(license_row(12, company="Initech Inc.", issued_at="2025-01-01T00:00:00Z", **sf))
    import_licenses(session_factory, licenses_file(tmp_path, rows, "v2.csv"))
    assert customers(session_factory)["sf:0016g00000Init"] == (
        "Initech Inc.",
        "initech",
        "0016g00000Init",
    )

    # The newest license is removed by a full import: the name falls back to the next one.
    import_licenses(
        session_factory,
        licenses_file(tmp_path, rows[:3], "v3.csv"),
        full=True,
        allow_mass_delete=True,
    )
    assert customers(session_factory)["sf:0016g00000Init"][0] == "Initech Labs"


def test_a_rekeyed_license_moves_customer_and_empties_are_removed(session_factory, tmp_path):
    import_licenses(
        session_factory,
        licenses_file(
            tmp_path,
            [
                license_row(1, company="Initek GmbH", contact_email="it@initek.de", **UNSUBSCRIBED),
                license_row(2, company="Acme", **UNSUBSCRIBED),
            ],
        ),
    )
    assert set(customers(session_factory)) == {"name:initek gmbh", "name:acme"}

    summary = import_licenses(
        session_factory,
        licenses_file(
            tmp_path,
            [
                license_row(
                    1,
                    company="Initek GmbH",
                    contact_email="it@initek.de",
                    salesforce_account_id="0016g00000Ink",
                    **UNSUBSCRIBED,
                )
            ],
            "rekeyed.csv",
        ),
    )

    assert (summary.updated, summary.customers_written, summary.customers_deleted) == (1, 1, 1)
    assert customers(session_factory) == {
        "sf:0016g00000Ink": ("Initek GmbH", "initek", "0016g00000Ink"),
        "name:acme": ("Acme", "acme", None),
    }


def test_unchanged_reimport_writes_no_customers(session_factory, tmp_path):
    path = licenses_file(
        tmp_path, [license_row(i, company=f"C {i}", **UNSUBSCRIBED) for i in range(1, 4)]
    )
    assert import_licenses(session_factory, path).customers_written == 3
    again = import_licenses(session_factory, path)
    assert (again.customers_written, again.customers_deleted) == (0, 0)


def test_summary_describes_itself(session_factory, tmp_path):
    summary = import_licenses(session_factory, licenses_file(tmp_path, [license_row(1)]))
    assert summary.describe() == (
        "licenses: 1 rows from licenses.csv: 1 inserted, 0 updated, 0 unchanged, 0 deleted; "
        "customers: 1 added or changed, 0 removed"
    )


# ---- a first load on PostgreSQL: the whole file in one COPY ----------------------------------


def _count_batch_flushes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many batches each import wrote the ordinary way (`ImportWriter.flush`)."""
    from bot.store.importing.writing import ImportWriter

    flushes: list[int] = []
    ordinary_flush = ImportWriter.flush

    def counting_flush(self: ImportWriter) -> None:
        flushes.append(len(self.batch))
        ordinary_flush(self)

    monkeypatch.setattr(ImportWriter, "flush", counting_flush)
    return flushes


def test_a_first_load_is_one_stream_and_stores_what_the_ordinary_path_does(
    session_factory, store_url, tmp_path, monkeypatch
):
    """A first load goes straight in, no batch staged or compared (PostgreSQL: one COPY;
    SQLite: one executemany, its indexes built after), and stores what the ordinary path
    stores: the same file again takes the ordinary path and changes nothing."""
    flushes = _count_batch_flushes(monkeypatch)
    rows = [
        license_row(i, company=f"Globex {i % 5} GmbH", **UNSUBSCRIBED)
        for i in range(1, BATCH_SIZE + 301)
    ]
    path = licenses_file(tmp_path, rows)
    first = import_licenses(session_factory, path)
    assert (first.rows, first.inserted) == (BATCH_SIZE + 300, BATCH_SIZE + 300)
    assert flushes == []
    loaded = snapshot(session_factory)

    # The same file again, now over a stored table: the ordinary path, which changes nothing.
    again = import_licenses(session_factory, path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, BATCH_SIZE + 300)
    assert snapshot(session_factory)["license"] == loaded["license"]
    assert snapshot(session_factory)["customer"] == loaded["customer"]
    assert len(customers(session_factory)) == 5


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ({"id": 17}, f"line {BATCH_SIZE + 101}: id 17 appears twice, on lines 18 and "),
        ({"user_count": "many"}, f"line {BATCH_SIZE + 101}: user_count 'many' "),
    ],
    ids=["key twice", "bad value"],
)
def test_a_first_load_that_fails_says_what_the_ordinary_path_says_and_stores_nothing(
    session_factory, tmp_path, bad_row, message
):
    """A key twice fails PostgreSQL's COPY only on the primary key, and a bad value stops it
    mid-stream; the load is undone and the file read the ordinary way, which names the lines.
    The store is as it was, and the next import works."""
    rows = [license_row(i, **UNSUBSCRIBED) for i in range(1, BATCH_SIZE + 201)]
    rows[BATCH_SIZE + 99] = {**rows[BATCH_SIZE + 99], **bad_row}  # line BATCH_SIZE + 101
    before = snapshot(session_factory)
    error = failure(session_factory, "licenses", licenses_file(tmp_path, rows))
    assert error.startswith(message), error
    assert snapshot(session_factory) == before
    good = [license_row(i, **UNSUBSCRIBED) for i in range(1, 11)]
    summary = import_licenses(session_factory, licenses_file(tmp_path, good, "good.csv"))
    assert summary.inserted == 10


def _license_indexes(factory: sessionmaker[Session]) -> list[dict[str, Any]]:
    with factory() as session:
        indexes = inspect(session.connection()).get_indexes("license")
    return sorted(indexes, key=lambda index: str(index["name"]))


def test_a_first_load_leaves_the_tables_indexes_as_they_were(session_factory, tmp_path):
    """SQLite drops the table's secondary indexes for a first load and builds them after it;
    a load that fails (here: a key twice, caught by the primary key mid-stream) puts them back
    with its savepoint. Either way the table ends with every index it had, over every row."""
    declared = _license_indexes(session_factory)
    assert {index["name"] for index in declared} >= {
        "ix_license_customer_key",
        "ix_license_zuora_subscription_id",
        "ix_license_contact_email_key",
    }
    rows = [license_row(i, **UNSUBSCRIBED) for i in range(1, BATCH_SIZE + 201)]
    rows[BATCH_SIZE + 99] = {**rows[BATCH_SIZE + 99], "id": 17}
    failure(session_factory, "licenses", licenses_file(tmp_path, rows))
    assert _license_indexes(session_factory) == declared

    rows[BATCH_SIZE + 99] = license_row(BATCH_SIZE + 100, **UNSUBSCRIBED)
    import_licenses(session_factory, licenses_file(tmp_path, rows, "good.csv"))
    assert _license_indexes(session_factory) == declared
    with session_factory() as session:
        by_email = select(func.count()).where(License.contact_email_key == "jane@acme.io")
        assert session.scalar(by_email) == len(rows)


def test_a_first_load_that_fails_leaves_nothing_in_its_transaction(session_factory, tmp_path):
    """What the ordinary path that follows relies on: a bulk load that failed (a key twice)
    has undone its rows, and on SQLite put its indexes back, inside the transaction that goes
    on. (After the whole import fails, its rollback would hide a missing undo.)"""
    rows = [license_row(i, **UNSUBSCRIBED) for i in range(1, 11)]
    path = licenses_file(tmp_path, [*rows, license_row(3, **UNSUBSCRIBED)])
    declared = _license_indexes(session_factory)
    spec = spec_for(ImportKind.LICENSES)
    session = session_factory()
    try:
        session.begin()
        writer = _open_writer(session, spec, full=False)
        assert writer.can_bulk_load()
        with closing(read_records(path).rows(spec)) as cells:
            parsed = ((line, writer.parse(line, row)) for line, row in cells)
            assert writer.bulk_load(parsed) is False
        assert writer.rows == 0
        assert session.scalar(select(func.count()).select_from(License)) == 0
        indexes = inspect(session.connection()).get_indexes("license")
        assert sorted(indexes, key=lambda index: str(index["name"])) == declared
    finally:
        session.rollback()
        session.close()


def test_a_first_load_reports_its_progress(session_factory, tmp_path):
    rows = [license_row(i, **UNSUBSCRIBED) for i in range(1, 2 * BATCH_SIZE + 2)]
    progress: list[int] = []
    import_licenses(session_factory, licenses_file(tmp_path, rows), on_progress=progress.append)
    assert progress == [BATCH_SIZE, 2 * BATCH_SIZE, 2 * BATCH_SIZE + 1]
