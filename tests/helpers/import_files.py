"""Export files for import tests: rows with every column, written as the exports write them,
and the store read back (every row, the customers, leftover temporary tables)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.store.importing import ImportFailed, ImportKind, import_columns, import_file
from bot.store.models import Customer, Host, ImportRun, License, Reconciliation

LICENSE_COLUMNS = list(import_columns(ImportKind.LICENSES))
RECONCILIATION_COLUMNS = list(import_columns(ImportKind.RECONCILIATIONS))
HOST_COLUMNS = list(import_columns(ImportKind.HOSTS))
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SUBSCRIPTION_ID = "2c92a0fe7a3f1d2b017a4e5c6d7e8f90"


def license_row(license_id: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": license_id,
        "company": "Acme Inc.",
        "contact_name": "Jane Doe",
        "contact_email": "jane@acme.io",
        "plan": "premium",
        "user_count": 50,
        "trial": "false",
        "issued_at": "2026-01-10T09:30:00Z",
        "starts_at": "2026-01-10",
        "expires_at": "2027-01-10",
        "license_type": "cloud",
        "zuora_subscription_id": SUBSCRIPTION_ID,
        "zuora_subscription_name": "A-S00012345",
        "previous_user_count": "",
        "trueup_quantity": "",
        "salesforce_account_id": "",
        "zuora_account_id": "",
    }
    row.update(overrides)
    return row


# A license of no subscription and no account: the customer rule groups it by its name alone.
UNSUBSCRIBED = {"zuora_subscription_id": "", "zuora_subscription_name": ""}


def reconciliation_row(reconciliation_id: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": reconciliation_id,
        "customer": "Acme Inc.",
        "subscription_name": "A-S00012345",
        "zuora_subscription_id": SUBSCRIPTION_ID,
        "status": "processed",
        "reconcile_on": "2026-04-10",
        "reconcile_done_at": "2026-04-10T06:00:00Z",
        "skip_reason": "",
        "user_count": 55,
        "invoiced_amount": "4312.50",
        "currency": "USD",
        "error_message": "",
    }
    row.update(overrides)
    return row


def write_csv(
    path: Path, rows: Iterable[dict[str, Any]], columns: list[str] = LICENSE_COLUMNS
) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def licenses_file(
    tmp_path: Path, rows: Iterable[dict[str, Any]], name: str = "licenses.csv"
) -> Path:
    return write_csv(tmp_path / name, rows)


def import_licenses(factory: sessionmaker[Session], path: Path, **kwargs: Any) -> Any:
    return import_file(factory, ImportKind.LICENSES, path, now=NOW, **kwargs)


def failure(factory: sessionmaker[Session], kind: str, path: Path, **kwargs: Any) -> str:
    with pytest.raises(ImportFailed) as raised:
        import_file(factory, kind, path, now=NOW, **kwargs)
    return str(raised.value)


def snapshot(factory: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every imported table, for "nothing changed" comparisons."""
    tables = {
        "license": License.__table__,
        "customer": Customer.__table__,
        "reconciliation": Reconciliation.__table__,
        "host": Host.__table__,
        "import_run": ImportRun.__table__,
    }
    with factory() as session:
        return {
            name: sorted(tuple(row) for row in session.execute(select(table)).all())
            for name, table in tables.items()
        }


def customers(factory: sessionmaker[Session]) -> dict[str, tuple[str, str, str | None]]:
    with factory() as session:
        return {
            c.key: (c.name, c.search_key, c.salesforce_account_id)
            for c in session.scalars(select(Customer))
        }


def leftover_tables(engine: Engine) -> list[str]:
    """Temporary tables that outlived an import (on a pooled connection, or on the server)."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            query = "SELECT relname FROM pg_class WHERE relpersistence = 't' AND relkind = 'r'"
        else:
            query = "SELECT name FROM sqlite_temp_master WHERE type = 'table'"
        return sorted(connection.execute(text(query)).scalars())
