"""The shortcuts driven as Slack drives them: signed `message_action`, `shortcut`,
`block_suggestion`, `block_actions` and `view_submission` payloads through the WSGI app,
against the loopback stand-in, on both engines. Every view and message the app sends is
checked with slack_sdk's own validation.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.models.views import View

from bot import ids
from bot.app import SlackWsgiApp, create_app
from bot.services import build_services
from bot.views.modals import ModalContext
from tests.helpers.e2e_dataset import ALL_CONTACT_EMAILS, INITECH_EMAIL, load_dataset
from tests.helpers.http_bot import (
    ALLOWED,
    PARENT_TS,
    SECRET,
    Bot,
    customer_state,
    send,
    submit_post_card,
    valid_blocks,
    wait_for_calls,
)
from tests.helpers.slack_requests import (
    block_actions_payload,
    block_suggestion_payload,
    message_action_payload,
    shortcut_payload,
    view_submission_payload,
)

REPLY_TS = "1700000050.000200"
INITECH = "sf:0016100000INITEC"


def valid_view(view: dict[str, Any]) -> dict[str, Any]:
    """slack_sdk's validation of a view as sent (raises on a broken limit)."""
    View(**view).to_dict()
    assert len(view.get("private_metadata") or "") <= 3000
    return view


def note_state(note: str | None) -> dict[str, Any]:
    return {ids.NOTE_BLOCK: {ids.NOTE_ACTION: {"type": "plain_text_input", "value": note}}}


def license_state(license_id: int) -> dict[str, Any]:
    option = {"text": {"type": "plain_text", "text": f"#{license_id}"}, "value": str(license_id)}
    return {
        ids.LICENSE_BLOCK: {
            ids.LICENSE_SELECT_ACTION: {"type": "static_select", "selected_option": option}
        }
    }


@pytest.fixture
def channel(bot: Bot) -> str:
    bot.slack.add_channel("C0SALES")
    return "C0SALES"


# ---- the message shortcut ------------------------------------------------------------------


def test_shortcut_opens_the_modal_at_once_then_proposes_the_customer_named_in_the_thread(
    bot, channel
):
    payload = message_action_payload(
        ids.POST_CARD_SHORTCUT,
        message_ts=REPLY_TS,
        thread_ts=PARENT_TS,
        message_text="Can someone check the *Initech* renewal? They want 150 seats.",
    )
    response = send(bot, payload)
    assert response.status == 200
    # views.open was called before the response, with the payload's own trigger id.
    [opened] = bot.slack.calls_to("views.open")
    assert opened.params["trigger_id"] == payload["trigger_id"]
    view = valid_view(opened.json_param("view"))
    assert view["callback_id"] == ids.POST_CARD_MODAL
    assert ModalContext.decode(view["private_metadata"]) == ModalContext(
        channel_id="C0SALES", thread_ts=PARENT_TS
    )
    select = view["blocks"][0]["element"]
    assert select["type"] == "external_select"
    assert select["action_id"] == ids.CUSTOMER_SELECT_ACTION
    assert 1 <= select["min_query_length"] <= 2

    # Then, lazily: the same modal (by external id), Initech preselected, licenses offered.
    [updated] = wait_for_calls(bot, "views.update")
    assert updated.params["external_id"] == view["external_id"]
    filled = valid_view(updated.json_param("view"))
    customer = filled["blocks"][0]["element"]["initial_option"]
    assert customer["value"] == INITECH
    assert customer["text"]["text"].startswith("Initech")
    [license_block] = [b for b in filled["blocks"] if b.get("block_id") == ids.LICENSE_BLOCK]
    values = [option["value"] for option in license_block["element"]["options"]]
    assert values == ["9001", "9000"]  # the active one first; trials are not featured
    assert [row.surface for row in bot.audit_rows()] == [ids.POST_CARD_SHORTCUT]


def test_a_message_that_names_no_customer_leaves_the_modal_empty(bot, channel):
    send(bot, message_action_payload(ids.POST_CARD_SHORTCUT, message_text="lunch at noon?"))
    wait_for_calls(bot, "views.open")
    wait_for_calls(bot, "conversations.info")
    deadline = time.monotonic() + 2
    while not bot.audit_rows() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [(r.surface, r.outcome) for r in bot.audit_rows()] == [
        (ids.POST_CARD_SHORTCUT, "not_found")
    ]
    assert bot.slack.calls_to("views.update") == []


