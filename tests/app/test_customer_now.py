"""What the customer has right now (issue 17), asked over HTTP as Slack asks it, on both
engines: the real exports of tests/helpers/customer_now_dataset.py imported, then signed slash
commands and button clicks through the WSGI app, and the answers read as a rep reads them.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from bot import ids
from bot.app import SlackWsgiApp, create_app
from bot.services import build_services
from bot.views.blocks import CardMessage
from bot.views.license_card import history_value
from tests.helpers.cards import LINKS, check_message
from tests.helpers.customer_now_dataset import (
    ALFRED,
    BRUCE,
    EMAILS,
    HARVEY,
    LUCIUS,
    PREMIUM_ID,
    ULTIMATE_V1,
    WAYNE_ACCOUNT_ID,
    WAYNE_ACCOUNT_NUMBER,
    WAYNE_KEY,
    WAYNE_SALESFORCE_ID,
    load_exports,
)
from tests.helpers.http_bot import ACCESS_URL, ALLOWED, SECRET, Bot
from tests.helpers.slack_requests import block_actions_payload, interaction_body, post_to_wsgi


@pytest.fixture
def bot(settings, slack_standin, tmp_path) -> Bot:
    slack_standin.add_user(ALLOWED, email="ae@sales.example")
    settings = replace(
        settings,
        slack_signing_secret=SECRET,
        slack_api_url=slack_standin.api_url,
        allowed_user_ids=frozenset({ALLOWED}),
        access_request_url=ACCESS_URL,
        # The link targets check_message knows (every <url|label> must be one of ours).
        customersdot_url=LINKS.customersdot_url,
        zuora_url=LINKS.zuora_url,
        version_app_url=LINKS.version_app_url,
        salesforce_url=LINKS.salesforce_url,
    )
    services = build_services(settings)
    load_exports(services.session_factory, tmp_path, datetime.now(UTC).date())
    wsgi = SlackWsgiApp(create_app(settings, services=services), services)
    slack_standin.clear()
    return Bot(wsgi, slack_standin, settings)


def answer(bot: Bot, text: str) -> dict[str, Any]:
    response = bot.command("/license", text)
    assert response.status == 200
    message = response.json()
    check_message_dict(message)
    return message


def check_message_dict(message: dict[str, Any]) -> None:
    """Slack's limits, as tests/views/test_cards.py checks them, on the message as it came back over
    HTTP (parsed into slack_sdk's blocks again, whose own validators run on to_dict())."""
    rebuilt = CardMessage(message["text"], Block.parse_all(message["blocks"]))
    assert check_message(rebuilt)["blocks"] == message["blocks"]


def texts(message: dict[str, Any]) -> list[str]:
    """Every text of a message, block by block (section text and fields, context elements)."""
    found: list[str] = []
    for block in message["blocks"]:
        if isinstance(block.get("text"), dict):
            found.append(block["text"]["text"])
        found += [field["text"] for field in block.get("fields") or []]
        found += [
            element["text"]
            for element in block.get("elements") or []
            if element.get("type") in ("mrkdwn", "plain_text")
        ]
    return found


def shown(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


def section_of(message: dict[str, Any], needle: str) -> dict[str, Any]:
    matches = [
        block
        for block in message["blocks"]
        if block["type"] == "section" and needle in block.get("text", {}).get("text", "")
    ]
    assert len(matches) == 1, (needle, [b.get("text") for b in message["blocks"]])
    return matches[0]


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        element["action_id"]: element
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }


# --- every subscription in force, its seats in use and servers ----------------------------


def test_the_card_leads_with_every_subscription_in_force_the_largest_first(bot) -> None:
    message = answer(bot, "Wayne")
    assert message["blocks"][0]["text"]["text"] == "Wayne Enterprises"
    counts = message["blocks"][1]["elements"][0]["text"]
    assert counts.startswith("2 subscriptions in force · 3 licenses · 2 trials · ")
    blocks_text = [block.get("text", {}).get("text", "") for block in message["blocks"]]
    ultimate = next(i for i, t in enumerate(blocks_text) if "A-S00000401" in t)
    premium = next(i for i, t in enumerate(blocks_text) if "A-S00000402" in t)
    # The 400-seat subscription leads, though the 25-seat one was issued after it.
    assert ultimate < premium
    lead = message["blocks"][ultimate]["text"]["text"]
    assert "*Ultimate · 400 seats · expires in 1 month*" in lead or "expires in 35 days" in lead
    assert "/admin/license/600011|#600011>" in lead
    second = message["blocks"][premium]["text"]["text"]
    assert "*Premium · 25 seats · expires in 11 months*" in second
    # Each subscription with its own links: Zuora (its version's id), CustomersDot, hostnames.
    links = [
        block
        for block in message["blocks"]
        if block.get("block_id", "").startswith(ids.CARD_LINKS_BLOCK)
    ]
    assert len(links) == 2
    assert PREMIUM_ID in shown(links[1])
    assert message["text"].startswith("Wayne Enterprises: Ultimate · 400 seats · expires in")
    assert "(+1 more subscription in force)" in message["text"]


def test_seats_in_use_are_compared_with_seats_bought_and_an_overage_flagged(bot) -> None:
    message = answer(bot, "Wayne")
    lead = section_of(message, "#600011> · A-S00000401")["text"]["text"]
    # 412 billable users reported yesterday (the newest of the server's two pings).
    assert "⚠️ *412 of 400 seats in use: 12 over* · historical max 440" in lead
    second = section_of(message, "#600020> · A-S00000402")["text"]["text"]
    assert "20 of 25 seats in use" in second and "over" not in second


def test_the_servers_of_a_subscription_are_every_host_reporting_any_of_its_licenses(bot) -> None:
    message = answer(bot, "Wayne")
    servers = section_of(message, "*Servers* (2)")["text"]["text"]
    lines = servers.splitlines()[1:]
    # Newest ping first, each linked to its usage page; the one on the older license too,
    # marked as too old to count.
    assert lines[0].startswith(
        "• <https://version.example.test/licenses/600011|gitlab.wayne-enterprises.example>"
        " · 17.6.1-ee · 430 active users · 412 billable · reported yesterday"
    )
    assert lines[1] == (
        "• <https://version.example.test/licenses/600010|old.wayne-enterprises.example>"
        " · 17.6.1-ee · 300 active users · reported 45 days ago (older than 30 days)"
    )


# --- trials ---------------------------------------------------------------------------------


def test_a_running_trial_says_so_near_the_top_with_who_requested_each(bot) -> None:
    message = answer(bot, "Wayne")
    top = message["blocks"][2]["text"]["text"]
    assert top.startswith("🧪 *In trial, ends in 13 days*: Ultimate trial, 100 users")
    trials = section_of(message, "*2 trials*")["text"]["text"]
    assert "#600030> Ultimate trial · 100 users · " in trials
    assert "running, ends in 13 days" in trials
    # Who requested it, name and email (the requester's own answer), and its server.
    assert f"by Harvey Dent <mailto:{HARVEY}|{HARVEY}>" in trials
    assert "servers: trial.wayne-enterprises.example" in trials
    assert "#600031> Premium trial · 50 users · " in trials and "· expired" in trials


def test_a_prospects_trials_typed_three_ways_at_one_domain_are_one_card(bot) -> None:
    message = answer(bot, "pied piper")
    assert message["blocks"][0]["text"]["text"] == "Pied Piper, Inc."
    assert message["blocks"][1]["elements"][0]["text"] == "0 licenses · 3 trials"
    trials = section_of(message, "*3 trials*")["text"]["text"]
    assert all(f"#{number}>" in trials for number in (700001, 700002, 700003))
    assert "Several customers" not in shown(message)


# --- who received each license --------------------------------------------------------------


def test_every_license_says_who_received_it_and_a_license_id_shows_that_one(bot) -> None:
    # "Which address got #600010?": the license a query names comes first, with its recipient.
    message = answer(bot, "600010")
    featured = message["blocks"][2]
    assert featured["text"]["text"].startswith("📌 *Featured license* <")
    fields = [field["text"] for field in featured["fields"]]
    assert f"*Sent to*\nLucius Fox\n<mailto:{LUCIUS}|{LUCIUS}>" in fields
    # And the history says it too, with the issue time.
    history = section_of(message, "*History*")["text"]["text"]
    assert "#600010> Ultimate · 350 seats · " in history
    assert f"sent to Lucius Fox <mailto:{LUCIUS}|{LUCIUS}> · issued " in history
    current = [field["text"] for field in section_of(message, "· A-S00000401\n")["fields"]]
    assert f"*Sent to*\nBruce Wayne\n<mailto:{BRUCE}|{BRUCE}>" in current
    second = [field["text"] for field in section_of(message, "· A-S00000402\n")["fields"]]
    assert f"*Sent to*\nAlfred Pennyworth\n<mailto:{ALFRED}|{ALFRED}>" in second
    assert "*Licensee*\nWayne Foundation" in second  # another name than the account's


def test_show_all_licenses_lists_every_license_with_its_recipient(bot) -> None:
    # A customer with more history than the card shows gets a button; here, ask for the list
    # as the button does, and it lists all five, by subscription then trials.
    response = bot.click(ids.LICENSE_HISTORY_ACTION, history_value(WAYNE_KEY, 0), name="all")
    assert response.status == 200
    [posted] = bot.wait_for_response_post("all")
    assert posted["response_type"] == "ephemeral" and posted["replace_original"] is False
    listing = "\n".join(texts(posted))
    assert listing.startswith("*Wayne Enterprises*: all 5 licenses, by subscription")
    order = [int(found) for found in re.findall(r"\|#(\d+)>", listing)]
    assert order == [600011, 600010, 600020, 600030, 600031]
    assert listing.count("sent to ") == 5


# --- search by every name and id a customer is known by --------------------------------------


@pytest.mark.parametrize(
    ("query", "card"),
    [
        # The account's name and every license's company name.
        ("Wayne Foundation", "Wayne Enterprises"),
        ("Umbrella", "Raccoon City Pharmaceuticals"),
        ("Umbrella Corporation", "Raccoon City Pharmaceuticals"),
        # A contact's name.
        ("Alfred Pennyworth", "Wayne Enterprises"),
        ("pennyworth", "Wayne Enterprises"),
        # A Salesforce account id, 15 or 18 characters, or its record's URL.
        (WAYNE_SALESFORCE_ID, "Wayne Enterprises"),
        (WAYNE_KEY.removeprefix("sf:"), "Wayne Enterprises"),
        (f"https://gitlab.my.salesforce.com/{WAYNE_SALESFORCE_ID}", "Wayne Enterprises"),
        (
            f"<https://gitlab.lightning.force.com/lightning/r/Account/{WAYNE_KEY[3:]}/view>",
            "Wayne Enterprises",
        ),
        # Zuora: a subscription id of any version (the first is on no license), the account's
        # id and number.
        (ULTIMATE_V1, "Wayne Enterprises"),
        (WAYNE_ACCOUNT_ID, "Wayne Enterprises"),
        (WAYNE_ACCOUNT_NUMBER, "Wayne Enterprises"),
        # CJK names are searched as substrings, two characters included.
        ("ヤマト", "株式会社ヤマト技研"),
        ("技研", "株式会社ヤマト技研"),
        ("ヤマト技研株式会社", "株式会社ヤマト技研"),
    ],
)
def test_every_name_and_id_a_customer_is_known_by_finds_its_card(bot, query, card) -> None:
    message = answer(bot, query)
    assert message["blocks"][0]["type"] == "header", shown(message)[:300]
    assert message["blocks"][0]["text"]["text"] == card


def test_a_name_that_is_one_customers_says_what_else_matches(bot) -> None:
    message = answer(bot, "globex")
    assert message["blocks"][0]["text"]["text"] == "Globex Corporation"
    assert "Also matching: Globex Labs" in texts(message)


def test_a_pick_list_says_why_a_customer_shown_under_another_name_is_listed(bot) -> None:
    listed = answer(bot, "umbrel")
    assert "Several customers match" in texts(listed)[0]
    raccoon = next(t for t in texts(listed) if t.startswith("*Raccoon City Pharmaceuticals*"))
    assert raccoon.endswith("· _licensee Umbrella Corporation_")
    academy = next(t for t in texts(listed) if t.startswith("*Umbrella Academy*"))
    # The card's own counts: paid licenses and trials apart, as the card says them.
    assert academy == "*Umbrella Academy* · 0 licenses · 1 trial · no paid license yet"


# --- the same domain, another name ----------------------------------------------------------


def test_a_trial_from_the_companys_domain_under_its_romaji_name_is_on_its_card(bot) -> None:
    message = answer(bot, "ヤマト技研")
    assert "1 license · 1 trial" in message["blocks"][1]["elements"][0]["text"]
    assert "#800002> Ultimate trial" in shown(message)
    # Another name from the same domain is not merged, but the card says so.
    also = [t for t in texts(message) if t.startswith("📨 Also sent to @yamato-giken.co.jp:")]
    assert also and "trial #800003>" in also[0] and "(Yamato Consulting)" in also[0]
    assert answer(bot, "Yamato Consulting")["blocks"][0]["text"]["text"] == "Yamato Consulting"


# --- shared cards keep the redaction rule ---------------------------------------------------


def test_a_shared_card_carries_no_contact_email_but_keeps_the_answer(bot) -> None:
    bot.slack.add_channel("C0SALES")
    message = answer(bot, "Wayne")
    share = buttons(message)[ids.LICENSE_SHARE_ACTION]
    assert bot.click(ids.LICENSE_SHARE_ACTION, share["value"], name="share").status == 200
    [posted] = bot.wait_for_response_post("share")
    text = shown(posted)
    for email in EMAILS:
        assert email not in text
    assert "412 of 400 seats in use: 12 over" in text
    assert "In trial, ends in 13 days" in text
    assert "Harvey Dent" in text  # the requester's name stays; only the address is PII-gated


def test_show_all_licenses_in_a_modal_opens_the_list_on_top_of_it(bot) -> None:
    # The lookup shortcut's modal shows the card: a button there has no response_url.
    payload = block_actions_payload(
        ids.LICENSE_HISTORY_ACTION, value=history_value(WAYNE_KEY, 0), response_url=None
    )
    payload.pop("message")
    payload.pop("channel")
    payload["container"] = {"type": "view", "view_id": "V0MODAL"}
    assert post_to_wsgi(bot.wsgi, interaction_body(payload), SECRET).status == 200
    deadline = time.monotonic() + 10
    while not bot.slack.calls_to("views.push") and time.monotonic() < deadline:
        time.sleep(0.02)
    [call] = bot.slack.calls_to("views.push")
    view = call.json_param("view")
    assert view["type"] == "modal"
    listing = shown(view)
    assert "all 5 licenses, by subscription" in listing
    assert ids.LICENSE_HISTORY_ACTION not in listing  # no buttons that need a message


def test_a_forged_show_all_value_is_only_a_lookup_and_is_audited(bot) -> None:
    assert bot.click(ids.LICENSE_HISTORY_ACTION, '{"k": 7}', name="junk").status == 200
    [junk] = bot.wait_for_response_post("junk")
    assert "cannot be continued" in junk["text"] and "Wayne" not in shown(junk)
    # Another customer's key: a lookup like any other, through the allowlist, limit and audit.
    value = history_value("za:nobody-there", 0)
    assert bot.click(ids.LICENSE_HISTORY_ACTION, value, name="forged").status == 200
    [gone] = bot.wait_for_response_post("forged")
    assert "no longer in the license store" in gone["text"]
    assert [(row.surface, row.outcome) for row in bot.audit_rows()] == [("history", "not_found")]
