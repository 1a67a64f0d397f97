"""App Home: who you are to the bot, the commands, your recent lookups as buttons, data as of;
and a refused person's Home, which says how to ask for access and shows no data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot import ids
from bot.access import AccessDecision
from bot.freshness import Freshness, FreshnessRule
from bot.licensing import summarise_licenses
from bot.links import Links
from bot.records import (
    CustomerLicenses,
    CustomerRecord,
    LicenseRecord,
)
from bot.store.audit import AuditEntry, RecentLookup, record_audit
from bot.store.queries import IMPORT_KINDS
from bot.views.home import (
    HomeFacts,
    build_card_modal,
    build_home_view,
    distinct_recent_lookups,
    parse_recent_lookup_value,
    recent_lookup_value,
)
from bot.views.license_card import build_license_card
from tests.helpers.cards import freshness_of
from tests.helpers.e2e_dataset import INITECH_EMAIL
from tests.helpers.events_harness import (
    ACCESS_URL,
    ALLOWED,
    NOT_LISTED,
    EventsBot,
    app_home_opened,
    make_events_bot,
    shown,
    validated_view,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LINKS = Links(
    "https://customers.gitlab.com", "https://z.example", "https://v.example", "https://s.example"
)


def home_freshness(**data_times: datetime) -> Freshness:
    """Every kind's freshness as App Home reads it at NOW (the default rule: 26 hours)."""
    return FreshnessRule().judge(data_times, IMPORT_KINDS, now=NOW)


def lookup(surface: str, query: str | None, minutes_ago: int = 0, outcome: str = "ok"):
    return RecentLookup(
        at=NOW - timedelta(minutes=minutes_ago),
        surface=surface,
        query=query,
        outcome=outcome,
        result_count=1,
        channel_id="C1",
    )


# ---- pure builders -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "email", "words"),
    [
        ("user_id", None, "your Slack account is on the allowlist"),
        ("email", "ae@sales.example", "your email address (ae@sales.example)"),
        ("email_domain", "ae@sales.example", "your email domain (@sales.example)"),
        ("usergroup:sales", None, "`sales` user group"),
    ],
)
def test_an_allowed_home_says_which_rule_let_you_in(rule, email, words):
    facts = HomeFacts(recent=(), freshness=home_freshness(licenses=NOW - timedelta(hours=2)))
    view = build_home_view(AccessDecision.allow(rule, email), facts, access_request_url=None)
    text = shown(view.to_dict())
    assert words in text
    assert "/license Acme" in text and "/recon Acme" in text
    assert "Licenses as of <!date^" in text and "|2 hours ago> · no subscriptions data" in text
    assert "No lookups yet" in text


def test_recent_lookups_are_distinct_command_lookups_newest_first():
    recent = [
        lookup("/license", "Initech", 1),
        lookup("/license", "  initech ", 2),  # the same lookup again
        lookup("share", "sf:0016100000INITEC", 3),  # a customer key: not a query to re-run
        lookup("/recon", "initech", 4),
        lookup("/license", "", 5),
        lookup("link_shared", "https://customers.gitlab.com/admin/license/1", 6),
    ]
    picked = distinct_recent_lookups(recent)
    assert [(command, query) for command, query, _ in picked] == [
        ("/license", "Initech"),
        ("/recon", "initech"),
    ]


def test_recent_lookup_buttons_round_trip_and_reject_what_we_did_not_build():
    value = recent_lookup_value("/license", "<!channel> acme")
    assert value is not None
    assert parse_recent_lookup_value(value) == ("/license", "<!channel> acme")
    assert recent_lookup_value("/license", "x" * 3000) is None  # too long for a button
    for bad in ["", "not json", "[1]", '{"c": "/admin", "q": "x"}', '{"c": "/license", "q": " "}']:
        assert parse_recent_lookup_value(bad) is None


def test_recent_lookups_are_buttons_with_unique_action_ids_per_block():
    facts = HomeFacts(
        recent=tuple(lookup("/license", f"customer {n}", n) for n in range(8)),
        freshness=home_freshness(),
    )
    view = build_home_view(AccessDecision.allow("user_id"), facts, access_request_url=None)
    blocks = view.to_dict()["blocks"]
    buttons = [b["accessory"] for b in blocks if b.get("accessory", {}).get("type") == "button"]
    assert len(buttons) == 5
    assert {button["action_id"] for button in buttons} == {ids.HOME_RECENT_LOOKUP_ACTION}
    assert parse_recent_lookup_value(buttons[0]["value"]) == ("/license", "customer 0")
    assert "No export has been imported yet" in shown(blocks)


