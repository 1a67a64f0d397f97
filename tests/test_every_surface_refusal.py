"""A refused user gets nothing on every surface (DESIGN.md: Privacy).

Table-driven: each surface the app answers (commands, block actions, block suggestions,
shortcuts, view submissions, events) × each kind of refused user (not listed; a listed guest;
a listed external user). For each, no customer field from the dataset appears in anything the
bot sent: the HTTP response, response_url posts, and every Web API call the stand-in recorded.
Where Slack lets the bot answer, the answer is a polite refusal; the refusal is audited.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bot import ids
from tests.e2e_dataset import ALL_CONTACT_EMAILS
from tests.events_harness import (
    ACCESS_URL,
    ALLOWED,
    CUSTOMERSDOT,
    EXTERNAL,
    GUEST,
    NOT_LISTED,
    REFUSED_USERS,
    EventsBot,
    app_home_opened,
    fresh_event_id,
    link_shared,
    make_events_bot,
    shown,
    validated_view,
)
from tests.slack_requests import (
    WsgiResponse,
    block_actions_payload,
    block_suggestion_payload,
    event_body,
    interaction_body,
    message_action_payload,
    shortcut_payload,
    slash_command_body,
    view_submission_payload,
)

# Every customer field of tests/e2e_dataset.py a card could carry.
CUSTOMER_FIELDS = (
    *ALL_CONTACT_EMAILS,
    "Initech", "Globex", "Umbrella", "Lumbergh", "Gibbons", "Scorpio", "Wesker", "Ada Wong",
    "9001", "9000", "8999", "9100", "9200", "9300",
    "A-S00090001", "A-S00091000", "A-S00092000", "A-S00090009",
    "8a8aa0b1c2d3e4f5a6b7c8d9e0f1a2b3", "b1b2b3b4b5b6b7b8b9b0c1c2c3c4c5c6",
    "0016100000INITEC", "gitlab.initech.example", "4,312.50", "Zuora rejected",
)  # fmt: skip
INITECH_KEY = "sf:0016100000INITEC"
RESPONSE_URL_NAME = "surface"


def leaked_fields(text: str) -> list[str]:
    lowered = text.lower()
    return [field for field in CUSTOMER_FIELDS if field.lower() in lowered]


@dataclass(frozen=True)
class Surface:
    name: str
    body: Callable[[EventsBot, str], str]  # (bot, user id) -> the signed request's body
    answers: bool = False  # Slack lets the bot answer: a refusal must be visible somewhere


def _interaction(payload: dict[str, Any]) -> str:
    return interaction_body(payload)


def _action(action_id: str, value: str, **kwargs: Any) -> Callable[[EventsBot, str], str]:
    def body(bot: EventsBot, user: str) -> str:
        # A fresh dict per request: each test has its own stand-in, on its own port.
        options = {"response_url": bot.slack.response_url(RESPONSE_URL_NAME), **kwargs}
        return _interaction(block_actions_payload(action_id, value=value, user_id=user, **options))

    return body


def _command(command: str) -> Callable[[EventsBot, str], str]:
    def body(bot: EventsBot, user: str) -> str:
        return slash_command_body(
            command,
            "initech",
            user_id=user,
            response_url=bot.slack.response_url(RESPONSE_URL_NAME),
        )

    return body


def _event(make: Callable[[str], dict[str, Any]]) -> Callable[[EventsBot, str], str]:
    def body(bot: EventsBot, user: str) -> str:
        return event_body(make(user), event_id=fresh_event_id())

    return body


def _submission(callback_id: str) -> Callable[[EventsBot, str], str]:
    state = {
        "customer": {
            ids.CUSTOMER_SELECT_ACTION: {
                "type": "external_select",
                "selected_option": {
                    "text": {"type": "plain_text", "text": "Initech"},
                    "value": INITECH_KEY,
                },
            }
        },
        "conversation": {
            "conversation": {"type": "conversations_select", "selected_conversation": "C0SALES"}
        },
    }

    def body(bot: EventsBot, user: str) -> str:
        return _interaction(
            view_submission_payload(
                callback_id,
                user_id=user,
                state_values=state,
                private_metadata=json.dumps({"channel": "C0SALES", "ts": "1700000000.000100"}),
            )
        )

    return body


SURFACES = [
    Surface("/license", _command(ids.LICENSE_COMMAND), answers=True),
    Surface("/recon", _command(ids.RECON_COMMAND), answers=True),
    Surface("share button", _action(ids.LICENSE_SHARE_ACTION, INITECH_KEY), answers=True),
    Surface("pick license", _action(ids.CUSTOMER_PICK_LICENSE_ACTION, INITECH_KEY), answers=True),
    Surface("pick recon", _action(ids.CUSTOMER_PICK_RECON_ACTION, INITECH_KEY), answers=True),
    Surface("send to me", _action(ids.LICENSE_SEND_TO_ME_ACTION, INITECH_KEY), answers=True),
    Surface(
        "home recent lookup",
        _action(
            ids.HOME_RECENT_LOOKUP_ACTION,
            json.dumps({"c": "/license", "q": "initech"}),
            response_url=None,
        ),
    ),
    Surface(
        "customer select",
        lambda bot, user: _interaction(
            block_suggestion_payload(
                ids.CUSTOMER_SELECT_ACTION,
                "initech",
                user_id=user,
                view_callback_id=ids.LOOKUP_MODAL,
            )
        ),
    ),
    Surface(
        "global shortcut",
        lambda bot, user: _interaction(shortcut_payload(ids.LOOKUP_SHORTCUT, user_id=user)),
    ),
    Surface(
        "message shortcut",
        lambda bot, user: _interaction(
            message_action_payload(
                ids.POST_CARD_SHORTCUT,
                user_id=user,
                message_text="Deal review for Initech",
                response_url=bot.slack.response_url(RESPONSE_URL_NAME),
            )
        ),
    ),
    Surface("post card modal", _submission(ids.POST_CARD_MODAL), answers=True),
    Surface("lookup modal", _submission(ids.LOOKUP_MODAL), answers=True),
    Surface(
        "link_shared",
        _event(
            lambda user: link_shared(
                f"{CUSTOMERSDOT}/admin/license/9001",
                f"{CUSTOMERSDOT}/admin/reconciliation/502",
                user=user,
            )
        ),
    ),
    Surface("app_home_opened", _event(app_home_opened), answers=True),
]


@pytest.fixture
def bot(settings, slack_standin, tmp_path) -> EventsBot:
    return make_events_bot(settings, slack_standin, tmp_path)


def everything_sent(bot: EventsBot, response: WsgiResponse) -> str:
    """All the bot sent for one request: the HTTP response, response_url posts, Web API calls."""
    bot.drain()
    sent: list[Any] = [response.text]
    sent += [post.body for post in bot.slack.response_posts]
    sent += [{"method": call.method, "params": call.params} for call in bot.slack.calls]
    return shown(sent)


def test_the_leak_detector_sees_customer_data_when_it_is_sent(bot):
    """The control: an allowed user's answers do carry the fields the refusal tests look for."""
    response = bot.post(_command(ids.LICENSE_COMMAND)(bot, ALLOWED))
    assert "Initech" in leaked_fields(everything_sent(bot, response))
    bot.slack.clear()
    response = bot.post(SURFACES[-2].body(bot, ALLOWED))  # link_shared
    assert leaked_fields(everything_sent(bot, response))


