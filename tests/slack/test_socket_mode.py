"""Socket Mode answers a malformed payload instead of raising inside Bolt (issue 5).

Messages go through slack_sdk's own dispatch (`run_message_listeners`) into the handler
`python -m bot serve` uses, exactly as they arrive off the websocket; only the websocket send is
replaced by a recorder. Without the shape check these payloads raise inside Bolt, slack_sdk logs
a traceback and the envelope is never acknowledged, so Slack would deliver it again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot import ids
from bot.slack.socket_mode import ShapeCheckingSocketModeHandler
from tests.helpers.events_harness import ALLOWED, EventsBot, make_events_bot
from tests.helpers.slack_requests import block_actions_payload, slash_command_body

ENVELOPE_TYPES = {"command": "slash_commands", "interaction": "interactive", "event": "events_api"}


def _block_actions(**changes: Any) -> dict[str, Any]:
    payload = block_actions_payload(ids.LICENSE_SHARE_ACTION, value="x")
    payload.update(changes)
    return payload


# Each is a JSON object (Socket Mode only delivers objects) that Bolt cannot handle.
MALFORMED_PAYLOADS: dict[str, tuple[str, dict[str, Any]]] = {
    "block_actions with empty actions": ("interaction", _block_actions(actions=[])),
    "block_actions with a non-dict action": ("interaction", _block_actions(actions=["share"])),
    "block_actions with actions an object": ("interaction", _block_actions(actions={"a": 1})),
    "block_actions with user a list": ("interaction", _block_actions(user=[ALLOWED])),
    "block_actions with view a number": ("interaction", _block_actions(view=7)),
    "event_callback with a list event": (
        "event",
        {"type": "event_callback", "team_id": "T0TEAM", "event": []},
    ),
    "event_callback with a string event": (
        "event",
        {"type": "event_callback", "team_id": "T0TEAM", "event": "app_home_opened"},
    ),
}


@pytest.fixture
def bot(settings, slack_standin, tmp_path) -> EventsBot:
    return make_events_bot(settings, slack_standin, tmp_path, lookup_rate_limit_per_hour=0)


@pytest.fixture
def handler(bot: EventsBot) -> Iterator[tuple[ShapeCheckingSocketModeHandler, list[Any]]]:
    handler = ShapeCheckingSocketModeHandler(bot.app, "xapp-1-test-token")
    sent: list[SocketModeResponse] = []
    handler.client.send_socket_mode_response = sent.append  # type: ignore[method-assign]
    try:
        yield handler, sent
    finally:
        handler.client.close()


def _deliver(handler: ShapeCheckingSocketModeHandler, kind: str, payload: dict[str, Any]) -> str:
    envelope_id = f"env-{len(json.dumps(payload))}"
    message = {"type": ENVELOPE_TYPES[kind], "envelope_id": envelope_id, "payload": payload}
    handler.client.run_message_listeners(message, json.dumps(message))
    return envelope_id


@pytest.mark.parametrize("name", sorted(MALFORMED_PAYLOADS))
def test_a_malformed_socket_mode_payload_is_acknowledged_not_raised(bot, handler, caplog, name):
    socket_handler, sent = handler
    kind, payload = MALFORMED_PAYLOADS[name]
    with caplog.at_level(logging.WARNING):
        envelope_id = _deliver(socket_handler, kind, payload)
    bot.drain()
    assert [response.envelope_id for response in sent] == [envelope_id]
    assert sent[0].payload is None  # acknowledged with nothing to show
    # No traceback from slack_sdk's "Failed to run a request listener"; one line with the reason.
    assert not [record for record in caplog.records if record.exc_info]
    assert any("malformed" in record.getMessage() for record in caplog.records)
    assert bot.calls() == []  # nothing was sent to Slack on its behalf


def test_a_well_formed_command_still_reaches_bolt_after_a_malformed_one(bot, handler):
    socket_handler, sent = handler
    _deliver(socket_handler, *MALFORMED_PAYLOADS["block_actions with empty actions"])
    command = dict(
        parse_qsl(
            slash_command_body("/license", "initech", user_id=ALLOWED), keep_blank_values=True
        )
    )
    envelope_id = _deliver(socket_handler, "command", command)
    bot.drain()
    assert sent[-1].envelope_id == envelope_id
    assert "Initech" in json.dumps(sent[-1].payload)
