"""URL builders for CustomersDot, Zuora, version.gitlab.com, Salesforce (docs/ARCHITECTURE.md: where each rule lives)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from bot.config import Settings


@dataclass(frozen=True)
class Links:
    customersdot_url: str
    zuora_url: str
    version_app_url: str
    salesforce_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Links:
        return cls(
            customersdot_url=settings.customersdot_url.rstrip("/"),
            zuora_url=settings.zuora_url.rstrip("/"),
            version_app_url=settings.version_app_url.rstrip("/"),
            salesforce_url=settings.salesforce_url.rstrip("/"),
        )

    def license(self, license_id: int) -> str:
        return f"{self.customersdot_url}/admin/license/{int(license_id)}"

    def reconciliation(self, reconciliation_id: int) -> str:
        return f"{self.customersdot_url}/admin/reconciliation/{int(reconciliation_id)}"

    def zuora_subscription(self, zuora_subscription_id: str) -> str:
        return f"{self.zuora_url}/apps/Subscription.do?method=view&id={_segment(zuora_subscription_id)}"

    def zuora_account(self, zuora_account_id: str) -> str:
        return (
            f"{self.zuora_url}/apps/CustomerAccount.do?method=view&id={_segment(zuora_account_id)}"
        )

    def license_hostnames(self, license_id: int) -> str:
        return f"{self.version_app_url}/licenses/{int(license_id)}"

    def salesforce_account(self, salesforce_account_id: str) -> str:
        return f"{self.salesforce_url}/{_segment(salesforce_account_id)}"


def _segment(value: str) -> str:
    # Ids come from imported files; quoting keeps a stray character from changing the URL's shape.
    return quote(value.strip(), safe="")
