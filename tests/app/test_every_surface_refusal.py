"""A refused user gets nothing on every surface (ARCHITECTURE.md: Privacy).

Table-driven: each surface the app answers (commands, block actions including forged button
values naming a real customer, block suggestions, shortcuts, view submissions, link unfurls,
App Home) × each kind of refused user (not listed; and, though listed: a guest, a single-channel
guest, an external/Slack Connect user, a deactivated account, an id Slack does not know, an
account users.info cannot be asked about). For each, no customer field from the dataset appears in anything the
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
from bot.views.license_card import history_value
from bot.views.modals import ModalContext
from tests.helpers.e2e_dataset import ALL_CONTACT_EMAILS, INITECH_EMAIL
from tests.helpers.events_harness import (
    ACCESS_URL,
    ALLOWED,
    CHANNEL,
    CUSTOMERSDOT,
    EVERY_REFUSED_USER,
    EXTERNAL,
    GUEST,
    INITECH_KEY,
    NOT_LISTED,
    RESPONSE_URL_NAME,
    USERS_INFO_FAILING,
    EventsBot,
    app_home_opened,
    fresh_event_id,
    into_conversations,
    link_shared,
    make_events_bot,
    shown,
    submission,
    to_the_requester,
    validated_view,
)
from tests.helpers.slack_requests import (
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

# Every customer field of tests/helpers/e2e_dataset.py a card could carry.
CUSTOMER_FIELDS = (
    *ALL_CONTACT_EMAILS,
    "Initech", "Globex", "Umbrella", "Lumbergh", "Gibbons", "Scorpio", "Wesker", "Ada Wong",
    "9001", "9000", "8999", "9100", "9200", "9300",
    "A-S00090001", "A-S00091000", "A-S00092000", "A-S00090009",
    "8a8aa0b1c2d3e4f5a6b7c8d9e0f1a2b3", "b1b2b3b4b5b6b7b8b9b0c1c2c3c4c5c6",
    "0016100000INITEC", "gitlab.initech.example", "4,312.50", "Zuora rejected",
)  # fmt: skip
GLOBEX_KEY = "sf:0016100000GLOBEX"


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


def _command(command: str, text: str = "initech") -> Callable[[EventsBot, str], str]:
    def body(bot: EventsBot, user: str) -> str:
        return slash_command_body(
            command,
            text,
            user_id=user,
            response_url=bot.slack.response_url(RESPONSE_URL_NAME),
        )

    return body


def _event(make: Callable[[str], dict[str, Any]]) -> Callable[[EventsBot, str], str]:
    def body(bot: EventsBot, user: str) -> str:
        return event_body(make(user), event_id=fresh_event_id())

    return body


SURFACES = [
    Surface("/license", _command(ids.LICENSE_COMMAND), answers=True),
    Surface("/recon", _command(ids.RECON_COMMAND), answers=True),
    Surface("share button", _action(ids.LICENSE_SHARE_ACTION, INITECH_KEY), answers=True),
    Surface("pick license", _action(ids.CUSTOMER_PICK_LICENSE_ACTION, INITECH_KEY), answers=True),
    Surface("pick recon", _action(ids.CUSTOMER_PICK_RECON_ACTION, INITECH_KEY), answers=True),
    Surface("send to me", _action(ids.LICENSE_SEND_TO_ME_ACTION, INITECH_KEY), answers=True),
    Surface(
        "open a follow update's card",
        _action(ids.FOLLOW_OPEN_CARD_ACTION, INITECH_KEY),
        answers=True,
    ),
    Surface(
        "show all licenses",
        _action(ids.LICENSE_HISTORY_ACTION, history_value(INITECH_KEY, 0)),
        answers=True,
    ),
    # Forged values: a button Slack never showed this user, naming another real customer.
    Surface("forged share", _action(ids.LICENSE_SHARE_ACTION, GLOBEX_KEY), answers=True),
    Surface(
        "forged pick by id",
        _action(ids.CUSTOMER_PICK_LICENSE_ACTION, "0016100000GLOBEX"),
        answers=True,
    ),
    Surface(
        "forged select option",
        lambda bot, user: _interaction(
            {
                **block_actions_payload(
                    ids.CUSTOMER_SELECT_ACTION,
                    user_id=user,
                    response_url=None,
                ),
                "actions": [
                    {
                        "action_id": ids.CUSTOMER_SELECT_ACTION,
                        "block_id": ids.CUSTOMER_BLOCK,
                        "type": "external_select",
                        "selected_option": {
                            "text": {"type": "plain_text", "text": "Globex"},
                            "value": GLOBEX_KEY,
                        },
                        "action_ts": "1700000100.000200",
                    }
                ],
                "view": {"id": "V0FORGED", "callback_id": ids.LOOKUP_MODAL, "hash": "h"},
            }
        ),
    ),
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
    Surface("post card modal", submission(ids.POST_CARD_MODAL), answers=True),
    Surface("lookup modal", submission(ids.LOOKUP_MODAL), answers=True),
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
    Surface("/license follow", _command(ids.LICENSE_COMMAND, "follow initech"), answers=True),
    Surface("/license unfollow", _command(ids.LICENSE_COMMAND, "unfollow initech"), answers=True),
    Surface("/license following", _command(ids.LICENSE_COMMAND, "following"), answers=True),
    Surface(
        "follow in this thread",
        _action(
            ids.FOLLOW_IN_THREAD_ACTION,
            INITECH_KEY,
            message={
                "type": "message",
                "ts": "1700000050.000200",
                "user": "UBOT",
                "bot_id": "BBOT",
                "blocks": [
                    {
                        "type": "actions",
                        "elements": [
                            {
                                "type": "button",
                                "action_id": ids.FOLLOW_IN_THREAD_ACTION,
                                "value": INITECH_KEY,
                            }
                        ],
                    }
                ],
            },
        ),
        answers=True,
    ),
    Surface("unfollow button", _action(ids.UNFOLLOW_ACTION, "1"), answers=True),
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
    [link] = [surface for surface in SURFACES if surface.name == "link_shared"]
    response = bot.post(link.body(bot, ALLOWED))
    assert leaked_fields(everything_sent(bot, response))


@pytest.mark.parametrize("user", EVERY_REFUSED_USER)
@pytest.mark.parametrize("surface", SURFACES, ids=lambda surface: surface.name)
def test_a_refused_user_gets_no_customer_data(bot, surface: Surface, user: str):
    if user == USERS_INFO_FAILING:
        # Every users.info answer fails (not "user_not_found"): who asks cannot be checked.
        bot.slack.fail("users.info", "error", times=100, error="fatal_error")
    response = bot.post(surface.body(bot, user))
    assert response.status == 200
    sent = everything_sent(bot, response)
    assert leaked_fields(sent) == [], sent
    assert "chat.postMessage" not in sent and "chat.unfurl" not in sent
    assert "views.open" not in sent  # no modal with data, and no lookup modal either
    if surface.answers:
        assert any(words in sent for words in ("Sorry", "can't", "couldn't", "not on the list")), (
            sent
        )
    denied = [row for row in bot.audit_rows() if row.outcome == "denied"]
    assert [row.user_id for row in denied] == [user]
    assert all(row.outcome == "denied" for row in bot.audit_rows())


@pytest.mark.parametrize("surface", SURFACES, ids=lambda surface: surface.name)
def test_a_workspace_outside_the_listed_organisations_gets_no_customer_data(
    settings, slack_standin, tmp_path, surface: Surface
):
    # The allowed user, through an installation (the bot token's workspace, T0TEAM) that is not
    # one of the organisations the bot serves.
    bot = make_events_bot(
        settings, slack_standin, tmp_path, allowed_team_ids=frozenset({"T0ELSEWHERE"})
    )
    response = bot.post(surface.body(bot, ALLOWED))
    assert response.status == 200
    sent = everything_sent(bot, response)
    assert leaked_fields(sent) == [], sent
    for nothing in ("chat.postMessage", "chat.unfurl", "views.open", "views.publish"):
        assert nothing not in sent  # not even a Home tab: nothing is drawn for it
    assert "users.info" not in sent  # refused before anything else
    if surface.answers and surface.name != "app_home_opened":
        assert "isn't available in this workspace" in sent, sent
    assert [(row.user_id, row.outcome, row.reason) for row in bot.audit_rows()] == [
        (ALLOWED, "denied", "outside_organisation")
    ]


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


# ---- allowed users: contact emails stay out of conversations -------------------------------


def test_an_allowed_users_cards_in_conversations_carry_no_contact_email(bot):
    assert bot.settings.show_contact_emails_in_channels is False
    url = bot.slack.response_url(RESPONSE_URL_NAME)
    private: list[WsgiResponse] = []
    # Requester-only surfaces: the ephemeral /license reply, the lookup modal, send-to-me DM.
    private.append(bot.command(ids.LICENSE_COMMAND, "initech"))
    private.append(bot.post(submission(ids.LOOKUP_MODAL)(bot, ALLOWED)))
    bot.click(ids.LICENSE_SEND_TO_ME_ACTION, INITECH_KEY, response_url=url)
    # Conversation surfaces: share, the message shortcut's post, the global shortcut's send,
    # and an unfurl.
    bot.click(ids.LICENSE_SHARE_ACTION, INITECH_KEY, response_url=url)
    bot.post(submission(ids.POST_CARD_MODAL)(bot, ALLOWED))
    send_state = {
        ids.CONVERSATION_BLOCK: {
            ids.CONVERSATION_SELECT_ACTION: {
                "type": "conversations_select",
                "selected_conversation": CHANNEL,
            }
        }
    }
    metadata = ModalContext(customer=INITECH_KEY).encode()
    bot.post(
        _interaction(
            view_submission_payload(
                ids.LOOKUP_RESULT_MODAL, state_values=send_state, private_metadata=metadata
            )
        )
    )
    bot.event(link_shared(f"{CUSTOMERSDOT}/admin/license/9001"))

    in_conversations = into_conversations(bot)
    methods = sorted(item.get("method", "response_url") for item in in_conversations)
    # All four conversation surfaces posted a card: the share (response_url), two posts, one
    # unfurl; else this test would pass by sending nothing.
    assert methods == ["chat.postMessage", "chat.postMessage", "chat.unfurl", "response_url"]
    text = shown(in_conversations)
    assert "Initech" in text
    assert [email for email in ALL_CONTACT_EMAILS if email in text] == []
    # The control: the same cards, to the requester alone, do show the contact email.
    assert INITECH_EMAIL in to_the_requester(bot, private)
