"""handlers/ called as plain functions: no signed request, no Bolt app, no middleware.

A listener is a module-level function taking Bolt's arguments and, keyword-only, the services it
uses (handlers.binding.bind fills those in at registration). Here `ack` and `respond` are
recorders, `client` a real WebClient against the Slack stand-in, the services real, on a SQLite
store holding tests/helpers/e2e_dataset.py; the context holds what the allowlist middleware
would have put there: the request's actor and its access decision. The signed-request suites
(tests/app/test_end_to_end.py, tests/app/test_every_surface_refusal.py, …) prove the same
listeners wired.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_bolt import BoltContext
from slack_bolt.util.utils import get_arg_names_of_callable, get_name_for_callable
from slack_sdk import WebClient
from sqlalchemy import select

from bot import ids
from bot.access import AccessDecision
from bot.config import Settings
from bot.services import Services, build_services
from bot.slack.actor import ACTOR_CONTEXT_KEY, actor_for_request
from bot.slack.allowlist import ACCESS_CONTEXT_KEY
from bot.store.models import AuditEvent
from handlers import actions, commands, events, lifecycle, shortcuts
from handlers.binding import bind
from tests.helpers.e2e_dataset import ALL_CONTACT_EMAILS, INITECH_EMAIL, load_dataset
from tests.helpers.slack_requests import (
    DEFAULT_CHANNEL_ID,
    DEFAULT_TEAM_ID,
    block_actions_payload,
    view_submission_payload,
)
from tests.helpers.slack_standin import SlackStandIn

# The store is not what is under test here: one engine is enough.
on_sqlite = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)

ALLOWED = "UALLOWED"
ALLOWED_ACCESS = AccessDecision.allow("user_id")
# A customer key of the shape the card's buttons carry, naming no customer in the store.
NO_SUCH_CUSTOMER = "sf:0016100000NOBODY"


class Recorder:
    """Stands in for Bolt's `ack` or `respond`: keeps what each call would have sent Slack."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def __call__(self, **message: Any) -> None:
        self.sent.append(message)


@dataclass(frozen=True)
class Installation:
    """The ids the actor takes from Bolt's authorize result (bot.slack.actor.InstallationIds)."""

    team_id: str | None = DEFAULT_TEAM_ID
    enterprise_id: str | None = None


def context_for(body: dict[str, Any], access: AccessDecision = ALLOWED_ACCESS) -> BoltContext:
    """The context the allowlist middleware would have left for this request."""
    actor = actor_for_request(body, Installation())
    return BoltContext({ACTOR_CONTEXT_KEY: actor, ACCESS_CONTEXT_KEY: access})


def shown(message: Any) -> str:
    return json.dumps(message, ensure_ascii=False, default=str)


@pytest.fixture
def services(settings: Settings, tmp_path: Path) -> Iterator[Services]:
    services = build_services(settings)
    load_dataset(services.session_factory, tmp_path, datetime.now(UTC).date())
    yield services
    services.engine.dispose()


@pytest.fixture
def client(slack_standin: SlackStandIn) -> WebClient:
    slack_standin.add_user(ALLOWED, email="ae@sales.example")
    slack_standin.add_channel(DEFAULT_CHANNEL_ID)  # internal and public: a card may go there
    return WebClient(token="xoxb-test-token", base_url=slack_standin.api_url)


def audited(services: Services) -> list[tuple[str, str, str | None]]:
    with services.session_factory() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(row.surface, row.outcome, row.user_id) for row in rows]


# ---- commands --------------------------------------------------------------------------------


@on_sqlite
def test_the_license_command_answers_in_its_ack_with_the_customers_card(services):
    command = {"command": ids.LICENSE_COMMAND, "text": "initech", "user_id": ALLOWED}
    ack = Recorder()
    commands.handle_lookup_command(ack, command, context_for(command), lookups=services.lookups)
    [answer] = ack.sent
    assert answer["response_type"] == "ephemeral"
    assert answer["blocks"][0]["text"]["text"] == "Initech, LLC"
    assert INITECH_EMAIL in shown(answer)  # the requester's own card names who received it
    assert audited(services) == [(ids.LICENSE_COMMAND, "ok", ALLOWED)]


# ---- block actions ---------------------------------------------------------------------------


@on_sqlite
def test_a_share_button_with_a_forged_value_posts_nothing_in_the_channel(
    services, client, slack_standin
):
    body = block_actions_payload(ids.LICENSE_SHARE_ACTION, value=NO_SUCH_CUSTOMER)
    respond = Recorder()
    actions.share_license_card(body, respond, client, context_for(body), lookups=services.lookups)
    [reply] = respond.sent
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False
    assert "no longer in the license store" in reply["text"]
    assert slack_standin.calls_to("chat.postMessage") == []


