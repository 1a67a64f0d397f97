"""The key the importer stores for a license before the customer rule runs
(`provisional_customer_key`) and the key the rule gives it (`regroup`) state one precedence,
ANCHOR_EVIDENCE's: for a license no other row moves, they agree, so `regroup` rewrites nothing.
Both engines."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bot.store.customers import regroup
from bot.store.importing.kinds import ImportKind, convert_cells, spec_for
from bot.store.models import License

SALESFORCE_ID = "0015g00000AbCdEAAZ"

# One license per kind of evidence, each alone: no name, domain or account in common.
LICENSES: dict[str, dict[str, str]] = {
    f"sf:{SALESFORCE_ID}": {
        "id": "1",
        "company": "Acme Corp",
        "contact_email": "wile@acme.example",
        "salesforce_account_id": SALESFORCE_ID,
        "zuora_account_id": "ZA-ACME",
        "zuora_subscription_name": "A-S00000001",
    },
    "za:ZA-GLOBEX": {
        "id": "2",
        "company": "Globex",
        "contact_email": "hank@globex.example",
        "zuora_account_id": "ZA-GLOBEX",
        "zuora_subscription_name": "A-S00000002",
    },
    "sub:A-S00000003": {
        "id": "3",
        "company": "Umbrella Corporation",
        "contact_email": "albert@umbrella.example",
        "zuora_subscription_name": "A-S00000003",
        "zuora_subscription_id": "8a8082c45c9a1b2c015ca0f3b1d2e3f4",
    },
    "sub:8a8082c45c9a1b2c015ca0f3b1d2e3f5": {
        "id": "4",
        "company": "Soylent",
        "contact_email": "sol@soylent.example",
        "zuora_subscription_id": "8a8082c45c9a1b2c015ca0f3b1d2e3f5",
    },
    "name:kramerica": {"id": "5", "company": "Kramerica", "contact_email": "k@kramerica.example"},
    "domain:initech.example": {"id": "6", "contact_email": "bill@initech.example"},
}


def _stored_row(cells: dict[str, str]) -> dict[str, Any]:
    spec = spec_for(ImportKind.LICENSES)
    values = {"plan": "premium", "trial": "false", **cells}
    row = convert_cells(spec, 2, [values.get(field.name) for field in spec.fields])
    return dict(zip(spec.columns, row, strict=True))


def test_the_importers_key_is_the_rules_for_a_license_alone(session: Session) -> None:
    rows = [_stored_row(cells) for cells in LICENSES.values()]
    assert [row["customer_key"] for row in rows] == list(LICENSES)
    with session.begin():
        session.execute(insert(License), rows)
        counts = regroup(session.connection())
        stored = {
            row.id: row.customer_key
            for row in session.execute(select(License.id, License.customer_key))
        }
    assert counts.licenses_moved == 0
    assert stored == {int(cells["id"]): key for key, cells in LICENSES.items()}