@pytest.mark.parametrize(
    ("thread_ts", "message_ts", "expected"),
    [(PARENT_TS, REPLY_TS, PARENT_TS), (None, PARENT_TS, PARENT_TS)],
    ids=["on a reply", "on the parent"],
)
def test_submitting_posts_the_card_in_the_thread_credited_and_without_emails(
    bot, channel, thread_ts, message_ts, expected
):
    payload = message_action_payload(
        ids.POST_CARD_SHORTCUT, message_ts=message_ts, thread_ts=thread_ts
    )
    send(bot, payload)
    [opened] = wait_for_calls(bot, "views.open")
    metadata = opened.json_param("view")["private_metadata"]
    note = f"Renewal <!channel> call on Friday, ask {INITECH_EMAIL}"
    state = {**customer_state(INITECH), **note_state(note)}
    submission = view_submission_payload(
        ids.POST_CARD_MODAL, state_values=state, private_metadata=metadata
    )
    response = send(bot, submission)
    assert response.status == 200
    assert response.body == b""  # an empty ack closes the modal
    [posted] = bot.slack.calls_to("chat.postMessage")
    assert posted.params["channel"] == "C0SALES"
    assert posted.params["thread_ts"] == expected
    blocks = valid_blocks(posted.json_param("blocks"))
    shown = json.dumps(blocks, ensure_ascii=False)
    assert posted.params["text"].startswith("Initech")
    assert f"Shared by <@{ALLOWED}>" in shown
    # The note, never a broadcast; the email in it hidden as the card's are.
    assert "Renewal &lt;!channel&gt; call on Friday, ask (email hidden)" in shown
    for email in ALL_CONTACT_EMAILS:
        assert email not in shown
    assert ids.LICENSE_SHARE_ACTION not in shown and ids.LICENSE_SEND_TO_ME_ACTION not in shown
    audited = [(row.surface, row.outcome, row.channel_id) for row in bot.audit_rows()]
    assert (ids.POST_CARD_SHORTCUT, "ok", "C0SALES") in audited


def test_a_featured_license_leads_the_posted_card(bot, channel):
    state = {**customer_state(INITECH), **license_state(9000)}
    assert submit_post_card(bot, state).body == b""
    [posted] = bot.slack.calls_to("chat.postMessage")
    blocks = valid_blocks(posted.json_param("blocks"))
    lead = next(json.dumps(b) for b in blocks if b["type"] == "section" and "fields" in b)
    assert "Featured license" in lead and "#9000" in lead


def test_contact_emails_are_posted_when_the_deployment_turns_them_on(
    settings, slack_standin, tmp_path
):
    slack_standin.add_user(ALLOWED, email="ae@sales.example")
    slack_standin.add_channel("C0SALES")
    shown = replace(
        settings,
        slack_signing_secret=SECRET,
        slack_api_url=slack_standin.api_url,
        show_contact_emails_in_channels=True,
    )
    services = build_services(shown)
    load_dataset(services.session_factory, tmp_path, datetime.now(UTC).date())
    wsgi = SlackWsgiApp(create_app(shown, services=services), services)
    emails_bot = Bot(wsgi, slack_standin, shown)
    assert submit_post_card(emails_bot, customer_state(INITECH)).body == b""
    [posted] = slack_standin.calls_to("chat.postMessage")
    assert INITECH_EMAIL in json.dumps(posted.json_param("blocks"))


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"is_ext_shared": True, "is_shared": True}, "another organisation"),
        ({"is_pending_ext_shared": True}, "another organisation"),
        ({"is_shared": True, "is_org_shared": False}, "another organisation"),
        ({"is_member": False}, "/invite @CustomersDot"),
        ({"is_archived": True}, "archived"),
    ],
)
def test_the_card_is_never_posted_where_it_must_not_go(bot, fields, words):
    bot.slack.add_channel("C0SALES", **fields)
    response = submit_post_card(bot, customer_state(INITECH))
    answer = response.json()
    assert answer["response_action"] == "errors"
    assert words in answer["errors"][ids.CUSTOMER_BLOCK]
    assert bot.slack.calls_to("chat.postMessage") == []