@on_sqlite
def test_a_show_all_button_with_a_value_we_did_not_build_is_only_told_so(services, client):
    body = block_actions_payload(ids.LICENSE_HISTORY_ACTION, value='{"k": 7}')
    respond = Recorder()
    actions.show_all_licenses(body, respond, client, context_for(body), lookups=services.lookups)
    [reply] = respond.sent
    assert "cannot be continued" in reply["text"]
    assert not any(email in shown(reply) for email in ALL_CONTACT_EMAILS)


# ---- shortcuts' modals ------------------------------------------------------------------------


@on_sqlite
def test_the_lookup_modal_submitted_with_no_customer_stays_open_and_says_why(services):
    body = view_submission_payload(ids.LOOKUP_MODAL)
    ack = Recorder()
    shortcuts.show_lookup_result(ack, body, context_for(body), lookups=services.lookups)
    [answer] = ack.sent
    assert answer["response_action"] == "errors"
    assert answer["errors"] == {ids.CUSTOMER_BLOCK: shortcuts.PICK_A_CUSTOMER}
    assert audited(services) == []


# ---- App Home --------------------------------------------------------------------------------


@on_sqlite
def test_app_home_opened_publishes_the_home_tab_with_a_recent_lookup_that_opens_its_card(
    services, client, slack_standin
):
    command = {"command": ids.LICENSE_COMMAND, "text": "initech", "user_id": ALLOWED}
    commands.handle_lookup_command(
        Recorder(), command, context_for(command), lookups=services.lookups
    )
    event = {"type": "app_home_opened", "user": ALLOWED, "tab": "home"}
    event_context = context_for({"type": "event_callback", "event": event})

    events.publish_home(
        event,
        event_context,
        client,
        lookups=services.lookups,
        access_request_url=services.settings.access_request_url,
    )

    [published] = slack_standin.calls_to("views.publish")
    assert published.params["user_id"] == ALLOWED
    home = published.json_param("view")
    assert home["type"] == "home"
    assert "your Slack account is on the allowlist" in shown(home)
    [recent] = [
        block["accessory"]
        for block in home["blocks"]
        if block.get("accessory", {}).get("action_id") == ids.HOME_RECENT_LOOKUP_ACTION
    ]
    assert "/license initech" in shown(home)

    # The recent lookup's button: the same search again, its card in a modal.
    click = block_actions_payload(
        ids.HOME_RECENT_LOOKUP_ACTION, value=recent["value"], response_url=None
    )
    events.open_recent_lookup(click, client, context_for(click), lookups=services.lookups)
    [opened] = slack_standin.calls_to("views.open")
    assert "Initech, LLC" in shown(opened.json_param("view"))


@on_sqlite
def test_app_home_opened_on_the_messages_tab_publishes_nothing(services, client, slack_standin):
    event = {"type": "app_home_opened", "user": ALLOWED, "tab": "messages"}
    events.publish_home(
        event,
        context_for({"type": "event_callback", "event": event}),
        client,
        lookups=services.lookups,
        access_request_url=services.settings.access_request_url,
    )
    assert slack_standin.calls_to("views.publish") == []


# ---- lifecycle -------------------------------------------------------------------------------


def test_a_revoked_bot_token_with_nothing_stored_tells_the_operator(caplog):
    event = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOT"]}}
    with caplog.at_level(logging.WARNING, logger="handlers.lifecycle"):
        lifecycle.handle_tokens_revoked(
            event,
            BoltContext({"team_id": DEFAULT_TEAM_ID}),
            installation_store=None,
            workspace_resolvers=None,
        )
    assert "SLACK_BOT_TOKEN no longer works" in caplog.text


# ---- binding ---------------------------------------------------------------------------------


def test_bolt_sees_only_a_bound_listeners_own_arguments_and_its_name():
    listener = bind(commands.handle_lookup_command, lookups=object())
    # What Bolt's argument injection reads (slack_bolt.kwargs_injection): the services are
    # not names it would try to fill (with None) from the request.
    assert get_arg_names_of_callable(listener) == ["ack", "command", "context"]
    # What Bolt logs a listener as, and finds a lazy one by on FaaS runners.
    assert get_name_for_callable(listener) == "handle_lookup_command"


def test_binding_fails_at_registration_not_at_the_first_request():
    with pytest.raises(TypeError, match="not keyword-only"):
        bind(commands.handle_lookup_command, lookups=object(), context=BoltContext())
    with pytest.raises(TypeError, match="not bound"):
        bind(commands.handle_lookup_command)
