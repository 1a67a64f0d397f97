"""Request bodies Bolt reads wrongly, read rightly where they enter (bot/slack/bolt_request.py,
bot/slack/request_shape.py): a slash command whose text, channel or workspace contains the word
"payload", and JSON nested deeper than Python's parser recurses.

slack-bolt 1.30's `parse_body` takes any form body containing "payload" for an interaction
payload and reads it as `{}`: the command reached no listener (an empty 200, an audit row with
no user). A body is a `payload=` form only when its `payload` key exists.
"""

from __future__ import annotations

import json
import logging

import pytest
import slack_bolt.request.request as bolt_request_module
from slack_bolt.request.internals import parse_body

from bot.slack import bolt_request as slack_request_module
from bot.slack import request_shape
from bot.slack.bolt_request import SlackRequest
from bot.slack.request_shape import malformed_reason, parse_slack_body
from tests.helpers.http_bot import ALLOWED, SECRET
from tests.helpers.slack_requests import (
    block_actions_payload,
    interaction_body,
    post_to_wsgi,
    slash_command_body,
)

PAYLOAD_WORD_BODIES = {
    "the query": {"text": "payload"},
    "a channel named payload-eng": {"text": "initech", "channel_name": "payload-eng"},
    "a workspace whose domain contains payloadco": {"text": "initech", "team_domain": "payloadco"},
}


@pytest.mark.parametrize("case", list(PAYLOAD_WORD_BODIES))
def test_bolt_reads_a_command_containing_the_word_payload_as_nothing(case: str) -> None:
    """The upstream bug this module works around, pinned: if Bolt fixes it, this fails and the
    workaround can go."""
    body = slash_command_body("/license", **PAYLOAD_WORD_BODIES[case])
    assert parse_body(body, "application/x-www-form-urlencoded") == {}
    parsed = SlackRequest(
        body=body, headers={"content-type": ["application/x-www-form-urlencoded"]}
    )
    assert parsed.body["command"] == "/license"
    assert parsed.context.user_id == ALLOWED
    assert parsed.to_copyable().body == parsed.body  # what a lazy listener gets


@pytest.mark.parametrize("case", list(PAYLOAD_WORD_BODIES))
def test_a_command_containing_the_word_payload_is_answered(bot, case: str) -> None:
    response = bot.command("/license", **PAYLOAD_WORD_BODIES[case])
    assert response.status == 200
    message = response.json()
    assert message["blocks"], message
    [row] = bot.audit_rows()
    assert (row.user_id, row.surface) == (ALLOWED, "/license")
    assert row.reason is None  # not the "no_user" of a body read as nothing


def test_an_interaction_is_still_its_payload() -> None:
    body = interaction_body(block_actions_payload("license_share", value="payload"))
    assert parse_slack_body(body, "application/x-www-form-urlencoded")["type"] == "block_actions"
    assert parse_slack_body("a=1&payload_note=x", None) == {"a": "1", "payload_note": "x"}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("[" * 200_000, "application/json"),
        ("payload=" + "[" * 200_000, "application/x-www-form-urlencoded"),
        ('{"a":' * 100_000 + "1" + "}" * 100_000, "application/json"),
    ],
)
def test_json_nested_deeper_than_the_parser_goes_is_refused_in_one_line(
    bot,
    body: str,
    content_type: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert malformed_reason(body, content_type) is not None
    caplog.set_level(logging.INFO)
    response = post_to_wsgi(bot.wsgi, body, SECRET, headers={"Content-Type": content_type})
    assert response.status == 400
    assert json.loads(response.body) == {"error": "malformed request"}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info]


def test_a_request_body_is_parsed_once_where_it_enters(bot, monkeypatch) -> None:
    """The boundary's shape check parses the body; the request Bolt dispatches is built from
    that parse, not from a second one (Bolt's, then ours)."""
    parsed: list[str] = []

    def counted(parse):
        def parse_counted(body: str, content_type: str | None):
            if body:
                parsed.append(body)
            return parse(body, content_type)

        return parse_counted

    monkeypatch.setattr(request_shape, "parse_slack_body", counted(parse_slack_body))
    monkeypatch.setattr(slack_request_module, "parse_slack_body", counted(parse_slack_body))
    monkeypatch.setattr(bolt_request_module, "parse_body", counted(parse_body))
    body = slash_command_body("/license", "payload")
    response = post_to_wsgi(bot.wsgi, body, SECRET)
    assert response.status == 200 and response.json()["blocks"]
    assert parsed == [body]
