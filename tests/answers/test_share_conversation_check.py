"""Share in channel passes the one conversation check (ARCHITECTURE.md: Privacy), on both engines.

Signed block_actions requests through the WSGI app; the stand-in answers conversations.info as
Slack answers a bot token: a public channel's object (`is_member` saying whether the bot is in
it), and `channel_not_found` for a DM, group DM or private channel the bot is not in. The card
goes out through the interaction's response_url, so what must never happen is an `in_channel`
post there; what the clicker must get is an ephemeral reason and a Send to me button.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from bot import ids
from bot.answers.conversations import Delivery, judge_conversation
from tests.helpers.e2e_dataset import ALL_CONTACT_EMAILS, INITECH_EMAIL
from tests.helpers.http_bot import (
    ALLOWED,
    SECRET,
    Bot,
    customer_state,
    submit_post_card,
    valid_blocks,
    wait_for_calls,
)
from tests.helpers.slack_requests import block_actions_payload, interaction_body, post_to_wsgi

INITECH = "sf:0016100000INITEC"
GLOBEX = "sf:0016100000GLOBEX"


def share(bot: Bot, channel_id: str, *, value: str = INITECH, user_id: str = ALLOWED):
    payload = block_actions_payload(
        ids.LICENSE_SHARE_ACTION,
        value=value,
        user_id=user_id,
        channel_id=channel_id,
        is_ephemeral=True,
        response_url=bot.slack.response_url("share"),
    )
    response = post_to_wsgi(bot.wsgi, interaction_body(payload), SECRET)
    assert response.status == 200
    [answer] = bot.wait_for_response_post("share")
    return answer


def send_to_me_value(answer: dict[str, Any]) -> str | None:
    for block in valid_blocks(answer.get("blocks") or []):
        for element in block.get("elements") or []:
            if element.get("action_id") == ids.LICENSE_SEND_TO_ME_ACTION:
                return element["value"]
    return None


def assert_refused(bot: Bot, answer: dict[str, Any], *words: str) -> None:
    """Told why, to the clicker alone, with Send to me; nothing shared, no customer data."""
    assert answer["response_type"] == "ephemeral"
    assert answer["replace_original"] is False  # the requester's own card stays
    assert "Nothing was shared" in answer["text"]
    for word in words:
        assert word in answer["text"], answer["text"]
    assert send_to_me_value(answer) == INITECH
    shown = json.dumps(answer)
    assert "Initech" not in shown and INITECH_EMAIL not in shown
    time.sleep(0.1)  # a wrong post would follow the refusal: give it the chance to show
    assert [post for post in bot.slack.responses_to("share") if post is not answer] == []
    assert bot.slack.calls_to("chat.postMessage") == []


def assert_audited(bot: Bot, channel_id: str, reason: str) -> None:
    rows = [(r.surface, r.outcome, r.reason, r.channel_id, r.query) for r in bot.audit_rows()]
    assert rows == [("share", "not_posted", reason, channel_id, INITECH)]


@pytest.mark.parametrize(
    "fields",
    [
        {"is_ext_shared": True, "is_shared": True},
        {"is_pending_ext_shared": True},
        {"is_shared": True, "is_org_shared": False},  # shared beyond this Enterprise org
        {"is_ext_shared": True, "is_shared": True, "is_member": False},
    ],
)
def test_a_share_into_a_channel_shared_with_another_organisation_is_refused(bot, fields):
    bot.slack.add_channel("C0CONNECT", **fields)
    answer = share(bot, "C0CONNECT")
    assert_refused(bot, answer, "another organisation")
    assert_audited(bot, "C0CONNECT", "external")


def test_a_share_in_a_dm_between_people_is_refused_with_send_to_me(bot):
    # Slack shows a bot token only its own DMs: any other is channel_not_found.
    answer = share(bot, "D0PEOPLE")
    assert_refused(bot, answer, "direct message")
    assert_audited(bot, "D0PEOPLE", "direct_message")


def test_a_share_in_a_group_dm_the_bot_is_not_in_is_refused_with_send_to_me(bot):
    answer = share(bot, "G0GROUPDM")
    assert_refused(bot, answer, "can't tell who is in it")
    assert_audited(bot, "G0GROUPDM", "channel_not_found")


@pytest.mark.parametrize("channel_id", ["G0PRIVATE", "C0PRIVATE"])  # before / after March 2021
def test_a_share_in_a_private_channel_the_bot_is_not_in_says_invite_me(bot, channel_id):
    answer = share(bot, channel_id)
    assert_refused(bot, answer, "/invite @CustomersDot")
    assert_audited(bot, channel_id, "channel_not_found")


def test_a_private_channel_the_bot_can_see_but_is_not_in_is_refused(bot):
    # Not what Slack answers a bot token today; if it ever does, membership still counts.
    bot.slack.add_channel("C0PRIVATE", is_private=True, is_member=False)
    answer = share(bot, "C0PRIVATE")
    assert_refused(bot, answer, "/invite @CustomersDot")


@pytest.mark.parametrize("error", ["internal_error", "ratelimited"])
def test_conversations_info_failing_refuses_and_says_try_again(bot, error):
    bot.slack.add_channel("C0SALES")
    bot.slack.fail("conversations.info", "error", error=error)
    answer = share(bot, "C0SALES")
    assert_refused(bot, answer, "Try again")
    assert_audited(bot, "C0SALES", error)


def test_slack_unreachable_for_conversations_info_refuses(bot):
    bot.slack.add_channel("C0SALES")
    bot.slack.fail("conversations.info", "server_error", times=5)
    answer = share(bot, "C0SALES")
    assert_refused(bot, answer, "Try again")


def test_a_share_in_a_public_channel_the_bot_is_not_in_is_posted(bot):
    bot.slack.add_channel("C0PUBLIC", is_member=False)
    posted = share(bot, "C0PUBLIC")
    assert posted["response_type"] == "in_channel"
    shown = json.dumps(posted)
    assert "Initech" in shown
    assert not any(email in shown for email in ALL_CONTACT_EMAILS)
    [info] = bot.slack.calls_to("conversations.info")
    assert info.params["channel"] == "C0PUBLIC"
    rows = [(r.surface, r.outcome, r.channel_id) for r in bot.audit_rows()]
    assert rows == [("share", "ok", "C0PUBLIC")]


def test_send_to_me_from_a_refused_share_puts_the_card_in_the_dm(bot):
    bot.slack.add_channel("C0CONNECT", is_ext_shared=True, is_shared=True)
    value = send_to_me_value(share(bot, "C0CONNECT"))
    assert value == INITECH
    payload = block_actions_payload(
        ids.LICENSE_SEND_TO_ME_ACTION,
        value=value,
        channel_id="C0CONNECT",
        is_ephemeral=True,
        response_url=bot.slack.response_url("dm"),
    )
    post_to_wsgi(bot.wsgi, interaction_body(payload), SECRET)
    [posted] = wait_for_calls(bot, "chat.postMessage")
    assert posted.params["channel"] == f"D{ALLOWED}"  # the requester's DM, not the channel
    assert INITECH_EMAIL in json.dumps(posted.json_param("blocks"))


def test_a_forged_share_from_someone_not_allowed_reaches_no_conversation_check(bot):
    # The allowlist comes first: a refused user learns nothing, not even about the channel.
    bot.slack.add_channel("C0PUBLIC", is_member=False)
    answer = share(bot, "C0PUBLIC", value=GLOBEX, user_id="UNOTLISTED")
    assert answer["response_type"] == "ephemeral"
    shown = json.dumps(answer)
    assert "Globex" not in shown and "GLOBEX" not in shown
    assert bot.slack.calls_to("conversations.info") == []
    assert [(r.outcome, r.reason) for r in bot.audit_rows()] == [("denied", "not_listed")]


def test_a_forged_share_into_a_connect_channel_is_refused_like_any_other(bot):
    # A key this user never got: allowed users may see any customer, but not post it there.
    bot.slack.add_channel("C0CONNECT", is_ext_shared=True, is_shared=True)
    answer = share(bot, "C0CONNECT", value=GLOBEX)
    assert answer["response_type"] == "ephemeral"
    assert "Globex" not in json.dumps(answer)
    assert send_to_me_value(answer) == GLOBEX
    rows = [(r.surface, r.outcome, r.query) for r in bot.audit_rows()]
    assert rows == [("share", "not_posted", GLOBEX)]


def test_a_card_the_shortcut_may_not_post_is_audited_too(bot):
    bot.slack.add_channel("C0SALES", is_ext_shared=True, is_shared=True)
    answer = submit_post_card(bot, customer_state(INITECH)).json()
    assert answer["response_action"] == "errors"
    rows = [(r.surface, r.outcome, r.reason, r.channel_id) for r in bot.audit_rows()]
    assert rows == [(ids.POST_CARD_SHORTCUT, "not_posted", "external", "C0SALES")]


# ---- the rule itself: one function, two ways of delivering ---------------------------------

PUBLIC = {"is_private": False, "is_member": False}
PRIVATE = {"is_private": True, "is_member": False}
MPIM = {"is_private": True, "is_mpim": True, "is_member": False}


@pytest.mark.parametrize(
    ("channel", "delivery", "allowed"),
    [
        (PUBLIC, Delivery.RESPONSE_URL, True),  # Slack posts it: no /invite needed
        (PUBLIC, Delivery.BOT_MESSAGE, False),  # chat.postMessage needs the bot in it
        (PRIVATE, Delivery.RESPONSE_URL, False),
        (MPIM, Delivery.RESPONSE_URL, False),
        ({"is_member": False}, Delivery.RESPONSE_URL, False),  # privacy unknown: a doubt
        ({**PUBLIC, "is_ext_shared": True}, Delivery.RESPONSE_URL, False),
        ({**PUBLIC, "is_archived": True}, Delivery.RESPONSE_URL, False),
        ({"is_private": False, "is_member": True}, Delivery.BOT_MESSAGE, True),
    ],
)
def test_membership_matters_only_when_the_bot_posts_itself(channel, delivery, allowed):
    check = judge_conversation(channel, requester_user_id=ALLOWED, delivery=delivery)
    assert check.allowed is allowed
