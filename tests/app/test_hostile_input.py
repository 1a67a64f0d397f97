"""Hostile input never breaks the bot nor makes it say what nobody meant (issue 5).

- Query text (property-based, both engines): any Unicode, control characters, NUL, 10,000
  characters, SQL and LIKE metacharacters, mrkdwn and mention syntax. Always an answer, always
  Block Kit that slack_sdk accepts within Slack's limits, never a mention, broadcast or link
  that came from the query.
- Data: company and contact names carrying mrkdwn, mentions or 3,000 characters render safely.
- Interaction payloads that are malformed, truncated, not JSON, missing fields or naming ids
  that do not exist get a clear reply or a 4xx through the real WSGI path, never a 500.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from bot import ids
from bot.answers.audited import Requester
from bot.answers.lookups import LookupService
from bot.answers.redaction import Audience
from bot.services import build_services
from bot.store.importing import import_file
from bot.views.modals import ModalContext, customer_options
from tests.helpers.e2e_dataset import ALL_CONTACT_EMAILS, LICENSE_COLUMNS, load_dataset
from tests.helpers.events_harness import (
    ALLOWED,
    CHANNEL,
    CUSTOMERSDOT,
    EventsBot,
    link_shared,
    make_events_bot,
    shown,
)
from tests.helpers.slack_requests import (
    block_actions_payload,
    block_suggestion_payload,
    interaction_body,
    shortcut_payload,
    slash_command_body,
    view_submission_payload,
)

REQUESTER = Requester(user_id=ALLOWED, team_id="T0TEAM", channel_id=CHANNEL)
# Every link a card may carry starts with one of the deployment's own base URLs.
OWN_LINK_BASES = (
    "https://customers.gitlab.com",
    "https://www.zuora.com",
    "https://version.gitlab.com",
    "https://gitlab.my.salesforce.com",
    "https://access.example.test",
)
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
BLOCKS_MAX = 50
# mailto: links a card may carry: the contact emails of the stored licenses.
STORED_CONTACT_EMAILS = frozenset(
    {*ALL_CONTACT_EMAILS, "ada@umbrella-pharma.example"}
    | {f"c{license_id}@hostile.example" for license_id in range(7001, 7006)}
)

HOSTILE_PIECES = (
    "<!channel>", "<!here>", "<!everyone>", "<@U123>", "<#C123|general>", "<!subteam^S123>",
    "<https://evil.example|click>", "<http://evil.example>", "<mailto:x@evil.example|mail>",
    "*", "~", "_", "`", "```", ">", "&", "&lt;", "%", "_%", "'", "''", "\\", "\\%", '"', ";",
    "'; DROP TABLE licenses; --", "' OR '1'='1", "\x00", "\r\n", "\t", "\u202e", "\ufeff",
    "\u200b", "😀", "ß", "İ", "Ⅻ", "initech", "Initech, LLC", "@initech.example",
    "bill.lumbergh@initech.example", "9001", "A-S00090001", "gitlab.initech.example",
    "https://customers.gitlab.com/admin/license/9001",
)  # fmt: skip

query_texts = st.one_of(
    st.text(max_size=200),  # any Unicode but surrogates: control characters and NUL included
    st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=5)), max_size=12).map(
        "".join
    ),
    st.builds(
        lambda piece, text: (piece * 10_000)[:10_000] + text,
        st.sampled_from(HOSTILE_PIECES),
        st.text(max_size=3),
    ),
)


def _link_targets(text: str) -> list[str]:
    return re.findall(r"<((?:https?|mailto):[^|>]*)", text)


def _mrkdwn_texts(value: Any, *, top: bool = True) -> list[str]:
    """Every string Slack parses for mentions and links: mrkdwn text objects, and a message's
    top-level `text` (the notification). plain_text is shown literally, so it cannot mention."""
    found: list[str] = []
    if isinstance(value, dict):
        if top and isinstance(value.get("text"), str):
            found.append(value["text"])
        if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
            found.append(value["text"])
        for item in value.values():
            found += _mrkdwn_texts(item, top=False)
    elif isinstance(value, list):
        for item in value:
            found += _mrkdwn_texts(item, top=False)
    return found


DATA_AGE_TOKEN = re.compile(r"<!date\^\d+\^\{ago\}\|(?:just now|[0-9,]+ [a-z]+ ago)>")


def assert_safe_message(message: dict[str, Any], *, allow_user_mention: str | None = None) -> None:
    """Slack's limits hold, and the message mentions, broadcasts and links only what we meant."""
    blocks = message.get("blocks") or []
    assert len(blocks) <= BLOCKS_MAX
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, block
        parsed.to_dict()  # slack_sdk raises on a broken limit
        text = block.get("text") or {}
        assert len(text.get("text") or "") <= SECTION_TEXT_MAX
        for field in block.get("fields") or []:
            assert len(field.get("text") or "") <= FIELD_TEXT_MAX
    for rendered in _mrkdwn_texts(message):
        # The one special token a card carries is its own: a data time as "N hours ago" by the
        # reader's clock (bot/views/freshness.py); a broadcast or a channel link is never ours.
        rendered = DATA_AGE_TOKEN.sub("", rendered)
        assert "<!" not in rendered and "<#" not in rendered, rendered
        mentions = set(re.findall(r"<@([^>|]*)", rendered))
        assert mentions <= ({allow_user_mention} if allow_user_mention else set()), rendered
        for target in _link_targets(rendered):
            own_link = target.startswith(OWN_LINK_BASES)
            contact_mail = target.removeprefix("mailto:") in STORED_CONTACT_EMAILS
            assert own_link or contact_mail, target


