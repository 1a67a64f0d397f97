"""The WSGI app as Slack drives it, wrapped for a test: signed commands and clicks, the stand-in
behind it, its audit rows (the `bot` fixture in tests/conftest.py builds one with the shared
data set loaded); and the shortcuts' payloads, views and waits."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import Block
from sqlalchemy import select

from bot import ids
from bot.app import SlackWsgiApp
from bot.config import Settings
from bot.store.models import AuditEvent
from bot.views.modals import ModalContext
from tests.helpers.slack_requests import (
    block_actions_payload,
    interaction_body,
    post_to_wsgi,
    slash_command_body,
    view_submission_payload,
)
from tests.helpers.slack_standin import RecordedCall, SlackStandIn

SECRET = "e2e-signing-secret"
ALLOWED = "UALLOWED"
ACCESS_URL = "https://access.example.test/request"


@dataclass
class Bot:
    wsgi: SlackWsgiApp
    slack: SlackStandIn
    settings: Settings

    def command(self, command: str, text: str, *, user_id: str = ALLOWED, **kwargs: Any):
        body = slash_command_body(
            command, text, user_id=user_id, response_url=self.slack.response_url("cmd"), **kwargs
        )
        return post_to_wsgi(self.wsgi, body, SECRET)

    def click(self, action_id: str, value: str, *, user_id: str = ALLOWED, name: str = "click"):
        payload = block_actions_payload(
            action_id,
            value=value,
            user_id=user_id,
            is_ephemeral=True,
            response_url=self.slack.response_url(name),
        )
        return post_to_wsgi(self.wsgi, interaction_body(payload), SECRET)

    def wait_for_response_post(self, name: str, count: int = 1) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            posts = self.slack.responses_to(name)
            if len(posts) >= count:
                return posts
            time.sleep(0.02)
        raise AssertionError(f"no response_url post to {name!r} within 10 s")

    def audit_rows(self) -> list[AuditEvent]:
        services = self.wsgi._services
        with services.session_factory() as session:
            return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


PARENT_TS = "1700000000.000100"


def send(bot: Bot, payload: dict[str, Any]):
    return post_to_wsgi(bot.wsgi, interaction_body(payload), SECRET)


def wait_for_calls(bot: Bot, method: str, count: int = 1) -> list[RecordedCall]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        calls = bot.slack.calls_to(method)
        if len(calls) >= count:
            return calls
        time.sleep(0.02)
    raise AssertionError(f"no {method} call within 10 s: {[c.method for c in bot.slack.calls]}")


def valid_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, block
        parsed.to_dict()
    return blocks


def customer_state(value: str, text: str = "Initech") -> dict[str, Any]:
    return {
        ids.CUSTOMER_BLOCK: {
            ids.CUSTOMER_SELECT_ACTION: {
                "type": "external_select",
                "selected_option": {"text": {"type": "plain_text", "text": text}, "value": value},
            }
        }
    }


def submit_post_card(
    bot: Bot, state: dict[str, Any], *, channel: str = "C0SALES", thread_ts: str = PARENT_TS
):
    metadata = ModalContext(channel_id=channel, thread_ts=thread_ts).encode()
    payload = view_submission_payload(
        ids.POST_CARD_MODAL, state_values=state, private_metadata=metadata
    )
    return send(bot, payload)
