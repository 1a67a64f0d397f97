"""Card builders: Slack's limits, the words salespeople read, privacy and escaping.

Every message goes through `check_message`, which calls slack_sdk's `to_dict()` (it raises
SlackObjectFormationError on most limits) and then checks the limits `to_dict()` does not.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from bot import ids
from bot.licensing import summarise_licenses
from bot.outcomes import RefusalReason
from bot.records import (
    SAME_DOMAIN_SHOWN,
    CustomerChoice,
    CustomerLicenses,
    CustomerReconciliations,
    CustomerRecord,
    CustomerStanding,
    HostRecord,
    LicenseRecord,
    RankedLicense,
    ReconciliationRecord,
    SameDomainLicense,
    SeatUsage,
    Standing,
)
from bot.search import QueryKind, parse_query
from bot.store.queries import LICENSE_CARD_KINDS
from bot.views.blocks import (
    DIVIDER,
    button_text,
    escape_text,
    format_money,
    link,
    plan_label,
    relative_dates,
)
from bot.views.license_card import (
    HISTORY_PAGE_LINES,
    HISTORY_SHOWN,
    MORE_IN_FORCE_SHOWN,
    SUBSCRIPTIONS_SHOWN,
    TRIALS_SHOWN,
    build_license_card,
    build_license_history,
    build_license_unfurl,
    history_value,
    read_history_value,
    seats_in_use_words,
)
from bot.views.notices import (
    build_notice,
    build_refusal,
    build_usage,
    unsent_email_notice,
    with_notice,
)
from bot.views.pick_list import build_not_found, build_pick_list
from bot.views.recon_card import build_recon_card
from bot.views.text import render_message
from tests.helpers.cards import (
    LINKS,
    check_message,
    freshness_of,
    mrkdwn_texts,
    texts_of_block,
)

TODAY = date(2026, 2, 11)
DATA_AS_OF = datetime(2026, 2, 11, 6, 0, tzinfo=UTC)
SUBSCRIPTION_ID = "2c92a0fe6b1f2b48016b2c0e3f7a1234"
FRESH = freshness_of({"licenses": DATA_AS_OF})
# Every kind of the license card three days old: the banner on top of the largest cards too.
STALE = freshness_of(dict.fromkeys(LICENSE_CARD_KINDS, DATA_AS_OF - timedelta(days=3)))
EMAIL = "jane.doe@acme.io"
HOSTILE = "<!channel> <@U999> <https://evil.example|click> @here & @everyone | co"


def dumped(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# Test data


def make_license(license_id: int, **overrides: Any) -> LicenseRecord:
    values: dict[str, Any] = {
        "id": license_id,
        "company": "Acme Corp",
        "plan": "premium",
        "trial": False,
        "contact_name": "Jane Doe",
        "contact_email": EMAIL,
        "user_count": 50,
        "license_type": "cloud",
        "issued_at": datetime(2025, 2, 27, 14, 3, tzinfo=UTC),
        "starts_at": date(2025, 3, 1),
        "expires_at": date(2026, 3, 1),
        "zuora_subscription_id": SUBSCRIPTION_ID,
        "zuora_subscription_name": "A-S00012345",
        "salesforce_account_id": "0016100000XyZ12",
    }
    values.update(overrides)
    # The subscription as the store reads it (bot.store.queries): the row's, for a paid license.
    values.setdefault(
        "subscription", None if values["trial"] else values.get("zuora_subscription_name")
    )
    return LicenseRecord(**values)


def make_customer_licenses(
    *,
    lead: RankedLicense | None,
    others: tuple[RankedLicense, ...] = (),
    trials: tuple[RankedLicense, ...] = (),
    hosts: tuple[HostRecord, ...] = (),
    name: str = "Acme Corp",
    key: str = "sf:0016100000XyZ12",
    salesforce_account_id: str | None = "0016100000XyZ12",
    data_as_of: datetime | None = DATA_AS_OF,
) -> CustomerLicenses:
    """`data_as_of`: the licenses' data time (the subscriptions and usage pings never
    imported)."""
    """The card's data for these licenses, ordered by the active-license rule as the store's
    read does (bot.licensing); the standings given are the ones the dates give on TODAY."""
    hosts_by_license = {lead.license.id: hosts} if lead is not None and hosts else {}
    records = [ranked.license for ranked in ((lead,) if lead else ()) + others + trials]
    overview = summarise_licenses(records, TODAY, hosts_by_license)
    given = {ranked.license.id: ranked.standing for ranked in ((lead,) if lead else ()) + others}
    given.update({ranked.license.id: ranked.standing for ranked in trials})
    assert {r.license.id: r.standing for r in (*overview.paid, *overview.trials)} == given, (
        "a test's standings must be the ones its dates give"
    )
    return CustomerLicenses(
        customer=CustomerRecord(key=key, name=name, salesforce_account_id=salesforce_account_id),
        overview=overview,
        hosts_by_license=hosts_by_license,
        data_times={"licenses": data_as_of},
        today=TODAY,
    )


def make_host(number: int, pinged_days_ago: int = 2) -> HostRecord:
    return HostRecord(
        hostname=f"gitlab{number}.acme.io",
        license_id=1234,
        gitlab_version="16.4.1",
        active_user_count=48,
        historical_max_users=50,
        last_ping_at=datetime(2026, 2, 11, 5, 0, tzinfo=UTC) - timedelta(days=pinged_days_ago),
    )


def normal_customer(**overrides: Any) -> CustomerLicenses:
    lead = RankedLicense(
        make_license(1234, previous_user_count=40, trueup_quantity=5), Standing.ACTIVE
    )
    others = (
        RankedLicense(
            make_license(1100, plan="starter", user_count=20, expires_at=date(2025, 2, 28)),
            Standing.EXPIRED,
        ),
    )
    trials = (
        RankedLicense(
            make_license(
                900,
                plan="ultimate",
                trial=True,
                starts_at=date(2024, 2, 1),
                expires_at=date(2024, 3, 2),
                user_count=100,
            ),
            Standing.EXPIRED,
        ),
    )
    values: dict[str, Any] = {
        "lead": lead,
        "others": others,
        "trials": trials,
        "hosts": (make_host(1), make_host(2, pinged_days_ago=0)),
    }
    values.update(overrides)
    return make_customer_licenses(**values)


def license_card(data: CustomerLicenses, **options: Any) -> dict[str, Any]:
    options.setdefault("include_contact_emails", True)
    options.setdefault("freshness", freshness_of(data.data_times))
    return check_message(build_license_card(data, LINKS, **options))


def block_with_id(message: dict[str, Any], block_id: str) -> dict[str, Any]:
    matches = [block for block in message["blocks"] if block.get("block_id") == block_id]
    assert len(matches) == 1, f"expected one block {block_id!r}"
    return matches[0]


def all_text(message: dict[str, Any]) -> str:
    texts = [message["text"]]
    for block in message["blocks"]:
        texts += [text for _kind, text in texts_of_block(block)]
    return "\n".join(texts)


# ---------------------------------------------------------------------------------------------
# License card


def test_the_card_names_the_account_as_in_salesforce_where_known() -> None:
    data = normal_customer()
    with_account = replace(
        data, customer=replace(data.customer, account_name="Acme Corporation <EMEA>")
    )
    counts = license_card(with_account)["blocks"][1]["elements"][0]["text"]
    assert (
        "<https://salesforce.example.test/0016100000XyZ12|"
        "Salesforce account: Acme Corporation &lt;EMEA&gt;>" in counts
    )
    # A Zuora account's name without a Salesforce id: named, not linked.
    unlinked = replace(
        with_account,
        customer=replace(with_account.customer, salesforce_account_id=None),
    )
    counts = license_card(unlinked)["blocks"][1]["elements"][0]["text"]
    assert counts.endswith("Salesforce account: Acme Corporation &lt;EMEA&gt;")


def test_normal_customer_card_leads_with_the_active_license() -> None:
    message = license_card(normal_customer())
    blocks = message["blocks"]
    text = all_text(message)

    assert blocks[0] == {
        "type": "header",
        "block_id": ids.CARD_HEADER_BLOCK,
        "text": {"type": "plain_text", "text": "Acme Corp"},
    }
    counts = blocks[1]["elements"][0]["text"]
    assert counts.startswith("2 licenses · 1 trial · ")
    assert "<https://salesforce.example.test/0016100000XyZ12|Salesforce account>" in counts

    lead = blocks[2]
    assert "Active license" in lead["text"]["text"]
    assert (
        "<https://customers.example.test/admin/license/1234|#1234> · A-S00012345"
        in (lead["text"]["text"])
    )
    assert "Premium · 50 seats · expires in 18 days" in lead["text"]["text"]
    # Its two servers reported 48 users each, against 50 seats bought.
    assert "48 of 50 seats in use · historical max 50" in lead["text"]["text"]
    fields = [field["text"] for field in lead["fields"]]
    assert "*Seats*\n50 seats, was 40, 5 true-ups" in fields
    assert "*Type*\nCloud" in fields
    assert "*Starts*\n2025-03-01" in fields
    assert "*Expires*\n2026-03-01" in fields
    assert "*Issued*\n2025-02-27 14:03 UTC" in fields
    assert f"*Sent to*\nJane Doe\n<mailto:{EMAIL}|{EMAIL}>" in fields
    assert not [field for field in fields if field.startswith("*Subscription*")]  # its heading

    assert (
        "• <https://version.example.test/licenses/1234|gitlab2.acme.io> · 16.4.1 · "
        "48 active users · reported today"
    ) in text
    assert "reported 2 days ago" in text
    # The subscription's older license, with who received it and when it was issued.
    assert (
        "*A-S00012345*\n• <https://customers.example.test/admin/license/1100|#1100> Starter · "
        "20 seats · 2025-03-01 → 2025-02-28 (expired) · "
        f"sent to Jane Doe <mailto:{EMAIL}|{EMAIL}> · issued 2025-02-27 14:03 UTC"
    ) in text
    assert (
        "• <https://customers.example.test/admin/license/900|#900> Ultimate trial · 100 users · "
        "2024-02-01 → 2024-03-02 · expired\n"
        f"      requested 2025-02-27 14:03 UTC by Jane Doe <mailto:{EMAIL}|{EMAIL}>"
    ) in text
    assert block_with_id(message, ids.FOOTER_BLOCK)["elements"][0]["text"] == (
        f"Licenses as of <!date^{int(DATA_AS_OF.timestamp())}^{{ago}}|2 hours ago> · "
        "no subscriptions data · no usage pings data"
    )
    assert message["text"] == "Acme Corp: Premium · 50 seats · expires in 18 days"


def test_link_buttons_open_zuora_customersdot_and_hostnames() -> None:
    message = license_card(normal_customer())
    buttons = block_with_id(message, ids.CARD_LINKS_BLOCK)["elements"]
    assert [(b["text"]["text"], b["url"], b["action_id"]) for b in buttons] == [
        (
            "Zuora subscription",
            f"https://zuora.example.test/apps/Subscription.do?method=view&id={SUBSCRIPTION_ID}",
            ids.link_action_id("zuora_subscription"),
        ),
        (
            "CustomersDot",
            "https://customers.example.test/admin/license/1234",
            ids.link_action_id("customersdot_license"),
        ),
        (
            "Hostnames",
            "https://version.example.test/licenses/1234",
            ids.link_action_id("license_hostnames"),
        ),
    ]
    assert all(ids.LINK_ACTION_PATTERN.match(b["action_id"]) for b in buttons)


def test_no_zuora_button_without_a_subscription_id() -> None:
    lead = RankedLicense(make_license(1234, zuora_subscription_id=None), Standing.ACTIVE)
    message = license_card(make_customer_licenses(lead=lead))
    labels = [b["text"]["text"] for b in block_with_id(message, ids.CARD_LINKS_BLOCK)["elements"]]
    assert labels == ["CustomersDot", "Hostnames"]


def test_share_button_carries_the_customer_key() -> None:
    message = license_card(normal_customer())
    share = block_with_id(message, ids.CARD_ACTIONS_BLOCK)["elements"]
    assert share == [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": "Share in channel"},
            "action_id": ids.LICENSE_SHARE_ACTION,
            "value": "sf:0016100000XyZ12",
        },
        {
            "type": "button",
            "text": {"type": "plain_text", "text": "Send to me"},
            "action_id": ids.LICENSE_SEND_TO_ME_ACTION,
            "value": "sf:0016100000XyZ12",
        },
    ]


def test_shared_card_names_who_shared_it_and_has_no_share_button() -> None:
    message = license_card(
        normal_customer(), include_contact_emails=False, shareable=False, shared_by_user_id="U123"
    )
    assert not [b for b in message["blocks"] if b.get("block_id") == ids.CARD_ACTIONS_BLOCK]
    assert "Shared by <@U123>" in all_text(message)


def test_shared_by_that_is_not_a_user_id_is_escaped() -> None:
    message = license_card(normal_customer(), shareable=False, shared_by_user_id="<!channel>")
    text = all_text(message)
    assert "Shared by &lt;!channel&gt;" in text
    assert "<!channel>" not in text


def test_contact_email_only_when_asked_for() -> None:
    without = license_card(normal_customer(), include_contact_emails=False)
    assert EMAIL not in dumped(without)
    assert "mailto:" not in dumped(without)
    assert "Jane Doe" in dumped(
        without
    )  # the name is who it was sent to; only the email is PII-gated

    with_emails = license_card(normal_customer(), include_contact_emails=True)
    assert f"<mailto:{EMAIL}|{EMAIL}>" in dumped(with_emails)
    # The notification text never carries contact details.
    assert EMAIL not in with_emails["text"] and "Jane" not in with_emails["text"]


def test_no_hosts_says_so() -> None:
    message = license_card(normal_customer(hosts=()))
    assert "*Servers*: no usage data." in all_text(message)
    assert "seats in use" not in all_text(message)
    gitlab_com = RankedLicense(make_license(1234, plan="gitlab_com_premium"), Standing.ACTIVE)
    message = license_card(make_customer_licenses(lead=gitlab_com))
    assert "*Servers*: no usage data (GitLab.com subscriptions send none)." in all_text(message)


def test_many_hosts_show_the_most_recent_five_then_a_link() -> None:
    hosts = tuple(make_host(number, pinged_days_ago=number) for number in range(12))
    message = license_card(normal_customer(hosts=hosts))
    text = all_text(message)
    assert "*Servers* (12)" in text
    shown = re.findall(r"\|(gitlab\d+)\.acme\.io>", text)
    assert shown == ["gitlab0", "gitlab1", "gitlab2", "gitlab3", "gitlab4"]
    assert "and 7 more on <https://version.example.test/licenses/1234|version.gitlab.com>" in text


def test_only_trials_says_no_paid_license_and_lists_them() -> None:
    trials = tuple(
        RankedLicense(
            make_license(
                500 + n,
                trial=True,
                plan="ultimate",
                starts_at=date(2025, n + 1, 1),
                expires_at=date(2025, n + 1, 28),
                user_count=50,
            ),
            Standing.EXPIRED,
        )
        for n in range(3)
    )
    message = license_card(make_customer_licenses(lead=None, trials=trials))
    text = all_text(message)
    assert "No paid license yet" in text
    assert "0 licenses · 3 trials" in text
    assert "*3 trials*, newest first" in text
    assert (
        "• <https://customers.example.test/admin/license/500|#500> Ultimate trial · 50 users · "
        "2025-01-01 → 2025-01-28 · expired"
    ) in text
    assert not [b for b in message["blocks"] if b.get("block_id") == ids.CARD_LINKS_BLOCK]
    assert message["text"] == "Acme Corp: no paid license yet, 3 trials"


def test_a_customer_without_licenses_says_so() -> None:
    message = license_card(make_customer_licenses(lead=None))
    assert message["blocks"][2]["text"]["text"] == "*No licenses.*"
    assert message["text"] == "Acme Corp: no licenses"


def test_many_trials_are_capped() -> None:
    trials = tuple(
        RankedLicense(
            make_license(3000 + n, trial=True, expires_at=date(2025, 4, 1)), Standing.EXPIRED
        )
        for n in range(40)
    )
    message = license_card(normal_customer(trials=trials))
    text = all_text(message)
    assert "*40 trials*, newest first" in text
    assert text.count("/admin/license/3") == TRIALS_SHOWN
    assert f"…and {40 - TRIALS_SHOWN} more trials" in text
    # Nothing cut silently: every license is a click away.
    buttons = block_with_id(message, ids.CARD_ACTIONS_BLOCK)["elements"]
    assert buttons[-1]["text"]["text"] == "Show all licenses"
    assert buttons[-1]["value"] == history_value("sf:0016100000XyZ12", 0)


def test_two_hundred_licenses_with_huge_names_fit_in_one_message() -> None:
    huge = "Ü" * 250 + "<b>" * 84  # 500 characters, some of which grow when escaped
    assert len(huge) >= 500

    def huge_license(license_id: int, **overrides: Any) -> LicenseRecord:
        return make_license(
            license_id,
            company=huge,
            contact_name=huge,
            contact_email=huge + "@acme.io",
            plan=huge,
            license_type=huge,
            zuora_subscription_name=huge,
            zuora_subscription_id=huge,
            **overrides,
        )

    lead = RankedLicense(huge_license(10_000), Standing.ACTIVE)
    lapsed = date(2025, 1, 1)
    others = tuple(
        RankedLicense(huge_license(9_999 - n, expires_at=lapsed), Standing.EXPIRED)
        for n in range(180)
    )
    trials = tuple(
        RankedLicense(huge_license(5_000 + n, trial=True, expires_at=lapsed), Standing.EXPIRED)
        for n in range(19)
    )
    hosts = tuple(
        HostRecord(hostname=huge, license_id=10_000, gitlab_version=huge) for _ in range(50)
    )
    data = make_customer_licenses(
        lead=lead, others=others, trials=trials, hosts=hosts, name=huge, key="name:" + "k" * 290
    )
    message = license_card(data, freshness=STALE)
    assert len(message["blocks"]) <= 50
    assert message["blocks"][1]["block_id"] == ids.STALE_BLOCK
    assert message["blocks"][0]["text"]["text"].endswith("…")
    assert len(message["blocks"][0]["text"]["text"]) == 150
    text = all_text(message)
    assert "181 licenses · 19 trials · " in text  # counts include the current license
    assert "181 licenses · 19 trials" in text
    assert f"…and {180 - HISTORY_SHOWN} more licenses" in text
    assert f"…and {19 - TRIALS_SHOWN} more trials" in text
    assert "Show all licenses" in text


def test_lead_in_grace_and_expired_and_upcoming_read_in_words() -> None:
    grace = RankedLicense(make_license(1, expires_at=TODAY - timedelta(days=3)), Standing.IN_GRACE)
    text = all_text(license_card(make_customer_licenses(lead=grace)))
    assert "Expired, in grace period" in text
    assert "expired 3 days ago, in grace" in text

    expired = RankedLicense(make_license(1, expires_at=date(2025, 12, 10)), Standing.EXPIRED)
    text = all_text(license_card(make_customer_licenses(lead=expired)))
    assert "No active license" in text and "expired 2 months ago" in text

    upcoming = RankedLicense(
        make_license(1, starts_at=TODAY + timedelta(days=5)), Standing.UPCOMING
    )
    text = all_text(license_card(make_customer_licenses(lead=upcoming)))
    assert "Upcoming license" in text and "starts in 5 days" in text


def test_the_footer_says_each_kinds_age_in_its_own_zone_and_a_kind_never_imported() -> None:
    message = license_card(normal_customer(data_as_of=None))
    footer = block_with_id(message, ids.FOOTER_BLOCK)
    assert footer["elements"][0]["text"] == (
        "No licenses data · no subscriptions data · no usage pings data"
    )
    # Never imported is no data, not stale.
    assert ids.STALE_BLOCK not in [block.get("block_id") for block in message["blocks"]]

    berlin_morning = datetime(2026, 2, 11, 7, 0, tzinfo=timezone(timedelta(hours=1)))
    data = replace(
        normal_customer(),
        data_times={
            "licenses": berlin_morning,
            "subscriptions": DATA_AS_OF - timedelta(hours=3),
            "hosts": DATA_AS_OF - timedelta(minutes=90),
        },
    )
    message = license_card(data, freshness=freshness_of(data.data_times))
    footer = block_with_id(message, ids.FOOTER_BLOCK)
    at = int(DATA_AS_OF.timestamp())
    assert footer["elements"][0]["text"] == (
        f"Licenses as of <!date^{at}^{{ago}}|2 hours ago> · "
        f"subscriptions <!date^{at - 3 * 3600}^{{ago}}|5 hours ago> · "
        f"usage pings <!date^{at - 90 * 60}^{{ago}}|3 hours ago>"
    )


def test_licensee_shown_only_when_it_differs_from_the_customer() -> None:
    same = license_card(normal_customer())
    assert "*Licensee*" not in all_text(same)
    lead = RankedLicense(make_license(1234, company="Acme Europe GmbH"), Standing.ACTIVE)
    different = license_card(make_customer_licenses(lead=lead))
    assert "*Licensee*\nAcme Europe GmbH" in all_text(different)


def test_hostile_company_contact_and_plan_never_become_markup() -> None:
    lead = RankedLicense(
        make_license(
            1234,
            company=HOSTILE,
            contact_name=HOSTILE,
            contact_email="x|y>@evil.example",
            plan=HOSTILE,
            zuora_subscription_name=HOSTILE,
        ),
        Standing.ACTIVE,
    )
    host = HostRecord(hostname="`<!here>`", license_id=1234, gitlab_version=HOSTILE)
    other = RankedLicense(
        make_license(99, zuora_subscription_name="A|B", expires_at=date(2025, 6, 1)),
        Standing.EXPIRED,
    )
    data = make_customer_licenses(lead=lead, others=(other,), hosts=(host,), name=HOSTILE)
    message = license_card(data, shareable=False, shared_by_user_id="U0ABC")
    # check_message already proved every <...> is ours; these make the intent explicit.
    text = "\n".join(mrkdwn_texts(message))
    for forbidden in ("<!channel>", "<@U999>", "<https://evil", "<!here>", "@here", "@everyone"):
        assert forbidden not in text
    assert "&lt;!channel&gt; &lt;@U999&gt;" in text
    assert "*A|B*" in text  # a subscription's heading, never a link label
    assert "&amp; @\u200deveryone" in text
    # plain_text (the header) is not parsed, so it keeps the characters, broadcasts still broken
    assert message["blocks"][0]["text"]["text"].startswith("<!channel> <@U999>")
    assert "@\u200dhere" in message["blocks"][0]["text"]["text"]


def test_share_button_is_dropped_when_the_key_cannot_fit() -> None:
    message = license_card(normal_customer(key="k" * 2001))
    assert not [b for b in message["blocks"] if b.get("block_id") == ids.CARD_ACTIONS_BLOCK]


# ---------------------------------------------------------------------------------------------
# Words: dates, plans, money


@pytest.mark.parametrize(
    ("starts_at", "expires_at", "standing", "words"),
    [
        (date(2025, 3, 1), TODAY + timedelta(days=18), Standing.ACTIVE, "expires in 18 days"),
        (date(2025, 3, 1), TODAY + timedelta(days=1), Standing.ACTIVE, "expires tomorrow"),
        (date(2025, 3, 1), TODAY, Standing.ACTIVE, "expires today"),
        (date(2025, 3, 1), TODAY + timedelta(days=200), Standing.ACTIVE, "expires in 7 months"),
        (date(2025, 3, 1), TODAY + timedelta(days=800), Standing.ACTIVE, "expires in 2 years"),
        (
            date(2025, 3, 1),
            TODAY - timedelta(days=1),
            Standing.IN_GRACE,
            "expired yesterday, in grace",
        ),
        (
            date(2025, 3, 1),
            TODAY - timedelta(days=3),
            Standing.IN_GRACE,
            "expired 3 days ago, in grace",
        ),
        (date(2024, 3, 1), TODAY - timedelta(days=62), Standing.EXPIRED, "expired 2 months ago"),
        (date(2025, 3, 1), None, Standing.ACTIVE, "no expiry"),
        (TODAY + timedelta(days=5), date(2027, 1, 1), Standing.UPCOMING, "starts in 5 days"),
        (TODAY + timedelta(days=1), date(2027, 1, 1), Standing.UPCOMING, "starts tomorrow"),
    ],
)
def test_relative_date_words(
    starts_at: date, expires_at: date | None, standing: Standing, words: str
) -> None:
    license = make_license(1, starts_at=starts_at, expires_at=expires_at)
    assert relative_dates(license, standing, TODAY) == words


@pytest.mark.parametrize(
    ("plan", "label"),
    [
        ("premium", "Premium"),
        ("ULTIMATE", "Ultimate"),
        ("starter", "Starter"),
        ("gitlab_com_premium", "GitLab.com Premium"),
        ("gitlab_com_ultimate_trial", "GitLab.com Ultimate trial"),
        ("some_new_plan", "Some new plan"),
        ("", "Plan not recorded"),
        (None, "Plan not recorded"),
    ],
)
def test_plan_labels(plan: str | None, label: str) -> None:
    assert plan_label(plan) == label


@pytest.mark.parametrize(
    ("amount_minor", "currency", "shown"),
    [
        (431250, "USD", "$4,312.50"),
        (431250, "usd", "$4,312.50"),
        (-431250, "USD", "-$4,312.50"),
        (5, "USD", "$0.05"),
        (123456, "EUR", "€1,234.56"),
        (99, "GBP", "£0.99"),
        (1234567, "JPY", "¥1,234,567"),
        (1234567, "KWD", "1,234.567 KWD"),
        (-5, "BHD", "-0.005 BHD"),
        (500000, "CHF", "5,000.00 CHF"),
        (0, "CHF", "0.00 CHF"),
        (1000, None, "10.00"),
        (1000, "<b>", "10.00 &lt;b&gt;"),
    ],
)
def test_money_formatting(amount_minor: int, currency: str | None, shown: str) -> None:
    assert format_money(amount_minor, currency) == shown


# ---------------------------------------------------------------------------------------------
# Escaping


def test_escape_text_escapes_control_characters_and_broadcasts() -> None:
    assert escape_text("A & B <C>") == "A &amp; B &lt;C&gt;"
    assert escape_text("<!channel>") == "&lt;!channel&gt;"
    assert escape_text("@channel hi") == "@\u200dchannel hi"
    assert escape_text("ping @Here now") == "ping @\u200dHere now"
    assert escape_text("jane@channelpartner.io") == "jane@channelpartner.io"
    assert escape_text("two\nlines\tand\x00nul") == "two lines and nul"


def test_escape_text_truncates_before_escaping() -> None:
    escaped = escape_text("&" * 10_000, 10)
    assert escaped == "&amp;" * 9 + "…"


def test_link_labels_are_escaped_and_cannot_split() -> None:
    assert link("https://x.test/a?b=1&c=2", "<b>|x") == "<https://x.test/a?b=1&amp;c=2|&lt;b&gt;¦x>"
    assert link("https://x.test/a|b>c", "ok") == "<https://x.test/a%7Cb%3Ec|ok>"


# ---------------------------------------------------------------------------------------------
# Reconciliation card


def make_reconciliation(record_id: int, **overrides: Any) -> ReconciliationRecord:
    values: dict[str, Any] = {
        "id": record_id,
        "customer_name": "Acme Corp",
        "status": "processed",
        "subscription_name": "A-S00012345",
        "zuora_subscription_id": SUBSCRIPTION_ID,
        "reconcile_on": date(2025, 6, 1),
        "reconcile_done_at": datetime(2025, 6, 2, 3, 4, tzinfo=UTC),
        "user_count": 62,
        "invoiced_amount_minor": 431250,
        "currency": "USD",
    }
    values.update(overrides)
    return ReconciliationRecord(**values)


def recon_card(
    *records: ReconciliationRecord, name: str = "Acme Corp", age: timedelta = timedelta(hours=2)
) -> dict[str, Any]:
    """The card of these reconciliations, their data `age` old when it is built."""
    data = CustomerReconciliations(
        customer=CustomerRecord(key="sf:1", name=name),
        reconciliations=records,
        data_times={"reconciliations": DATA_AS_OF - age + timedelta(hours=2)},
    )
    freshness = freshness_of(data.data_times, ("reconciliations",))
    return check_message(build_recon_card(data, LINKS, freshness=freshness))


def test_recon_card_shows_a_processed_reconciliation() -> None:
    message = recon_card(make_reconciliation(77))
    section = message["blocks"][2]["text"]["text"]
    assert section.splitlines() == [
        f"*<https://zuora.example.test/apps/Subscription.do?method=view&amp;id={SUBSCRIPTION_ID}"
        "|A-S00012345>* · ✅ Processed",
        "Reconcile on 2025-06-01 · finished 2025-06-02",
        "62 users after reconciliation · invoiced $4,312.50",
        "<https://customers.example.test/admin/reconciliation/77|Open in CustomersDot>",
    ]
    assert message["blocks"][0]["text"]["text"] == "Seat reconciliations: Acme Corp"
    assert block_with_id(message, ids.FOOTER_BLOCK)["elements"][0]["text"] == (
        f"Reconciliations as of <!date^{int(DATA_AS_OF.timestamp())}^{{ago}}|2 hours ago>"
    )
    assert message["text"] == "Acme Corp: 1 seat reconciliation, latest ✅ Processed"


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("pending", "⏳ Pending"),
        ("processed", "✅ Processed"),
        ("skipped", "⏭️ Skipped"),
        ("failed", "❌ Failed"),
        ("FAILED", "❌ Failed"),
        ("on_hold", "on hold"),
        ("<!here>", "&lt;!here&gt;"),
    ],
)
def test_every_recon_status_in_words(status: str, words: str) -> None:
    message = recon_card(make_reconciliation(1, status=status))
    assert f"· {words}\n" in message["blocks"][2]["text"]["text"]


def test_skip_reason_and_error_in_plain_words_and_truncated() -> None:
    message = recon_card(
        make_reconciliation(1, status="skipped", skip_reason="no_seat_change"),
        make_reconciliation(
            2, status="failed", error_message="Zuora said: " + "x" * 5000 + " <!channel>"
        ),
    )
    text = all_text(message)
    assert "Skipped because: No seat change" in text
    error_line = next(line for line in text.splitlines() if line.startswith("Error: "))
    assert error_line.startswith("Error: Zuora said: xxx")
    assert error_line.endswith("…")
    assert len(error_line) < 400


def test_recon_without_subscription_id_or_amounts() -> None:
    message = recon_card(
        make_reconciliation(
            5,
            zuora_subscription_id=None,
            reconcile_done_at=None,
            user_count=None,
            invoiced_amount_minor=None,
            status="pending",
        )
    )
    lines = message["blocks"][2]["text"]["text"].splitlines()
    assert lines[:2] == ["*A-S00012345* · ⏳ Pending", "Reconcile on 2025-06-01"]
    assert "invoiced" not in message["blocks"][2]["text"]["text"]


def test_no_reconciliations_says_so() -> None:
    message = recon_card(name="Acme <Corp>")
    assert "No seat reconciliations for Acme &lt;Corp&gt;." in all_text(message)
    assert message["text"] == "No seat reconciliations for Acme &lt;Corp&gt;"


def test_many_reconciliations_are_capped_within_the_block_limit() -> None:
    records = tuple(
        make_reconciliation(n, subscription_name="A-S" + "9" * 500, skip_reason="y" * 3000)
        for n in range(300)
    )
    message = recon_card(*records, name="N" * 1000, age=timedelta(days=30))
    assert len(message["blocks"]) <= 50
    assert message["blocks"][1]["block_id"] == ids.STALE_BLOCK
    assert "…and 288 older reconciliations in <https://customers.example.test|CustomersDot>" in (
        all_text(message)
    )


# ---------------------------------------------------------------------------------------------
# Pick list, not found, usage, refusal, notice


def test_license_ids_and_subscriptions_as_the_card_prints_them_search_for_them() -> None:
    # What a salesperson copies off a card (as the shell shows it: link labels, field values)
    # means that license or subscription when pasted into /license.
    shown = render_message(build_license_card(normal_customer(), LINKS, freshness=FRESH, include_contact_emails=True).to_dict())  # fmt: skip
    printed_ids = set(re.findall(r"#\d+", shown))
    assert printed_ids == {"#1234", "#1100", "#900"}
    for printed in printed_ids:
        query = parse_query(printed)
        assert (query.kind, query.license_id) == (QueryKind.LICENSE_ID, int(printed[1:]))
    [subscription] = set(re.findall(r"A-S\d+", shown))
    for typed in (subscription, subscription.removeprefix("A-"), subscription.lower()[2:]):
        query = parse_query(typed)
        assert (query.kind, query.value) == (QueryKind.SUBSCRIPTION_NAME, subscription)


def test_an_unsent_address_notice_leads_the_answer_and_its_notification() -> None:
    notice = unsent_email_notice("o'brien&co@initech.com", by_domain=True, customer_count=2)
    assert notice == (
        "No license was sent to o'brien&amp;co@initech.com; showing the customers with licenses "
        "sent to @initech.com."
    )
    by_name = unsent_email_notice("nobody@globex.com", by_domain=False, customer_count=1)
    assert by_name == (
        "No license was sent to nobody@globex.com or anyone at @globex.com; showing names that "
        "match."
    )
    card = build_license_card(
        normal_customer(), LINKS, freshness=FRESH, include_contact_emails=True
    )
    message = check_message(with_notice(card, notice))
    assert message["blocks"][0]["text"]["text"] == notice
    assert message["blocks"][1:] == card.blocks_as_dicts()
    assert message["text"].startswith(notice + " Acme Corp: Premium")


def test_pick_list_one_button_per_customer() -> None:
    choices = [
        CustomerChoice("sf:1", "Acme Corp", 12, "premium", 50, standing=CustomerStanding.ACTIVE),
        CustomerChoice(
            "name:acme labs", "Acme Labs", 1, None, None, standing=CustomerStanding.EXPIRED
        ),
    ]
    message = check_message(
        build_pick_list("acme", choices, action_id=ids.CUSTOMER_PICK_LICENSE_ACTION)
    )
    assert message["blocks"][0]["text"]["text"] == "Several customers match “acme”. Pick one:"
    first, second = message["blocks"][1:3]
    assert first["block_id"] == f"{ids.PICK_LIST_BLOCK_PREFIX}0"
    assert first["text"]["text"] == "*Acme Corp* · 12 licenses · Premium, 50 seats"
    assert first["accessory"]["action_id"] == ids.CUSTOMER_PICK_LICENSE_ACTION
    assert first["accessory"]["value"] == "sf:1"
    assert first["accessory"]["text"]["text"] == "Show"
    assert second["block_id"] == f"{ids.PICK_LIST_BLOCK_PREFIX}1"
    assert second["text"]["text"] == "*Acme Labs* · 1 license · no active license"
    assert second["accessory"]["value"] == "name:acme labs"


def test_pick_list_is_capped_and_counts_the_rest() -> None:
    choices = [
        CustomerChoice(f"k{n}", f"Acme {n}", 1, standing=CustomerStanding.EXPIRED)
        for n in range(30)
    ]
    message = check_message(
        build_pick_list(
            "x" * 10_000, choices, action_id=ids.CUSTOMER_PICK_RECON_ACTION, more_count=5
        )
    )
    buttons = [b for b in message["blocks"] if "accessory" in b]
    assert len(buttons) == 10
    assert "…and 25 more matches" in all_text(message)
    assert len(message["blocks"][0]["text"]["text"]) < 200


def test_pick_list_escapes_query_and_names() -> None:
    message = check_message(
        build_pick_list(
            HOSTILE,
            [
                CustomerChoice("k", HOSTILE, 1, standing=CustomerStanding.EXPIRED),
                CustomerChoice("j", "B", 1, standing=CustomerStanding.EXPIRED),
            ],
            action_id=ids.CUSTOMER_PICK_LICENSE_ACTION,
        )
    )
    assert "<!channel>" not in dumped(message)
    assert "“&lt;!channel&gt; &lt;@U999&gt;" in message["blocks"][0]["text"]["text"]


def test_not_found_suggests_names_and_what_can_be_searched() -> None:
    message = check_message(
        build_not_found("acmee", ["Acme Corp", "Acme <Labs>"], command="/license")
    )
    text = all_text(message)
    assert "No customer matches “acmee”." in text
    assert "Did you mean: Acme Corp, Acme &lt;Labs&gt;?" in text
    assert "`/license Acme`" in text and "license id" in text and "hostname" in text


def test_not_found_without_suggestions_and_with_a_huge_hostile_query() -> None:
    message = check_message(build_not_found(HOSTILE * 200, [], command="/recon"))
    text = all_text(message)
    assert "Did you mean" not in text
    assert "<!channel>" not in dumped(message)
    assert len(message["blocks"][0]["text"]["text"]) < 300


@pytest.mark.parametrize("command", [ids.LICENSE_COMMAND, ids.RECON_COMMAND])
def test_usage_has_an_example_of_every_search(command: str) -> None:
    text = all_text(check_message(build_usage(command)))
    for example in ("Acme", "jane@acme.io", "@acme.io", "A-S00012345", "12345", "gitlab.acme.io"):
        assert f"`{command} {example}`" in text
    assert ("seat reconciliations" in text) == (command == ids.RECON_COMMAND)


@pytest.mark.parametrize(
    ("reason", "words", "offers_request"),
    [
        ("not_listed", "not on the list", True),
        ("guest", "Guest accounts", False),
        ("external", "other organisations", False),
        ("deactivated", "Deactivated", False),
        ("unknown_user", "couldn't find your Slack profile", True),
        ("identity_unavailable", "Try again in a minute", False),
        ("something_new", "don't have access", True),
    ],
)
def test_refusals(reason: str, words: str, offers_request: bool) -> None:
    url = "https://customers.example.test/access"
    message = check_message(build_refusal(url, reason))
    text = all_text(message)
    assert words in text
    assert (f"<{url}|request access here>" in text) is offers_request
    assert len(message["blocks"]) == 1

    without_url = all_text(check_message(build_refusal(None, reason)))
    assert "request access" not in without_url


@pytest.mark.parametrize("reason", [*RefusalReason, "something_new"])
@pytest.mark.parametrize("url", ["https://customers.example.test/access", None])
def test_the_allowlists_plain_refusal_has_the_cards_words(reason: str, url: str | None) -> None:
    """One wording: the middleware's fallback (no card builder, or a card bug) says what the
    card says."""
    from bot.slack.allowlist import refusal_text

    card = build_refusal(url, reason).blocks[0].to_dict()
    assert refusal_text(reason, url) == card["text"]["text"]


def test_notice_is_one_escaped_section() -> None:
    message = check_message(build_notice("The license store is unavailable <right> now."))
    assert message == {
        "text": "The license store is unavailable &lt;right&gt; now.",
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "The license store is unavailable &lt;right&gt; now.",
                    "verbatim": True,
                },
            }
        ],
    }


# ---------------------------------------------------------------------------------------------
# Pick lists that tell customers apart (issue 12)


def _pick_lines(message: dict[str, Any]) -> list[str]:
    return [
        block["text"]["text"]
        for block in message["blocks"]
        if block.get("block_id", "").startswith(ids.PICK_LIST_BLOCK_PREFIX)
    ]


def test_same_named_customers_are_told_apart_and_no_two_lines_are_alike() -> None:
    vandelay = {
        "name": "Vandelay Industries",
        "license_count": 1,
        "standing": CustomerStanding.EXPIRED,
    }
    choices = [
        CustomerChoice(
            "sf:A",
            **vandelay,
            salesforce_account_id="0016100001VanAAAAAA",
            account_numbers=("A00000001",),
        ),
        CustomerChoice(
            "sf:B",
            **vandelay,
            salesforce_account_id="0016100001VanBBBAAA",
            account_numbers=("A00000002",),
        ),
        CustomerChoice("name:vandelay industries", **vandelay, email_domains=("vandelay.example",)),
        CustomerChoice("sub:A-S1", **vandelay),
        CustomerChoice("sub:A-S2", **vandelay),
        CustomerChoice("name:other", "Other", 1, standing=CustomerStanding.EXPIRED),
    ]
    lines = _pick_lines(check_message(build_pick_list("vandelay", choices, action_id="pick")))
    assert len(set(lines)) == len(lines)
    # What a person recognises (the Zuora account number), not an 18-character Salesforce id.
    assert lines[0].endswith("· account A00000001")
    assert "0016100001" not in "\n".join(lines)
    assert lines[2].endswith("· @vandelay.example")
    assert lines[5] == "*Other* · 1 license · no active license"  # its name is its own


def test_the_pick_list_says_in_grace_where_the_card_does() -> None:
    choice = CustomerChoice("sf:1", "Globex", 1, standing=CustomerStanding.IN_GRACE)
    lines = _pick_lines(check_message(build_pick_list("globex", [choice], action_id="pick")))
    assert lines == ["*Globex* · 1 license · expired, in grace period"]


def test_the_pick_list_says_when_more_customers_match() -> None:
    choices = [
        CustomerChoice(f"k{n}", f"Acme {n}", 1, standing=CustomerStanding.EXPIRED) for n in range(8)
    ]
    message = check_message(build_pick_list("acme", choices, action_id="pick", has_more=True))
    assert "More customers match than are shown here" in all_text(message)
    without = check_message(build_pick_list("acme", choices, action_id="pick"))
    assert "More customers match" not in all_text(without)


def test_show_more_round_trips_the_search_within_slacks_button_value() -> None:
    from bot import ids
    from bot.views.pick_list import more_matches_value, read_more_matches_value

    choices = [
        CustomerChoice(f"k{n}", f"Acme {n}", 1, standing=CustomerStanding.EXPIRED) for n in range(8)
    ]

    def more_buttons(query: str) -> list[dict[str, Any]]:
        more = ("more", more_matches_value(query, 8))
        message = check_message(
            build_pick_list(query, choices, action_id="pick", has_more=True, more=more)
        )
        return [
            element
            for block in message["blocks"]
            if block.get("block_id") == ids.PICK_MORE_BLOCK
            for element in block["elements"]
        ]

    [button] = more_buttons(HOSTILE)
    assert button["text"]["text"] == "Show more" and len(button["value"]) <= 2000
    assert read_more_matches_value(button["value"]) == (HOSTILE, 8)
    # A query too long to carry back in a button value gets the hint without the button.
    assert more_buttons("acme " * 400) == []


def test_also_matching_offers_a_button_each() -> None:
    from bot.views.pick_list import also_matching_blocks

    blocks = [
        block.to_dict()
        for block in also_matching_blocks(
            [("sub:A-S2", "Acme Holdings"), ("sub:A-S3", "ACME GmbH")], action_id="pick"
        )
    ]
    assert blocks[0]["elements"][0]["text"] == "Also matching: Acme Holdings, ACME GmbH"
    buttons = [block["accessory"] for block in blocks[1:]]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("pick", "sub:A-S2"),
        ("pick", "sub:A-S3"),
    ]


# ---------------------------------------------------------------------------------------------
# What the customer has right now (issue 17): subscriptions, seats in use, history


def subscription_license(license_id: int, subscription: str, users: int, **overrides: Any):
    return make_license(
        license_id,
        user_count=users,
        zuora_subscription_name=subscription,
        subscription=subscription,
        **overrides,
    )


def many_subscriptions(count: int) -> CustomerLicenses:
    licenses = [subscription_license(100 + n, f"A-S{n:08d}", 10 * (n + 1)) for n in range(count)]
    return CustomerLicenses(
        customer=CustomerRecord(key="sf:MANY", name="Many Subs Inc"),
        overview=summarise_licenses(licenses, TODAY),
        data_times={"licenses": DATA_AS_OF},
        today=TODAY,
    )


def test_every_subscription_in_force_has_its_block_and_links_the_largest_first() -> None:
    message = license_card(many_subscriptions(3))
    headings = [
        block["text"]["text"].splitlines()[0]
        for block in message["blocks"]
        if block["type"] == "section" and "Active license" in block.get("text", {}).get("text", "")
    ]
    assert [heading.rsplit("· ", 1)[1] for heading in headings] == [
        "A-S00000002",
        "A-S00000001",
        "A-S00000000",
    ]
    link_blocks = [b["block_id"] for b in message["blocks"] if b["type"] == "actions"]
    assert link_blocks[:3] == [ids.CARD_LINKS_BLOCK, f"{ids.CARD_LINKS_BLOCK}:1", "card_links:2"]
    assert message["blocks"][1]["elements"][0]["text"] == "3 subscriptions in force · 3 licenses"


def test_more_subscriptions_than_a_card_holds_are_lines_and_all_of_them_a_click_away() -> None:
    message = license_card(many_subscriptions(9))
    assert len(message["blocks"]) <= 50
    text = all_text(message)
    assert "*4 more subscriptions in force*" in text
    for number in range(9):
        assert f"A-S{number:08d}" in text
    assert "Show all licenses" not in text  # nothing is hidden: the lines name every one


def test_hundreds_of_subscriptions_in_force_are_counted_and_a_click_away() -> None:
    data = many_subscriptions(SUBSCRIPTIONS_SHOWN + MORE_IN_FORCE_SHOWN + 190)
    message = license_card(data, freshness=STALE)
    text = all_text(message)
    assert f"*{MORE_IN_FORCE_SHOWN + 190} more subscriptions in force*" in text
    assert "…and 190 more subscriptions in force" in text
    assert text.count("/admin/license/") < 100
    assert "Show all licenses" in text


def test_a_renewal_of_a_subscription_listed_in_a_line_is_a_click_away() -> None:
    """A subscription beyond those shown in full is one line (its current license): its
    renewal already issued is what "Show all licenses" is for."""
    data = many_subscriptions(SUBSCRIPTIONS_SHOWN + 1)
    smallest = data.overview.subscriptions[-1]
    renewal = replace(
        smallest.current.license,
        id=999,
        starts_at=date(2026, 3, 1),
        expires_at=date(2027, 3, 1),
        issued_at=datetime(2026, 2, 1, tzinfo=UTC),
    )
    records = [ranked.license for ranked in data.overview.paid] + [renewal]
    data = replace(data, overview=summarise_licenses(records, TODAY))
    text = all_text(license_card(data))
    assert "/admin/license/999|" not in text
    assert "Show all licenses" in text


def test_a_lapsed_subscriptions_license_named_by_the_query_is_featured() -> None:
    """One subscription in force is the card's in full; a lapsed one's current license, when a
    query or a deal thread names it, is featured (it would only be a history line)."""
    in_force = subscription_license(1, "A-S00000001", 10)
    lapsed = subscription_license(
        2, "A-S00000002", 20, starts_at=date(2023, 3, 1), expires_at=date(2024, 3, 1)
    )
    data = make_customer_licenses(
        lead=RankedLicense(in_force, Standing.ACTIVE),
        others=(RankedLicense(lapsed, Standing.EXPIRED),),
    )
    text = all_text(license_card(data, featured_license_id=2))
    assert "📌 *Featured license* <https://customers.example.test/admin/license/2|#2>" in text
    text = all_text(license_card(data, featured_license_id=1))
    assert "Featured" not in text  # shown in full already


def test_hostile_same_domain_names_stay_within_a_context_element() -> None:
    hostile = "&<>" * 400
    same_domain = tuple(
        SameDomainLicense(600 + n, hostile, bool(n % 2), f"{'&' * 60}{n}.example")
        for n in range(SAME_DOMAIN_SHOWN + 1)
    )
    data = replace(normal_customer(), same_domain=same_domain)
    message = license_card(data)  # check_message: every context element within 3,000
    [line] = [t for t in mrkdwn_texts(message) if t.startswith("📨")]
    assert line.endswith(" and more")
    assert "&amp;&lt;&gt;" in line


def test_a_type_the_export_does_not_have_is_not_said() -> None:
    lead = RankedLicense(make_license(1234, license_type=None), Standing.ACTIVE)
    text = all_text(license_card(make_customer_licenses(lead=lead)))
    assert "*Type*" not in text and "Unknown type" not in text


@pytest.mark.parametrize(
    ("seats", "words"),
    [
        (SeatUsage(412, 400, 440, 2), "⚠️ *412 of 400 seats in use: 12 over* · historical max 440"),
        (SeatUsage(380, 400, None, 1), "380 of 400 seats in use"),
        (SeatUsage(400, 400, None, 1), "400 of 400 seats in use"),
        (SeatUsage(12, None, None, 1), "12 users in use (seats bought unknown)"),
    ],
)
def test_seats_in_use_in_words(seats: SeatUsage, words: str) -> None:
    assert seats_in_use_words(seats) == words


def test_a_renewal_already_issued_shows_in_its_subscriptions_block() -> None:
    current = make_license(1234)
    renewal = make_license(
        1300,
        user_count=60,
        starts_at=date(2026, 3, 1),
        expires_at=date(2027, 3, 1),
        issued_at=datetime(2026, 2, 1, tzinfo=UTC),
    )
    data = make_customer_licenses(
        lead=RankedLicense(current, Standing.ACTIVE),
        others=(RankedLicense(renewal, Standing.UPCOMING),),
    )
    text = all_text(license_card(data))
    assert (
        "🔁 Renewal issued, starts 2026-03-01: "
        "<https://customers.example.test/admin/license/1300|#1300> Premium · 60 seats"
    ) in text
    assert "*History*" not in text  # the renewal is not history


def test_all_licenses_come_a_page_at_a_time() -> None:
    current = make_license(5000)
    older = tuple(
        RankedLicense(make_license(4000 + n, expires_at=date(2025, 1, 1)), Standing.EXPIRED)
        for n in range(HISTORY_PAGE_LINES + 4)
    )
    data = make_customer_licenses(lead=RankedLicense(current, Standing.ACTIVE), others=older)
    first = check_message(
        build_license_history(data, LINKS, freshness=FRESH, include_contact_emails=False)
    )
    first_text = all_text(first)
    assert first_text.startswith(f"Acme Corp: {HISTORY_PAGE_LINES + 5} licenses\n*Acme Corp*: all")
    assert first_text.count("/admin/license/") == HISTORY_PAGE_LINES
    [more] = [b for b in first["blocks"] if b.get("block_id") == ids.HISTORY_MORE_BLOCK]
    value = more["elements"][0]["value"]
    assert read_history_value(value) == ("sf:0016100000XyZ12", HISTORY_PAGE_LINES)
    second = check_message(
        build_license_history(
            data, LINKS, freshness=FRESH, include_contact_emails=False, offset=HISTORY_PAGE_LINES
        )
    )
    assert all_text(second).count("/admin/license/") == 5
    assert not [b for b in second["blocks"] if b.get("block_id") == ids.HISTORY_MORE_BLOCK]
    assert EMAIL not in dumped(first)  # built for an audience that may not read it


@pytest.mark.parametrize(
    "forged", ["", "not json", "[]", '{"k": 1, "o": 0}', '{"k": "x", "o": -1}']
)
def test_a_forged_history_value_reads_as_nothing(forged: str) -> None:
    assert read_history_value(forged) is None


def test_an_unfurl_of_an_older_license_names_its_subscriptions_current_one() -> None:
    data = normal_customer()
    unfurl = check_message(
        build_license_unfurl(data, 1100, LINKS, freshness=FRESH, include_contact_emails=False)
    )
    text = all_text(unfurl)
    assert (
        "Current license of A-S00012345: <https://customers.example.test/admin/license/1234|#1234>"
        in text
    )
    # The card's own counts and standing.
    assert "Acme Corp: 2 licenses · 1 trial · active license" in text


def test_servers_pinging_without_user_counts_say_so() -> None:
    quiet = replace(make_host(1), active_user_count=None, historical_max_users=None)
    lead = RankedLicense(make_license(1234), Standing.ACTIVE)
    text = all_text(license_card(make_customer_licenses(lead=lead, hosts=(quiet,))))
    assert "Servers report no user counts; last 2 days ago." in text
    assert "No usage reported" not in text
    stale = replace(quiet, last_ping_at=quiet.last_ping_at - timedelta(days=60))
    text = all_text(license_card(make_customer_licenses(lead=lead, hosts=(stale,))))
    assert "No usage reported in the last 30 days; last 2 months ago." in text


# ---------------------------------------------------------------------------------------------
# Freshness: the data's age, and stale data said first


def test_a_stale_card_says_so_in_its_first_lines_and_its_notification() -> None:
    data = replace(
        normal_customer(),
        data_times={
            "licenses": DATA_AS_OF - timedelta(days=3),
            "subscriptions": DATA_AS_OF,
            "hosts": None,  # never imported: no data, not stale
        },
    )
    message = license_card(data, freshness=freshness_of(data.data_times))
    header, banner, counts = message["blocks"][:3]
    assert header["type"] == "header" and banner["block_id"] == ids.STALE_BLOCK
    assert banner["text"]["text"] == (
        "⚠️ *Stale:* licenses are 3 days old (data older than 26 hours is stale). "
        "Ask whoever imports the data to refresh it."
    )
    assert counts["elements"][0]["text"].startswith("2 licenses · 1 trial")  # the card follows
    assert message["text"] == (
        "⚠️ Stale: licenses are 3 days old. Acme Corp: Premium · 50 seats · expires in 18 days"
    )
    footer = block_with_id(message, ids.FOOTER_BLOCK)["elements"][0]["text"]
    assert footer.startswith("⚠️ Licenses as of <!date^") and footer.endswith("no usage pings data")


def test_a_card_a_little_younger_than_stale_has_no_banner() -> None:
    data = replace(normal_customer(), data_times={"licenses": DATA_AS_OF})
    now = DATA_AS_OF + timedelta(hours=25, minutes=59)
    message = license_card(data, freshness=freshness_of(data.data_times, now=now))
    assert ids.STALE_BLOCK not in [block.get("block_id") for block in message["blocks"]]
    assert not message["text"].startswith("⚠️")
    later = freshness_of(data.data_times, now=now + timedelta(minutes=2))
    assert license_card(data, freshness=later)["blocks"][1]["block_id"] == ids.STALE_BLOCK


def test_every_card_of_stale_data_says_so_first() -> None:
    data = normal_customer()
    history = check_message(
        build_license_history(data, LINKS, freshness=STALE, include_contact_emails=False)
    )
    unfurl = check_message(
        build_license_unfurl(data, 1100, LINKS, freshness=STALE, include_contact_emails=False)
    )
    gone = check_message(
        build_license_unfurl(data, 4242, LINKS, freshness=STALE, include_contact_emails=False)
    )
    recon = recon_card(make_reconciliation(77), age=timedelta(days=2))
    no_recon = recon_card(age=timedelta(days=2))
    for message in (history, unfurl, gone):
        assert message["blocks"][0]["block_id"] == ids.STALE_BLOCK
        assert message["text"].startswith("⚠️ Stale: licenses are 3 days old")
    for message in (recon, no_recon):
        assert message["blocks"][1]["block_id"] == ids.STALE_BLOCK
        assert message["text"].startswith("⚠️ Stale: reconciliations are 2 days old. ")


def test_the_parts_cards_share_are_left_as_they_were_built() -> None:
    """Button labels and the divider are one object each, shared by every card that has them
    (bot/views/blocks.py's button_text, DIVIDER): building and serialising cards leaves them
    as they were, and a card's parts are those very objects."""
    labels = ("Show", "Show more", "Share in channel", "Send to me", "Show all licenses")
    labels += ("Zuora subscription", "CustomersDot", "Hostnames")
    before = {label: button_text(label).to_dict() for label in labels}
    many_old = [
        RankedLicense(make_license(100 + n, expires_at=date(2024, 1, 1)), Standing.EXPIRED)
        for n in range(HISTORY_SHOWN + 1)
    ]
    card = build_license_card(
        normal_customer(others=tuple(many_old)),
        LINKS,
        freshness=FRESH,
        include_contact_emails=True,
    )
    choices = [
        CustomerChoice(f"k{n}", f"Acme {n}", 1, standing=CustomerStanding.EXPIRED) for n in range(3)
    ]
    pick_list = build_pick_list(
        "acme", choices, action_id="pick", has_more=True, more=("more", "{}")
    )
    for message in (card, pick_list):
        json.dumps(check_message(message))
    shared = [
        part
        for message in (card, pick_list)
        for block in message.blocks
        for part in (
            block,
            getattr(block, "accessory", None),
            *(getattr(block, "elements", None) or ()),
        )
    ]
    labels_used = {id(getattr(part, "text", None)) for part in shared}
    assert {id(button_text(label)) for label in labels} <= labels_used
    assert any(part is DIVIDER for part in shared)
    assert {label: button_text(label).to_dict() for label in labels} == before
    assert before == {label: {"type": "plain_text", "text": label} for label in labels}
    assert DIVIDER.to_dict() == {"type": "divider"}