def test_a_conversation_the_bot_cannot_see_says_invite_me(bot):
    response = submit_post_card(bot, customer_state(INITECH), channel="GPRIVATE")
    error = response.json()["errors"][ids.CUSTOMER_BLOCK]
    assert "can't see this conversation" in error and "/invite @CustomersDot" in error
    assert "`" not in error  # plain text: no stray mrkdwn
    assert bot.slack.calls_to("chat.postMessage") == []


def test_the_shortcut_in_a_dm_explains_in_the_modal_at_once(bot):
    payload = message_action_payload(ids.POST_CARD_SHORTCUT, channel_id="D0DIRECT")
    send(bot, payload)
    [opened] = wait_for_calls(bot, "views.open")
    [updated] = wait_for_calls(bot, "views.update")
    explained = valid_view(updated.json_param("view"))
    assert updated.params["external_id"] == opened.json_param("view")["external_id"]
    assert "direct message" in json.dumps(explained)
    assert "submit" not in explained  # nothing to submit: only Close


@pytest.mark.parametrize(
    ("error", "words"),
    [
        ("not_in_channel", "/invite @CustomersDot"),
        ("channel_not_found", "/invite @CustomersDot"),
        ("is_archived", "archived"),
        ("restricted_action", "Only some people can post"),
        ("something_new", "Slack didn't accept the card"),
    ],
)
def test_slack_refusing_the_post_is_explained_in_the_modal(bot, channel, error, words):
    bot.slack.fail("chat.postMessage", error=error)
    answer = submit_post_card(bot, customer_state(INITECH)).json()
    assert answer["response_action"] == "errors"
    assert words in answer["errors"][ids.CUSTOMER_BLOCK]
    assert "Traceback" not in json.dumps(answer)


def test_a_slack_outage_is_a_refusal_not_a_post(bot, channel):
    bot.slack.fail("conversations.info", error="internal_error")
    answer = submit_post_card(bot, customer_state(INITECH)).json()
    assert "couldn't check this conversation" in answer["errors"][ids.CUSTOMER_BLOCK]
    assert bot.slack.calls_to("chat.postMessage") == []


def test_a_customer_that_is_gone_is_said_in_the_modal(bot, channel):
    answer = submit_post_card(bot, customer_state("sf:NOPE")).json()
    assert "no longer in the license store" in answer["errors"][ids.CUSTOMER_BLOCK]


# ---- the customer select ------------------------------------------------------------------


def test_the_select_suggests_customers_as_license_does_and_each_search_is_audited(bot):
    payload = block_suggestion_payload(
        ids.CUSTOMER_SELECT_ACTION,
        "umbrel",
        block_id=ids.CUSTOMER_BLOCK,
        view_callback_id=ids.POST_CARD_MODAL,
    )
    response = send(bot, payload)
    assert response.status == 200
    options = response.json()["options"]
    assert {option["text"]["text"].split(" · ")[0] for option in options} == {
        "Umbrella GmbH",
        "Umbrella Pharmaceuticals",
    }
    for option in options:
        assert len(option["text"]["text"]) <= 75 and len(option["value"]) <= 150
    by_email = send(
        bot,
        block_suggestion_payload(
            ids.CUSTOMER_SELECT_ACTION, INITECH_EMAIL, block_id=ids.CUSTOMER_BLOCK
        ),
    ).json()["options"]
    assert [option["value"] for option in by_email] == [INITECH]
    rows = [(row.surface, row.query, row.result_count) for row in bot.audit_rows()]
    assert rows == [("customer_suggest", "umbrel", 2), ("customer_suggest", INITECH_EMAIL, 1)]


