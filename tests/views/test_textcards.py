"""The shell's terminal renderer, on the card builders' real output and on odd block dicts."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bot import ids
from bot.licensing import summarise_licenses
from bot.links import Links
from bot.records import (
    CustomerChoice,
    CustomerLicenses,
    CustomerReconciliations,
    CustomerRecord,
    CustomerStanding,
    HostRecord,
    LicenseRecord,
    ReconciliationRecord,
)
from bot.views.license_card import build_license_card
from bot.views.notices import build_refusal
from bot.views.pick_list import build_pick_list
from bot.views.recon_card import build_recon_card
from bot.views.text import BOLD, DIM, RESET, mrkdwn_to_text, render_message
from tests.helpers.cards import freshness_of

LINKS = Links(
    customersdot_url="https://customers.example.test",
    zuora_url="https://zuora.example.test",
    version_app_url="https://version.example.test",
    salesforce_url="https://salesforce.example.test",
)


def license_message() -> dict[str, object]:
    lead = LicenseRecord(
        id=1234,
        company="Acme & <Co>",
        plan="premium",
        trial=False,
        contact_name="Jane Doe",
        contact_email="jane@acme.io",
        user_count=50,
        license_type="cloud",
        issued_at=datetime(2025, 2, 27, 14, 3, tzinfo=UTC),
        starts_at=date(2025, 3, 1),
        expires_at=date(2026, 3, 1),
        zuora_subscription_id="abc123",
        zuora_subscription_name="A-S00012345",
        subscription="A-S00012345",
    )
    data = CustomerLicenses(
        customer=CustomerRecord(key="sf:1", name="Acme & <Co>", salesforce_account_id="001X"),
        overview=summarise_licenses(
            [lead], date(2026, 2, 11), {1234: (HostRecord("gitlab.acme.io", 1234, "16.4.1", 48),)}
        ),
        hosts_by_license={1234: (HostRecord("gitlab.acme.io", 1234, "16.4.1", 48),)},
        data_times={
            "licenses": datetime(2026, 2, 11, 6, 0, tzinfo=UTC),
            "hosts": datetime(2026, 2, 10, 8, 0, tzinfo=UTC),
        },
        today=date(2026, 2, 11),
    )
    freshness = freshness_of(data.data_times)
    message = build_license_card(data, LINKS, freshness=freshness, include_contact_emails=True)
    return message.to_dict()


def test_license_card_reads_in_a_terminal() -> None:
    lines = render_message(license_message()).splitlines()
    assert lines[0] == "Acme & <Co>"
    assert lines[1] == "=" * len("Acme & <Co>")
    assert lines[2] == "› 1 license · Salesforce account (https://salesforce.example.test/001X)"
    assert (
        "✅ *Active license* #1234 (https://customers.example.test/admin/license/1234)"
        " · A-S00012345"
    ) in lines
    assert "*Premium · 50 seats · expires in 18 days*" in lines
    assert "  Seats: 50 seats" in lines
    assert "  Sent to: Jane Doe, jane@acme.io" in lines  # mailto with its own address: shown once
    assert "[CustomersDot] https://customers.example.test/admin/license/1234" in lines
    assert (
        "[Zuora subscription] "
        "https://zuora.example.test/apps/Subscription.do?method=view&id=abc123" in lines
    )
    assert f"[Share in channel] action:{ids.LICENSE_SHARE_ACTION}" in lines
    # Slack's date tokens read as their fallback: the ages when the card was built.
    assert lines[-1] == (
        "› Licenses as of 2 hours ago · no subscriptions data · usage pings 24 hours ago"
    )
    assert "&amp;" not in "\n".join(lines) and "&lt;" not in "\n".join(lines)


def test_recon_card_links_and_dividers() -> None:
    records = tuple(
        ReconciliationRecord(
            id=n,
            customer_name="Acme",
            status="processed",
            subscription_name="A-S1",
            zuora_subscription_id="z1",
            invoiced_amount_minor=431250,
            currency="USD",
        )
        for n in (1, 2)
    )
    data = CustomerReconciliations(CustomerRecord("k", "Acme"), records)
    freshness = freshness_of(data.data_times, ("reconciliations",))
    text = render_message(build_recon_card(data, LINKS, freshness=freshness).to_dict())
    assert "*A-S1 (https://zuora.example.test/apps/Subscription.do?method=view&id=z1)*" in text
    assert "Open in CustomersDot (https://customers.example.test/admin/reconciliation/2)" in text
    assert "Invoiced $4,312.50" in text
    assert text.count("─" * 40) == 1
    assert text.endswith("› No reconciliations data")


def test_pick_list_buttons_show_their_action() -> None:
    message = build_pick_list(
        "acme",
        [CustomerChoice("sf:1", "Acme", 2, "ultimate", 10, standing=CustomerStanding.ACTIVE)],
        action_id=ids.CUSTOMER_PICK_RECON_ACTION,
    )
    assert render_message(message.to_dict()).splitlines() == [
        "Several customers match “acme”. Pick one:",
        "*Acme* · 2 licenses · Ultimate, 10 seats",
        f"  [Show] action:{ids.CUSTOMER_PICK_RECON_ACTION}",
    ]


def test_refusal_link() -> None:
    text = render_message(build_refusal("https://access.example.test/", "not_listed").to_dict())
    assert text.endswith("You can request access here (https://access.example.test/).")


def test_mrkdwn_markup_becomes_words() -> None:
    assert mrkdwn_to_text("<https://a.test/?x=1&amp;y=2|A &lt;b&gt;>") == (
        "A <b> (https://a.test/?x=1&y=2)"
    )
    assert mrkdwn_to_text("see <https://a.test>") == "see https://a.test"
    assert mrkdwn_to_text("<mailto:j@a.io|Jane>") == "Jane (mailto:j@a.io)"
    assert mrkdwn_to_text("hi <@U123> and <@U9|bob>") == "hi @U123 and @bob"
    assert mrkdwn_to_text("<#C1|general> <!here> <!subteam^S1|@sales>") == ("#general @here @sales")
    assert mrkdwn_to_text("<!date^1700000000^{date}|Nov 14>") == "Nov 14"
    assert mrkdwn_to_text("&amp;lt; stays literal") == "&lt; stays literal"


def test_color_makes_bold_and_dims_context() -> None:
    message = {
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Seats* 5 * 3"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "as of now"}]},
        ]
    }
    assert render_message(message, color=True).splitlines() == [
        f"{BOLD}Seats{RESET} 5 * 3",
        f"{DIM}› as of now{RESET}",
    ]
    assert render_message(message).splitlines() == ["*Seats* 5 * 3", "› as of now"]


def test_unknown_and_malformed_blocks_are_skipped() -> None:
    message = {
        "text": "fallback",
        "blocks": [
            {"type": "video", "title": {"type": "plain_text", "text": "ignored"}},
            "not a block",
            {"type": "section", "text": {"type": "plain_text", "text": "kept <as is> &amp;"}},
            {"type": "image", "image_url": "https://i.test/x.png", "alt_text": "chart"},
            {
                "type": "actions",
                "elements": [
                    {"type": "static_select", "placeholder": {"type": "plain_text", "text": "Pick"}}
                ],
            },
            {"no": "type"},
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [
                            {"type": "text", "text": "rich "},
                            {"type": "link", "url": "https://r.test"},
                        ],
                    }
                ],
            },
        ],
    }
    assert render_message(message).splitlines() == [
        "kept <as is> &amp;",
        "[image: chart]",
        "[Pick]",
        "rich https://r.test",
    ]


def test_message_without_blocks_renders_its_text() -> None:
    assert render_message({"text": "The store is &lt;down&gt;"}) == "The store is <down>"
    assert render_message({}) == ""
