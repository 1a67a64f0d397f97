from __future__ import annotations

from bot.config import Settings
from bot.links import Links


def test_links_follow_the_design_formats():
    links = Links.from_settings(
        Settings(
            customersdot_url="https://customers.example.test/",
            zuora_url="https://zuora.example.test",
            version_app_url="https://version.example.test",
            salesforce_url="https://sf.example.test",
        )
    )
    assert links.license(12345) == "https://customers.example.test/admin/license/12345"
    assert links.reconciliation(7) == "https://customers.example.test/admin/reconciliation/7"
    sub = "2c92a0fd5a2c3b1e015a3c4d5e6f7a8b"
    assert links.zuora_subscription(sub) == (
        f"https://zuora.example.test/apps/Subscription.do?method=view&id={sub}"
    )
    assert links.zuora_account("acc1") == (
        "https://zuora.example.test/apps/CustomerAccount.do?method=view&id=acc1"
    )
    assert links.license_hostnames(12345) == "https://version.example.test/licenses/12345"
    assert links.salesforce_account("0016100000AbCdE") == "https://sf.example.test/0016100000AbCdE"


def test_imported_ids_cannot_change_the_shape_of_a_url():
    links = Links.from_settings(Settings())
    assert links.zuora_subscription("abc&method=delete") == (
        "https://www.zuora.com/apps/Subscription.do?method=view&id=abc%26method%3Ddelete"
    )
    assert links.salesforce_account("../evil") == "https://gitlab.my.salesforce.com/..%2Fevil"
