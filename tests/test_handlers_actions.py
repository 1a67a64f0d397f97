"""handlers/actions.py through signed requests: what the other suites leave out.

Share, pick and send-to-me are covered end to end (tests/test_end_to_end.py,
tests/test_send_to_me.py, tests/test_share_conversation_check.py); the URL buttons of a card
are not. Slack still sends block_actions for a URL button, and an unanswered one shows the
user a warning, so each is acknowledged, with nothing else done.
"""

from __future__ import annotations

import pytest

from bot import ids
from tests.events_harness import ALLOWED, EventsBot, make_events_bot

URL_BUTTONS = ["customersdot_license", "zuora_subscription", "license_hostnames"]


@pytest.fixture
def bot(settings, slack_standin, tmp_path) -> EventsBot:
    return make_events_bot(settings, slack_standin, tmp_path)


@pytest.mark.parametrize("name", URL_BUTTONS)
def test_a_url_button_is_acknowledged_and_nothing_else(bot, name):
    response = bot.click(ids.link_action_id(name), "", user_id=ALLOWED)
    bot.drain()
    assert response.status == 200
    assert response.body == b""
    # Bolt's token check and the allowlist asking who clicked are all: no message, no view,
    # no response_url.
    asked = {"auth.test", "users.info", "usergroups.users.list"}
    assert {call.method for call in bot.calls()} <= asked
    assert [row.outcome for row in bot.audit_rows()] == []
