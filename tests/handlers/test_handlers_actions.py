"""handlers/actions.py through signed requests: what the other suites leave out.

Share, pick and send-to-me are covered end to end (tests/app/test_end_to_end.py,
tests/handlers/test_send_to_me.py, tests/answers/test_share_conversation_check.py); the URL buttons of a card
are not. Slack still sends block_actions for a URL button, and an unanswered one shows the
user a warning, so each is acknowledged, with nothing else done.
"""

from __future__ import annotations

import pytest

from bot import ids
from tests.helpers.events_harness import ALLOWED, EventsBot, make_events_bot

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


def test_show_more_answers_a_long_pick_list_with_its_next_page(bot, tmp_path):
    import json

    from bot.store.importing import ImportKind, import_file
    from tests.helpers.customer_rule import paid
    from tests.helpers.import_files import LICENSE_COLUMNS, write_csv

    rows = [paid(n, f"Acme Unit {n}", zuora_subscription_name=f"A-S{n}") for n in range(1, 13)]
    path = write_csv(tmp_path / "acme-units.csv", rows, LICENSE_COLUMNS)
    import_file(bot.services.session_factory, ImportKind.LICENSES, path)

    reply = json.loads(bot.command(ids.LICENSE_COMMAND, "acme unit").body)
    first = _offered(reply)
    [more] = _show_more_values(reply)
    assert len(first) == 8 and len(more) <= 2000

    url = bot.slack.response_url("more")
    response = bot.click(ids.PICK_MORE_LICENSE_ACTION, more, response_url=url)
    bot.drain()
    assert response.status == 200
    [page] = bot.slack.responses_to("more")
    assert page["replace_original"] is True and page["response_type"] == "ephemeral"
    rest = _offered(page)
    assert _show_more_values(page) == []
    assert len(rest) == 4 and set(first) | set(rest) == {f"sub:A-S{n}" for n in range(1, 13)}
    # The next page is a search like the command's, audited as one.
    assert [row.surface for row in bot.audit_rows()] == [ids.LICENSE_COMMAND] * 2


def _offered(message: dict) -> list[str]:
    blocks = message["blocks"]
    assert len(blocks) <= 50
    return [
        block["accessory"]["value"]
        for block in blocks
        if block.get("block_id", "").startswith(ids.PICK_LIST_BLOCK_PREFIX)
    ]


def _show_more_values(message: dict) -> list[str]:
    return [
        element["value"]
        for block in message["blocks"]
        if block.get("block_id") == ids.PICK_MORE_BLOCK
        for element in block["elements"]
    ]