@pytest.mark.parametrize("user", REFUSED_USERS)
@pytest.mark.parametrize("surface", SURFACES, ids=lambda surface: surface.name)
def test_a_refused_user_gets_no_customer_data(bot, surface: Surface, user: str):
    response = bot.post(surface.body(bot, user))
    assert response.status == 200
    sent = everything_sent(bot, response)
    assert leaked_fields(sent) == [], sent
    assert "chat.postMessage" not in sent and "chat.unfurl" not in sent
    assert "views.open" not in sent  # no modal with data, and no lookup modal either
    if surface.answers:
        assert "Sorry" in sent or "can't look up" in sent or "not on the list" in sent, sent
    denied = [row for row in bot.audit_rows() if row.outcome == "denied"]
    assert [row.user_id for row in denied] == [user]
    assert all(row.outcome == "denied" for row in bot.audit_rows())


@pytest.mark.parametrize(
    ("user", "reason"), [(NOT_LISTED, "not_listed"), (GUEST, "guest"), (EXTERNAL, "external")]
)
def test_a_refused_users_home_shows_how_to_ask_for_access_and_no_data(bot, user, reason):
    bot.event(app_home_opened(user))
    bot.drain()
    [call] = bot.calls("views.publish")
    view = validated_view(call.json_param("view"))
    text = shown(view)
    assert leaked_fields(text) == []
    assert ids.HOME_RECENT_LOOKUP_ACTION not in text and "Data as of" not in text
    if reason == "not_listed":
        assert ACCESS_URL in text  # someone not listed can ask to be
    else:
        assert "can't look up customer licenses" in text  # guests and visitors never can
    assert [(row.surface, row.reason) for row in bot.audit_rows()] == [("app_home_opened", reason)]