@pytest.mark.parametrize("reason", ["not_listed", "guest", "external", "identity_unavailable"])
def test_a_refused_home_shows_how_to_ask_and_no_data(reason):
    stale = home_freshness(licenses=NOW - timedelta(days=3))
    facts = HomeFacts(recent=(lookup("/license", "Initech"),), freshness=stale)
    view = build_home_view(AccessDecision.refuse(reason), facts, access_request_url=ACCESS_URL)
    text = shown(view.to_dict())
    assert "Initech" not in text and ids.HOME_RECENT_LOOKUP_ACTION not in text
    assert "as of" not in text and "Stale" not in text
    assert (ACCESS_URL in text) is (reason == "not_listed")


def test_a_card_in_a_modal_keeps_url_buttons_and_drops_share():
    license = LicenseRecord(id=7, company="Acme", plan="premium", trial=False, user_count=5)
    data = CustomerLicenses(
        customer=CustomerRecord(key="name:acme", name="Acme"),
        overview=summarise_licenses([license], NOW.date()),
        today=NOW.date(),
    )
    card = build_license_card(
        data, LINKS, freshness=freshness_of({}), include_contact_emails=True, shareable=True
    )
    assert ids.LICENSE_SHARE_ACTION in shown(card.to_dict())
    modal = validated_view(build_card_modal(card, command="/license", query="acme").to_dict())
    text = shown(modal)
    assert modal["type"] == "modal" and "Acme" in text
    assert ids.LICENSE_SHARE_ACTION not in text
    assert "https://customers.gitlab.com/admin/license/7" in text


# ---- end to end --------------------------------------------------------------------------------


@pytest.fixture
def bot(settings, slack_standin, tmp_path) -> EventsBot:
    return make_events_bot(settings, slack_standin, tmp_path)


def published_view(bot: EventsBot, user: str) -> dict:
    bot.drain()
    [call] = bot.calls("views.publish")
    assert call.params["user_id"] == user
    return validated_view(call.json_param("view"))


def test_opening_home_publishes_access_commands_recent_lookups_and_freshness(bot):
    bot.command("/license", "initech")
    bot.command("/recon", "globex")
    bot.slack.clear()
    assert bot.event(app_home_opened(ALLOWED)).status == 200
    view = published_view(bot, ALLOWED)
    text = shown(view)
    assert view["type"] == "home"
    assert "your Slack account is on the allowlist" in text
    assert "/recon globex" in text and "/license initech" in text
    assert text.index("/recon globex") < text.index("/license initech")  # newest first
    assert "Licenses as of" in text and "Stale" not in text


def test_the_messages_tab_is_left_alone(bot):
    bot.event(app_home_opened(ALLOWED, tab="messages"))
    bot.drain()
    assert bot.calls("views.publish") == []


def test_a_recent_lookup_button_opens_the_card_in_a_modal_for_the_requester(bot):
    bot.command("/license", "initech")
    bot.event(app_home_opened(ALLOWED))
    home = published_view(bot, ALLOWED)
    [button] = [
        block["accessory"]
        for block in home["blocks"]
        if block.get("accessory", {}).get("action_id") == ids.HOME_RECENT_LOOKUP_ACTION
    ]
    bot.slack.clear()
    response = bot.click(
        ids.HOME_RECENT_LOOKUP_ACTION,
        button["value"],
        trigger_id="42.trigger",
        response_url=None,
    )
    assert response.status == 200
    bot.drain()
    [call] = bot.calls("views.open")
    assert call.params["trigger_id"] == "42.trigger"
    modal = validated_view(call.json_param("view"))
    text = shown(modal)
    assert "Initech" in text
    assert INITECH_EMAIL in text  # requester audience: the person who asked sees the email
    assert ids.LICENSE_SHARE_ACTION not in text
    assert [(row.surface, row.query) for row in bot.audit_rows()][-1] == ("/license", "initech")


def test_a_refused_person_sees_how_to_ask_for_access_and_nothing_else(bot):
    # Even lookups they made before losing access stay out of their Home.
    record_audit(
        bot.services.session_factory,
        AuditEntry(surface="/license", outcome="ok", user_id=NOT_LISTED, query="initech"),
    )
    assert bot.event(app_home_opened(NOT_LISTED)).status == 200
    view = published_view(bot, NOT_LISTED)
    text = shown(view)
    assert ACCESS_URL in text
    assert "initech" not in text.lower() and ids.HOME_RECENT_LOOKUP_ACTION not in text
    assert [(row.surface, row.outcome, row.reason) for row in bot.audit_rows()][-1] == (
        "app_home_opened",
        "denied",
        "not_listed",
    )