def test_options_tell_customers_apart_without_their_plan_or_seats(bot):
    """Type-ahead answers up to 20 customers per counted request: the name, the contact's
    email domain and the Zuora account number or a subscription (what a person recognises),
    never the plan or seats (issue 10)."""
    payload = block_suggestion_payload(
        ids.CUSTOMER_SELECT_ACTION, "umbrel", block_id=ids.CUSTOMER_BLOCK
    )
    texts = sorted(option["text"]["text"] for option in send(bot, payload).json()["options"])
    assert texts == [
        "Umbrella GmbH · umbrella.example · A-S00092000",
        "Umbrella Pharmaceuticals · umbrella-pharma.example",
    ]
    shown_text = " ".join(texts).lower()
    for term in ("starter", "premium", "seat", " 10", " 25"):
        assert term not in shown_text
    # Still one counted lookup for the whole list.
    assert [row.surface for row in bot.audit_rows()] == ["customer_suggest"]


def test_a_refused_user_gets_no_options(bot):
    payload = block_suggestion_payload(
        ids.CUSTOMER_SELECT_ACTION, "initech", user_id="UNOTLISTED", block_id=ids.CUSTOMER_BLOCK
    )
    assert send(bot, payload).json() == {"options": []}


def test_picking_a_customer_refills_the_modal_with_its_licenses_and_keeps_the_note(bot):
    metadata = ModalContext(channel_id="C0SALES", thread_ts=PARENT_TS).encode()
    payload = block_actions_payload(ids.CUSTOMER_SELECT_ACTION, block_id=ids.CUSTOMER_BLOCK)
    payload.pop("message")
    payload.pop("channel")
    payload.pop("response_url")
    payload["container"] = {"type": "view", "view_id": "V0MODAL"}
    payload["actions"][0].update(
        type="external_select",
        selected_option={"text": {"type": "plain_text", "text": "Initech"}, "value": INITECH},
    )
    payload["view"] = {
        "id": "V0MODAL",
        "hash": "1700000000.abc",
        "callback_id": ids.POST_CARD_MODAL,
        "private_metadata": metadata,
        "state": {"values": {**customer_state(INITECH), **note_state("keep me")}},
        "type": "modal",
        "blocks": [],
    }
    assert send(bot, payload).status == 200
    [updated] = wait_for_calls(bot, "views.update")
    assert (updated.params["view_id"], updated.params["hash"]) == ("V0MODAL", "1700000000.abc")
    view = valid_view(updated.json_param("view"))
    assert view["private_metadata"] == metadata
    by_id = {block.get("block_id"): block for block in view["blocks"]}
    assert [o["value"] for o in by_id[ids.LICENSE_BLOCK]["element"]["options"]] == [
        "9001",
        "9000",
    ]
    assert by_id[ids.NOTE_BLOCK]["element"]["initial_value"] == "keep me"


# ---- the global shortcut ------------------------------------------------------------------


def test_global_shortcut_looks_up_in_the_modal_and_sends_to_a_picked_conversation(bot):
    payload = shortcut_payload(ids.LOOKUP_SHORTCUT)
    assert send(bot, payload).status == 200
    [opened] = bot.slack.calls_to("views.open")
    assert opened.params["trigger_id"] == payload["trigger_id"]
    assert valid_view(opened.json_param("view"))["callback_id"] == ids.LOOKUP_MODAL

    looked_up = send(
        bot,
        view_submission_payload(
            ids.LOOKUP_MODAL, state_values={**customer_state(INITECH), **license_state(9000)}
        ),
    ).json()
    assert looked_up["response_action"] == "update"
    result = valid_view(looked_up["view"])
    assert result["callback_id"] == ids.LOOKUP_RESULT_MODAL
    shown = json.dumps(result)
    assert "peter@initech.example" in shown  # the requester's own card, 9000 featured
    assert ids.LICENSE_SHARE_ACTION not in shown
    picker = next(b for b in result["blocks"] if b.get("block_id") == ids.CONVERSATION_BLOCK)
    assert picker["element"]["type"] == "conversations_select"
    assert picker["element"]["default_to_current_conversation"] is True

    bot.slack.add_channel("C0DEALS")
    state = {
        ids.CONVERSATION_BLOCK: {
            ids.CONVERSATION_SELECT_ACTION: {
                "type": "conversations_select",
                "selected_conversation": "C0DEALS",
            }
        },
        **note_state(None),
    }
    sent = send(
        bot,
        view_submission_payload(
            ids.LOOKUP_RESULT_MODAL,
            state_values=state,
            private_metadata=result["private_metadata"],
        ),
    ).json()
    assert sent["response_action"] == "update"
    assert "<#C0DEALS>" in json.dumps(valid_view(sent["view"]))
    [posted] = bot.slack.calls_to("chat.postMessage")
    assert posted.params["channel"] == "C0DEALS"
    assert "thread_ts" not in posted.params
    card = json.dumps(valid_blocks(posted.json_param("blocks")))
    assert "peter@initech.example" not in card and "#9000" in card
    surfaces = [(row.surface, row.channel_id) for row in bot.audit_rows()]
    assert surfaces == [(ids.LOOKUP_SHORTCUT, None), (ids.LOOKUP_RESULT_MODAL, "C0DEALS")]


