"""Buttons: share a card into the channel, pick a customer, and URL buttons (ack only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, Respond

from bot import ids
from bot.lookups import COMMAND_BY_PICK_ACTION, Audience
from handlers.payloads import action_value, requester_from_interaction

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.app import Services


def acknowledge(ack: Ack) -> None:
    ack()


def register(app: App, services: Services) -> None:
    lookups = services.lookups

    def share_license_card(body: dict[str, Any], respond: Respond) -> None:
        answer = lookups.answer_customer(
            ids.LICENSE_COMMAND,
            action_value(body),
            requester_from_interaction(body),
            audience=Audience.CONVERSATION,
            surface="share",
        )
        if answer.outcome != "ok":
            respond(response_type="ephemeral", replace_original=False, **answer.payload())
            return
        respond(response_type="in_channel", replace_original=False, **answer.payload())

    def show_picked_customer(body: dict[str, Any], respond: Respond) -> None:
        action_id = body["actions"][0]["action_id"]
        answer = lookups.answer_customer(
            COMMAND_BY_PICK_ACTION[action_id],
            action_value(body),
            requester_from_interaction(body),
            audience=Audience.REQUESTER,
            surface="pick",
        )
        respond(response_type="ephemeral", replace_original=True, **answer.payload())

    # URL buttons open in the browser, but Slack still sends block_actions for them.
    app.action(ids.LINK_ACTION_PATTERN)(acknowledge)
    # The Web API call (response_url) need not precede the ack: it runs lazily.
    app.action(ids.LICENSE_SHARE_ACTION)(ack=acknowledge, lazy=[share_license_card])
    for pick_action in COMMAND_BY_PICK_ACTION:
        app.action(pick_action)(ack=acknowledge, lazy=[show_picked_customer])
