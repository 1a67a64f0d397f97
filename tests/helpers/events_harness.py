"""The app driven end to end as Slack drives it, for App Home, unfurl and refusal tests.

The WSGI app gets signed requests (events, commands, interactions); its Web API calls reach the
loopback stand-in. Lazy listeners run on the app's executor after the ack: `drain()` waits for
every one already started, so "nothing was sent" is asserted after the work is done rather than
after a sleep.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from slack_bolt import App
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from sqlalchemy import select

from bot import ids
from bot.app import SlackWsgiApp, create_app
from bot.config import Settings
from bot.services import Services, build_services
from bot.store.models import AuditEvent
from bot.views.modals import ModalContext
from tests.helpers.e2e_dataset import load_dataset
from tests.helpers.slack_requests import (
    WsgiResponse,
    block_actions_payload,
    event_body,
    interaction_body,
    post_to_wsgi,
    slash_command_body,
    view_submission_payload,
)
from tests.helpers.slack_standin import RecordedCall, SlackStandIn

SECRET = "events-signing-secret"
ALLOWED = "UALLOWED"
NOT_LISTED = "UNOTLISTED"
GUEST = "UGUEST"
EXTERNAL = "UEXTERNAL"
SINGLE_CHANNEL_GUEST = "USCGUEST"
DEACTIVATED = "UDEACTIVATED"
UNKNOWN_TO_SLACK = "UUNKNOWN"  # users.info answers user_not_found
USERS_INFO_FAILING = "UINFOFAILS"  # users.info answers an error: who it is cannot be checked
REFUSED_USERS = (NOT_LISTED, GUEST, EXTERNAL)
EVERY_REFUSED_USER = (
    *REFUSED_USERS,
    SINGLE_CHANNEL_GUEST,
    DEACTIVATED,
    UNKNOWN_TO_SLACK,
    USERS_INFO_FAILING,
)
ACCESS_URL = "https://access.example.test/request"
CHANNEL = "C0SALES"
CUSTOMERSDOT = "https://customers.gitlab.com"
INITECH_KEY = "sf:0016100000INITEC"
RESPONSE_URL_NAME = "surface"

_event_ids = itertools.count(1)


def fresh_event_id() -> str:
    # The de-duplication middleware drops a repeated event_id, as it should a Slack retry.
    return f"Ev{next(_event_ids):010d}"


@dataclass
class EventsBot:
    wsgi: SlackWsgiApp
    app: App
    slack: SlackStandIn
    settings: Settings
    services: Services

    def post(self, body: str) -> WsgiResponse:
        return post_to_wsgi(self.wsgi, body, SECRET)

    def event(self, event: dict[str, Any], **envelope: Any) -> WsgiResponse:
        envelope.setdefault("event_id", fresh_event_id())
        return self.post(event_body(event, **envelope))

    def command(self, command: str, text: str, *, user_id: str = ALLOWED) -> WsgiResponse:
        body = slash_command_body(
            command, text, user_id=user_id, response_url=self.slack.response_url("cmd")
        )
        return self.post(body)

    def click(
        self, action_id: str, value: str, *, user_id: str = ALLOWED, **kwargs: Any
    ) -> WsgiResponse:
        payload = block_actions_payload(action_id, value=value, user_id=user_id, **kwargs)
        return self.post(interaction_body(payload))

    def drain(self) -> None:
        """Wait for every lazy listener started so far, then give the app a fresh executor."""
        runner = self.app.listener_runner
        runner.lazy_listener_runner.executor.shutdown(wait=True)  # type: ignore[attr-defined]
        fresh = ThreadPoolExecutor(max_workers=5)
        runner.lazy_listener_runner.executor = fresh  # type: ignore[attr-defined]
        runner.listener_executor = fresh

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        return self.slack.calls if method is None else self.slack.calls_to(method)

    def audit_rows(self) -> list[AuditEvent]:
        with self.services.session_factory() as session:
            return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def make_events_bot(
    settings: Settings, slack: SlackStandIn, tmp_path: Path, **changes: Any
) -> EventsBot:
    slack.add_user(ALLOWED, email="ae@sales.example")
    slack.add_user(NOT_LISTED, email="someone@sales.example")
    slack.add_user(GUEST, email="ae@sales.example", is_restricted=True)
    slack.add_user(EXTERNAL, email="visitor@partner.example", team_id="T0PARTNER")
    slack.add_user(SINGLE_CHANNEL_GUEST, email="ae@sales.example", is_ultra_restricted=True)
    slack.add_user(DEACTIVATED, email="ae@sales.example", deleted=True)
    slack.add_channel(CHANNEL)
    settings = replace(
        settings,
        slack_signing_secret=SECRET,
        slack_api_url=slack.api_url,
        # Every refused account but NOT_LISTED is listed: being listed must not let it in.
        allowed_user_ids=frozenset({ALLOWED, *EVERY_REFUSED_USER} - {NOT_LISTED}),
        access_request_url=ACCESS_URL,
        **changes,
    )
    services = build_services(settings)
    load_dataset(services.session_factory, tmp_path, datetime.now(UTC).date())
    app = create_app(settings, services=services)
    slack.clear()
    return EventsBot(SlackWsgiApp(app, services), app, slack, settings, services)


def link_shared(
    *urls: str,
    user: str = ALLOWED,
    channel: str = CHANNEL,
    message_ts: str = "1700000000.000100",
    source: str = "conversations_history",
) -> dict[str, Any]:
    """A link_shared event as Slack sends it for a posted message (or the composer)."""
    return {
        "type": "link_shared",
        "channel": channel,
        "is_bot_user_member": True,
        "user": user,
        "message_ts": message_ts,
        "unfurl_id": f"{channel}.{message_ts}.0123456789abcdef",
        "source": source,
        "event_ts": "1700000001.000200",
        "links": [{"domain": "customers.gitlab.com", "url": url} for url in urls],
    }


def app_home_opened(user: str = ALLOWED, tab: str = "home") -> dict[str, Any]:
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": "D0HOME",
        "tab": tab,
        "event_ts": "1700000001.000300",
    }


def validated_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Blocks round-tripped through slack_sdk's models, which raise on Slack's limits."""
    parsed = [Block.parse(block) for block in blocks]
    assert all(block is not None for block in parsed), blocks
    return [block.to_dict() for block in parsed if block is not None]


