"""An update a follow posted: its "Open the full card" shows whoever clicks the customer's card,
ephemeral under the update, through the allowlist and the audit like /license."""

from __future__ import annotations

import json
import time

from bot import ids
from bot.views.follow_updates import FollowUpdate, follow_update_message
from tests.helpers.e2e_dataset import INITECH_EMAIL
from tests.helpers.http_bot import ALLOWED, SECRET, valid_blocks, wait_for_calls
from tests.helpers.slack_requests import block_actions_payload, interaction_body, post_to_wsgi

INITECH = "sf:0016100000INITEC"
RENEWED = FollowUpdate(
    "licenses",
    {"change": "renewed", "plan": "premium", "seats": 300, "previous_seats": 250},
    "A-S00090001",
)


def _update_in_channel() -> dict:
    """The update as Slack sends it back with a click: the bot's message in the channel."""
    message = follow_update_message("Initech", INITECH, [RENEWED]).to_dict()
    return {"type": "message", "ts": "1700000500.000100", "bot_id": "B0BOT", **message}


def _open_button(update: dict) -> dict:
    [button] = [
        element
        for block in update["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == ids.FOLLOW_OPEN_CARD_ACTION
    ]
    return button


def _click(bot, *, user_id: str = ALLOWED, response_url: str | None) -> None:
    update = _update_in_channel()
    button = _open_button(update)
    payload = block_actions_payload(
        ids.FOLLOW_OPEN_CARD_ACTION,
        value=button["value"],
        user_id=user_id,
        message=update,
        message_ts=update["ts"],
        response_url=response_url,
    )
    assert post_to_wsgi(bot.wsgi, interaction_body(payload), SECRET).status == 200


def test_the_update_opens_the_clickers_own_card_ephemerally_under_it(bot):
    _click(bot, response_url=bot.slack.response_url("open"))
    [answer] = bot.wait_for_response_post("open")
    assert answer["response_type"] == "ephemeral"
    assert answer["replace_original"] is False  # the update stays for everyone
    assert answer["text"]
    card = json.dumps(valid_blocks(answer["blocks"]))
    assert "Initech" in card
    assert INITECH_EMAIL in card  # the requester's own card: for them alone
    # Nothing is posted into the conversation, and no DM.
    time.sleep(0.2)
    assert bot.slack.calls_to("chat.postMessage") == []
    assert [(row.surface, row.outcome) for row in bot.audit_rows()] == [("follow_open_card", "ok")]


def test_someone_the_allowlist_refuses_sees_no_card(bot):
    _click(bot, user_id="UNOTLISTED", response_url=bot.slack.response_url("open"))
    [answer] = bot.wait_for_response_post("open")
    assert answer["response_type"] == "ephemeral"
    assert "Initech" not in json.dumps(answer)
    assert INITECH_EMAIL not in json.dumps(answer)


def test_without_a_response_url_the_card_goes_to_the_clickers_dm(bot):
    _click(bot, response_url=None)
    [posted] = wait_for_calls(bot, "chat.postMessage")
    assert posted.params["channel"] == f"D{ALLOWED}"
    assert INITECH_EMAIL in json.dumps(valid_blocks(posted.json_param("blocks")))
