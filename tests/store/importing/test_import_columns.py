"""Each kind's stored columns come from its table (bot/store/models.py), not from a list of their
own: a column is a file field of its name, derived from the file's values, or declared not
imported. A column added to a model and forgotten by the importer fails here."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, String, Table

from bot.records import LicenseRecord
from bot.store.importing import ImportKind
from bot.store.importing.kinds import convert_cells, spec_for
from bot.store.models import License
from bot.store.queries import _LICENSE_READ


@pytest.mark.parametrize("kind", list(ImportKind))
def test_every_stored_column_is_imported_or_declared_not(kind: ImportKind) -> None:
    spec = spec_for(kind)
    table_columns = [column.key for column in spec.table.c]
    assert spec.unaccounted_columns == ()
    assert spec.not_imported <= set(table_columns)
    assert set(spec.derived.columns) <= set(spec.columns)
    assert set(spec.columns) | spec.not_imported == set(table_columns)
    assert set(spec.derived.inputs) <= spec.field_names


def test_a_new_model_column_the_import_does_not_know_fails() -> None:
    spec = spec_for(ImportKind.LICENSES)
    grown = Table(
        "license",
        MetaData(),
        *(Column(column.key, column.type) for column in spec.table.c),
        Column("renewal_owner", String(64)),
    )
    unaware = dataclasses.replace(spec, table=grown)
    assert unaware.unaccounted_columns == ("renewal_owner",)
    with pytest.raises(ValueError, match="renewal_owner"):
        unaware.to_row  # noqa: B018 (built on first use: this is the check)
    declared = dataclasses.replace(spec, table=grown, not_imported=frozenset({"renewal_owner"}))
    assert "renewal_owner" not in declared.columns
    assert declared.unaccounted_columns == ()


def test_a_license_row_is_built_by_column_name() -> None:
    """Every file value lands in the column of its name, and each derived column holds what it
    is derived from (a distinct value per field: a value in the wrong column shows)."""
    spec = spec_for(ImportKind.LICENSES)
    cells: dict[str, Any] = {
        "id": "42",
        "company": "Initech, Inc.",
        "contact_name": "Bill Lumbergh",
        "contact_email": "Bill@Initech.example",
        "plan": None,
        "user_count": "10",
        "trial": "false",
        "issued_at": "2026-01-02T03:04:05Z",
        "starts_at": "2026-01-03",
        "expires_at": "2027-01-03",
        "license_type": "cloud",
        "zuora_subscription_id": "2c92a0fd5a1e2d6b015a2e3f4b5c6d7e",
        "zuora_subscription_name": "a-s00012345",
        "previous_user_count": "8",
        "trueup_quantity": "2",
        "salesforce_account_id": None,
        "zuora_account_id": None,
        "license_md5": "0123456789abcdef0123456789abcdef",
        "notes": "renewal pending",
        "plan_name": "Premium",
    }
    assert set(cells) == spec.field_names
    row = convert_cells(spec, 2, [cells[field.name] for field in spec.fields])
    stored = dict(zip(spec.columns, row, strict=True))
    assert stored == {
        "id": 42,
        "customer_key": "sub:A-S00012345",
        "company": "Initech, Inc.",
        "contact_name": "Bill Lumbergh",
        "contact_email": "Bill@Initech.example",
        "contact_email_key": "bill@initech.example",
        "contact_email_domain": "initech.example",
        "email_domain_label": "initech",
        "contact_search_key": "bill lumbergh",
        "plan": "premium",
        "user_count": 10,
        "previous_user_count": 8,
        "trueup_quantity": 2,
        "trial": False,
        "license_type": "cloud",
        "issued_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "starts_at": date(2026, 1, 3),
        "expires_at": date(2027, 1, 3),
        "zuora_subscription_id": "2c92a0fd5a1e2d6b015a2e3f4b5c6d7e",
        "zuora_subscription_name": "A-S00012345",
        "salesforce_account_id": None,
        "zuora_account_id": None,
        "license_md5": "0123456789abcdef0123456789abcdef",
        "notes": "renewal pending",
        "company_folded": "initech inc",
        "company_search_key": "initech",
    }


def test_the_license_record_reads_columns_the_card_statements_select() -> None:
    """LicenseRecord's fields are read by name (bot.store.queries.license_record): each is a
    License column or a column the lookup path's statements add."""
    selected = {column.key for column in License.__table__.c} | {
        getattr(column, "name", None) for column in _LICENSE_READ
    }
    assert {field.name for field in dataclasses.fields(LicenseRecord)} <= selected