def validated_view(view: dict[str, Any]) -> dict[str, Any]:
    return View(**view).to_dict()


def shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def submission(callback_id: str) -> Callable[[EventsBot, str], str]:
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
        return interaction_body(
            view_submission_payload(
                callback_id,
                user_id=user,
                state_values=state,
                private_metadata=ModalContext(
                    channel_id=CHANNEL, thread_ts="1700000000.000100"
                ).encode(),
            )
        )

    return body


def into_conversations(bot: EventsBot) -> list[Any]:
    """Everything the bot put where others can read it: in_channel replies, posts, unfurls."""
    bot.drain()
    posted: list[Any] = [
        post.body
        for post in bot.slack.response_posts
        if post.body.get("response_type") == "in_channel"
    ]
    for call in bot.slack.calls:
        channel = str(call.params.get("channel") or "")
        if call.method == "chat.unfurl" or (
            call.method == "chat.postMessage" and not channel.startswith("D")
        ):
            posted.append({"method": call.method, "params": call.params})
    return posted


def to_the_requester(bot: EventsBot, responses: list[WsgiResponse]) -> str:
    """Ephemeral replies, modals and DMs: only the person who asked sees them."""
    bot.drain()
    private: list[Any] = [response.text for response in responses]
    private += [
        post.body
        for post in bot.slack.response_posts
        if post.body.get("response_type") != "in_channel"
    ]
    private += [
        call.params
        for call in bot.slack.calls
        if str(call.params.get("channel") or "").startswith("D")
    ]
    return shown(private)
