""" "Send to me": the full card (emails included) into the requester's DM with the bot."""

from __future__ import annotations

import json
import time

from bot import ids
from tests.helpers.e2e_dataset import INITECH_EMAIL
from tests.helpers.http_bot import ALLOWED, SECRET, valid_blocks, wait_for_calls

INITECH = "sf:0016100000INITEC"


def send_to_me_button(bot) -> dict:
    message = bot.command("/license", "initech").json()
    return next(
        element
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element.get("action_id") == ids.LICENSE_SEND_TO_ME_ACTION
    )


def test_every_ephemeral_card_has_send_to_me_and_it_posts_the_full_card_to_the_dm(bot):
    button = send_to_me_button(bot)
    assert button["value"] == INITECH
    assert bot.click(ids.LICENSE_SEND_TO_ME_ACTION, button["value"], name="dm").status == 200
    [opened] = wait_for_calls(bot, "conversations.open")
    assert opened.params["users"] == ALLOWED
    [posted] = wait_for_calls(bot, "chat.postMessage")
    assert posted.params["channel"] == f"D{ALLOWED}"
    card = json.dumps(valid_blocks(posted.json_param("blocks")))
    assert INITECH_EMAIL in card  # for the requester alone
    assert ids.LICENSE_SEND_TO_ME_ACTION not in card
    [confirmation] = bot.wait_for_response_post("dm")
    assert confirmation["replace_original"] is False
    assert "direct messages" in confirmation["text"]
    surfaces = [(row.surface, row.outcome) for row in bot.audit_rows()]
    assert surfaces == [("/license", "ok"), ("send_to_me", "ok")]


def test_a_dm_that_cannot_be_opened_is_explained_not_silent(bot):
    bot.slack.fail("conversations.open", error="restricted_action")
    bot.click(ids.LICENSE_SEND_TO_ME_ACTION, INITECH, name="dm")
    [answer] = bot.wait_for_response_post("dm")
    assert answer["response_type"] == "ephemeral"
    assert "Only some people can post" in answer["text"]
    assert bot.slack.calls_to("chat.postMessage") == []


def test_a_refused_user_gets_no_dm(bot):
    bot.click(ids.LICENSE_SEND_TO_ME_ACTION, INITECH, user_id="UNOTLISTED", name="dm")
    bot.wait_for_response_post("dm")
    time.sleep(0.2)
    assert bot.slack.calls_to("chat.postMessage") == []
    assert bot.slack.calls_to("conversations.open") == []


def test_send_to_me_in_a_modal_posts_the_dm_and_raises_nothing(bot, caplog):
    # The lookup shortcut's modal shows the card: its buttons come without a response_url, and
    # Bolt still hands the listener a `respond` that raises if called.
    from tests.helpers.slack_requests import block_actions_payload, interaction_body, post_to_wsgi

    payload = block_actions_payload(ids.LICENSE_SEND_TO_ME_ACTION, value=INITECH, response_url=None)
    payload.pop("message")
    payload.pop("channel")
    payload["container"] = {"type": "view", "view_id": "V0MODAL"}
    body = interaction_body(payload)
    assert post_to_wsgi(bot.wsgi, body, SECRET).status == 200
    [posted] = wait_for_calls(bot, "chat.postMessage")
    assert posted.params["channel"] == f"D{ALLOWED}"
    time.sleep(0.2)
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