@pytest.fixture
def lookups(settings, tmp_path) -> LookupService:
    # No per-user rate limit: a property test makes hundreds of lookups on purpose.
    services = build_services(replace(settings, lookup_rate_limit_per_hour=0))
    load_dataset(services.session_factory, tmp_path, datetime.now(UTC).date())
    return services.lookups


HYPOTHESIS = settings(
    deadline=None,
    max_examples=80,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@HYPOTHESIS
@given(text=query_texts)
def test_any_query_text_gets_a_safe_answer(lookups: LookupService, text: str):
    for command in (ids.LICENSE_COMMAND, ids.RECON_COMMAND):
        answer = lookups.answer_query(command, text, REQUESTER)
        # "error" is the store failing: hostile text must never get there (NUL on PostgreSQL).
        assert answer.outcome in {"ok", "ambiguous", "not_found", "usage"}, answer
        assert answer.message.text
        assert_safe_message(answer.payload())


@HYPOTHESIS
@given(text=query_texts)
def test_any_text_typed_into_the_customer_select_gets_valid_options(
    lookups: LookupService, text: str
):
    choices = lookups.customer_choices_for(text, REQUESTER)
    options = customer_options(choices)
    assert len(options) <= 100
    for option in options:
        assert len(shown(option)) < 1000
        assert len(option["text"]["text"]) <= 75 and len(option["value"]) <= 150


@pytest.mark.parametrize(
    "text",
    [
        "\x00",
        "initech\x00",
        "\x00initech",
        "%",
        "_",
        "\\",
        "'",
        "%initech%",
        "<!channel> initech",
        "<@U123>",
        "<https://evil.example|initech>",
        "x" * 10_000,
        # Found by hypothesis: a NUL in an email's local part reached PostgreSQL (DataError).
        "\x00@0.0",
        "bill\x00.lumbergh@initech.example",
        "A-S0009\x000001",
        "gitlab\x00.initech.example",
    ],
)
def test_known_hostile_queries_get_an_answer(lookups: LookupService, text: str):
    answer = lookups.answer_query(ids.LICENSE_COMMAND, text, REQUESTER)
    assert answer.outcome in {"ok", "ambiguous", "not_found", "usage"}
    assert_safe_message(answer.payload())


def test_like_metacharacters_match_literally_not_as_wildcards(lookups: LookupService):
    # "%" alone would match every company if it reached LIKE unescaped.
    for text in ("%", "_", "%%", "_%_"):
        answer = lookups.answer_query(ids.LICENSE_COMMAND, text, REQUESTER)
        assert answer.outcome in {"not_found", "usage"}, (text, answer.outcome)


# ---- hostile data --------------------------------------------------------------------------

HOSTILE_NAMES = {
    7001: ("*Bold* ~Strike~ _Italic_ `code` Corp", "<!channel> Ann"),
    7002: ("<!here> Mention Inc", "<@U0ADMIN> Bob"),
    7003: ("<https://evil.example|Click here> Ltd", "<#C0GENERAL> Cy"),
    7004: ("Longname " + "L" * 2_991, "Dee " + "D" * 2_996),
    7005: ("Amp & <b>tags</b> > Co", "&lt;!channel&gt; Eve"),
}


def _write_hostile_licenses(directory: Path) -> Path:
    today = datetime.now(UTC).date()
    path = directory / "hostile.csv"
    rows = [
        [license_id, company, contact, f"c{license_id}@hostile.example", "premium", 10,
         "false", f"{today.isoformat()}T00:00:00Z", (today - timedelta(days=1)).isoformat(),
         (today + timedelta(days=300)).isoformat(), "cloud", "", "", "", "", "", "", "x"]
        for license_id, (company, contact) in HOSTILE_NAMES.items()
    ]  # fmt: skip
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([LICENSE_COLUMNS, *rows])
    return path


@pytest.fixture
def hostile_bot(settings, slack_standin, tmp_path) -> EventsBot:
    bot = make_events_bot(settings, slack_standin, tmp_path, lookup_rate_limit_per_hour=0)
    import_file(bot.services.session_factory, "licenses", _write_hostile_licenses(tmp_path))
    return bot


@pytest.mark.parametrize("license_id", sorted(HOSTILE_NAMES))
def test_hostile_names_in_the_data_render_safely_everywhere(hostile_bot, license_id):
    lookups = hostile_bot.services.lookups
    answer = lookups.answer_query(ids.LICENSE_COMMAND, str(license_id), REQUESTER)
    assert answer.outcome == "ok"
    assert_safe_message(answer.payload())
    key = next(
        option["value"]
        for option in customer_options(lookups.customer_choices_for(str(license_id), REQUESTER))
    )
    shared = lookups.answer_customer(
        ids.LICENSE_COMMAND, key, REQUESTER, audience=Audience.CONVERSATION, surface="share"
    )
    assert shared.outcome == "ok"
    assert_safe_message(shared.payload(), allow_user_mention=ALLOWED)  # "Shared by <@ALLOWED>"
    # Through Slack: the unfurl of its license link, and the /license reply.
    hostile_bot.event(link_shared(f"{CUSTOMERSDOT}/admin/license/{license_id}"))
    response = hostile_bot.command(ids.LICENSE_COMMAND, str(license_id))
    assert response.status == 200
    assert_safe_message(response.json())
    hostile_bot.drain()
    [unfurl] = hostile_bot.calls("chat.unfurl")
    for card in unfurl.json_param("unfurls").values():
        assert_safe_message(card)


def test_a_name_search_finds_a_customer_whose_name_is_mrkdwn(hostile_bot):
    lookups = hostile_bot.services.lookups
    answer = lookups.answer_query(ids.LICENSE_COMMAND, "bold strike italic code", REQUESTER)
    assert answer.outcome == "ok"
    assert "Bold" in shown(answer.payload())
    assert_safe_message(answer.payload())


# ---- malformed interaction payloads ------------------------------------------------------


@pytest.fixture
def bot(settings, slack_standin, tmp_path) -> EventsBot:
    return make_events_bot(settings, slack_standin, tmp_path, lookup_rate_limit_per_hour=0)


def _form(**fields: str) -> str:
    return urlencode(fields)


def _block_actions(action_id: str, **changes: Any) -> dict[str, Any]:
    payload = block_actions_payload(action_id, value="x")
    for name, value in changes.items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    return payload


MALFORMED_BODIES: dict[str, str] = {
    "empty body": "",
    "payload is not JSON": _form(payload="{not json"),
    "payload truncated": interaction_body(block_actions_payload(ids.LICENSE_SHARE_ACTION))[:120],
    "payload a JSON list": _form(payload="[1, 2, 3]"),
    "payload a JSON string": _form(payload='"block_actions"'),
    "payload null": _form(payload="null"),
    "payload empty object": _form(payload="{}"),
    "payload of unknown type": _form(payload=json.dumps({"type": "nonsense", "user": {}})),
    "JSON body not an object": "[1, 2]",
    "JSON body truncated": '{"type": "event_callback", "event": {"type": "app_home_',
    "event without event": json.dumps({"type": "event_callback", "team_id": "T0TEAM"}),
    "event with a list event": json.dumps({"type": "event_callback", "event": []}),
    "form without a command": _form(user_id=ALLOWED, text="initech"),
    "command without user": _form(command="/license", text="initech", team_id="T0TEAM"),
    "command without text": _form(command="/license", user_id=ALLOWED, team_id="T0TEAM"),
    "block_actions without actions": interaction_body(
        _block_actions(ids.LICENSE_SHARE_ACTION, actions=None)
    ),
    "block_actions with empty actions": interaction_body(
        _block_actions(ids.LICENSE_SHARE_ACTION, actions=[])
    ),
    "block_actions with a non-dict action": interaction_body(
        _block_actions(ids.LICENSE_SHARE_ACTION, actions=["share"])
    ),
    "block_actions without user": interaction_body(
        _block_actions(ids.LICENSE_SHARE_ACTION, user=None)
    ),
    "block_actions with user a string": interaction_body(
        _block_actions(ids.LICENSE_SHARE_ACTION, user=ALLOWED)
    ),
    "shortcut without trigger_id": interaction_body(
        {
            key: value
            for key, value in shortcut_payload(ids.LOOKUP_SHORTCUT).items()
            if key != "trigger_id"
        }
    ),
    "suggestion without value": interaction_body(
        {
            key: value
            for key, value in block_suggestion_payload(
                ids.CUSTOMER_SELECT_ACTION, "x", view_callback_id=ids.LOOKUP_MODAL
            ).items()
            if key != "value"
        }
    ),
    "submission without state": interaction_body(
        view_submission_payload(ids.LOOKUP_MODAL, state_values={})
    ),
    "submission with garbage metadata": interaction_body(
        view_submission_payload(ids.POST_CARD_MODAL, state_values={}, private_metadata="{not json")
    ),
    "submission with metadata a list": interaction_body(
        view_submission_payload(ids.LOOKUP_RESULT_MODAL, state_values={}, private_metadata="[]")
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_BODIES))
def test_a_malformed_request_is_never_a_server_error(bot, name):
    response = bot.post(MALFORMED_BODIES[name])
    assert 200 <= response.status < 500, (name, response.status, response.text)
    bot.drain()


def _selected(value: str) -> dict[str, Any]:
    return {
        ids.CUSTOMER_BLOCK: {
            ids.CUSTOMER_SELECT_ACTION: {
                "type": "external_select",
                "selected_option": {"text": {"type": "plain_text", "text": "X"}, "value": value},
            }
        }
    }


def _license_picked(value: str) -> dict[str, Any]:
    return {
        ids.LICENSE_BLOCK: {
            ids.LICENSE_SELECT_ACTION: {
                "type": "static_select",
                "selected_option": {"text": {"type": "plain_text", "text": "X"}, "value": value},
            }
        }
    }


@pytest.mark.parametrize(
    "key", ["sf:0016100000NOSUCH", "name:no such company", "", "~", "~abc~def", "x" * 500]
)
def test_buttons_naming_a_customer_that_does_not_exist_get_a_clear_reply(bot, key):
    url = bot.slack.response_url("missing")
    for action_id in (
        ids.LICENSE_SHARE_ACTION,
        ids.CUSTOMER_PICK_LICENSE_ACTION,
        ids.CUSTOMER_PICK_RECON_ACTION,
        ids.LICENSE_SEND_TO_ME_ACTION,
        ids.FOLLOW_OPEN_CARD_ACTION,
    ):
        response = bot.click(action_id, key, response_url=url)
        assert response.status == 200, action_id
    bot.drain()
    replies = [post.body for post in bot.slack.response_posts]
    assert len(replies) == 5
    for reply in replies:
        assert reply.get("response_type") != "in_channel"  # nothing shared
        assert "no longer in the license store" in reply["text"], reply
    assert bot.calls("chat.postMessage") == []


@pytest.mark.parametrize("callback_id", [ids.LOOKUP_MODAL, ids.POST_CARD_MODAL])
def test_a_modal_naming_a_customer_or_license_that_does_not_exist_says_so(bot, callback_id):
    metadata = ModalContext(channel_id=CHANNEL, thread_ts="1700000000.000100").encode()
    for state in (
        _selected("sf:0016100000NOSUCH"),
        {**_selected("sf:0016100000INITEC"), **_license_picked("999999999")},
        {**_selected("sf:0016100000INITEC"), **_license_picked("not-a-number")},
    ):
        payload = view_submission_payload(
            callback_id, state_values=state, private_metadata=metadata
        )
        response = bot.post(interaction_body(payload))
        assert response.status == 200, response.text
        if response.body:
            answer = response.json()
            assert answer.get("response_action") in {"errors", "update"}, answer
    bot.drain()
    assert all("NOSUCH" not in shown(call.params) for call in bot.calls("chat.postMessage"))


def test_a_refill_for_a_view_that_does_not_exist_is_not_a_server_error(bot):
    payload = block_actions_payload(ids.CUSTOMER_SELECT_ACTION, response_url=None)
    payload["actions"] = [
        {
            "action_id": ids.CUSTOMER_SELECT_ACTION,
            "block_id": ids.CUSTOMER_BLOCK,
            "type": "external_select",
            "selected_option": {
                "text": {"type": "plain_text", "text": "Initech"},
                "value": "sf:0016100000INITEC",
            },
        }
    ]
    payload["view"] = {"id": "V0DOESNOTEXIST", "callback_id": ids.LOOKUP_MODAL, "hash": "1.x"}
    bot.slack.fail("views.update", "error", times=2, error="not_found")
    response = bot.post(interaction_body(payload))
    assert response.status == 200
    bot.drain()


def test_a_slash_command_with_nul_and_10000_characters_answers(bot):
    for text in ("initech\x00", "\x00", "<!channel>" * 1_000):
        response = bot.post(slash_command_body(ids.LICENSE_COMMAND, text, user_id=ALLOWED))
        assert response.status == 200
        assert_safe_message(response.json())


# Junk where Slack puts the modal's inputs, in a correctly signed submission: each is answered
# with the modal's own error on the block that holds the junk, never a 500 (issue 10).
_OPTION = {"text": {"type": "plain_text", "text": "X"}, "value": "sf:0016100000INITEC"}
JUNK_STATES: dict[str, tuple[Any, str]] = {
    "values a list": ({"values": []}, ids.CUSTOMER_BLOCK),
    "state a string": ("junk", ids.CUSTOMER_BLOCK),
    "customer block a list": ({"values": {ids.CUSTOMER_BLOCK: ["x"]}}, ids.CUSTOMER_BLOCK),
    "customer option a number": (
        {"values": {ids.CUSTOMER_BLOCK: {ids.CUSTOMER_SELECT_ACTION: {"selected_option": 7}}}},
        ids.CUSTOMER_BLOCK,
    ),
    "license value a superscript digit": (
        {
            "values": {
                ids.CUSTOMER_BLOCK: {ids.CUSTOMER_SELECT_ACTION: {"selected_option": _OPTION}},
                ids.LICENSE_BLOCK: {
                    ids.LICENSE_SELECT_ACTION: {"selected_option": {**_OPTION, "value": "²"}}
                },
            }
        },
        ids.LICENSE_BLOCK,
    ),
    "license block a string": (
        {
            "values": {
                ids.CUSTOMER_BLOCK: {ids.CUSTOMER_SELECT_ACTION: {"selected_option": _OPTION}},
                ids.LICENSE_BLOCK: "9001",
            }
        },
        ids.LICENSE_BLOCK,
    ),
    "note a list": (
        {
            "values": {
                ids.CUSTOMER_BLOCK: {ids.CUSTOMER_SELECT_ACTION: {"selected_option": _OPTION}},
                ids.NOTE_BLOCK: {ids.NOTE_ACTION: {"value": ["hello"]}},
            }
        },
        ids.NOTE_BLOCK,
    ),
}


@pytest.mark.parametrize("callback_id", [ids.LOOKUP_MODAL, ids.POST_CARD_MODAL])
@pytest.mark.parametrize("name", sorted(JUNK_STATES))
def test_junk_in_a_submitted_modal_gets_the_modals_own_error(bot, callback_id, name):
    state, block_id = JUNK_STATES[name]
    payload = view_submission_payload(
        callback_id,
        private_metadata=ModalContext(channel_id=CHANNEL, thread_ts="1700000000.000100").encode(),
    )
    payload["view"]["state"] = state
    response = bot.post(interaction_body(payload))
    assert response.status == 200, response.text
    answer = response.json()
    if callback_id == ids.LOOKUP_MODAL and block_id == ids.NOTE_BLOCK:
        # The lookup modal has no note: what is not in the form is not read.
        assert answer["response_action"] == "update", answer
        return
    assert answer["response_action"] == "errors", answer
    assert list(answer["errors"]) == [block_id], answer
    bot.drain()
    assert bot.calls("chat.postMessage") == []


def test_junk_in_the_send_modals_conversation_gets_its_own_error(bot):
    metadata = ModalContext(customer="sf:0016100000INITEC").encode()
    for junk in ({"values": {ids.CONVERSATION_BLOCK: []}}, {"values": 5}):
        payload = view_submission_payload(ids.LOOKUP_RESULT_MODAL, private_metadata=metadata)
        payload["view"]["state"] = junk
        response = bot.post(interaction_body(payload))
        assert response.status == 200, response.text
        answer = response.json()
        assert answer["response_action"] == "errors", answer
        assert list(answer["errors"]) == [ids.CONVERSATION_BLOCK], answer