def test_sending_to_a_slack_connect_channel_is_refused_in_the_modal(bot):
    bot.slack.add_channel("C0SHARED", is_ext_shared=True, is_shared=True)
    metadata = ModalContext(customer=INITECH).encode()
    state = {
        ids.CONVERSATION_BLOCK: {
            ids.CONVERSATION_SELECT_ACTION: {"selected_conversation": "C0SHARED"}
        }
    }
    answer = send(
        bot,
        view_submission_payload(
            ids.LOOKUP_RESULT_MODAL, state_values=state, private_metadata=metadata
        ),
    ).json()
    assert answer["response_action"] == "errors"
    assert "another organisation" in answer["errors"][ids.CONVERSATION_BLOCK]
    assert bot.slack.calls_to("chat.postMessage") == []


# ---- a private conversation the requester is not in (a modified client can submit one) ------


def _send_from_lookup_modal(bot: Bot, conversation: str) -> dict[str, Any]:
    state = {
        ids.CONVERSATION_BLOCK: {
            ids.CONVERSATION_SELECT_ACTION: {"selected_conversation": conversation}
        }
    }
    payload = view_submission_payload(
        ids.LOOKUP_RESULT_MODAL,
        state_values=state,
        private_metadata=ModalContext(customer=INITECH).encode(),
    )
    return send(bot, payload).json()


@pytest.mark.parametrize(
    "fields",
    [{"is_private": True}, {"is_private": True, "is_mpim": True}, {"is_group": True}],
    ids=["private-channel", "group-dm", "legacy-group"],
)
def test_a_private_conversation_the_requester_is_not_in_is_refused(bot, fields):
    fields = {"is_private": True, **fields}
    bot.slack.add_channel("G0SECRET", members=["UOTHER", bot.slack.bot_user_id], **fields)
    answer = _send_from_lookup_modal(bot, "G0SECRET")
    assert answer["response_action"] == "errors"
    assert "You're not in this conversation" in answer["errors"][ids.CONVERSATION_BLOCK]
    posted = submit_post_card(bot, customer_state(INITECH), channel="G0SECRET").json()
    assert "You're not in this conversation" in posted["errors"][ids.CUSTOMER_BLOCK]
    assert bot.slack.calls_to("chat.postMessage") == []
    reasons = [row.reason for row in bot.audit_rows() if row.outcome == "not_posted"]
    assert reasons == ["requester_not_member", "requester_not_member"]


def test_a_private_channel_lists_its_members_page_by_page(bot):
    others = [f"U{number:06d}" for number in range(1_500)]
    bot.slack.add_channel("G0BIG", is_private=True, members=[*others, ALLOWED])
    answer = _send_from_lookup_modal(bot, "G0BIG")
    assert answer["response_action"] == "update"
    assert len(bot.slack.calls_to("conversations.members")) == 2
    [posted] = bot.slack.calls_to("chat.postMessage")
    assert posted.params["channel"] == "G0BIG"


def test_a_public_channel_needs_no_member_list(bot):
    bot.slack.add_channel("C0DEALS", members=["UOTHER"])  # public: anyone in the org can read
    assert _send_from_lookup_modal(bot, "C0DEALS")["response_action"] == "update"
    assert bot.slack.calls_to("conversations.members") == []
