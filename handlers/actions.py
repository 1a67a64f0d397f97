"""Buttons: share a card into the channel, pick a customer, show more of a pick list, show all
of a customer's licenses, follow in a card's thread, open a follow update's full card, unfollow,
and URL buttons (ack only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient

from bot import ids
from bot.answers.conversations import (
    Delivery,
    check_before_posting,
    post_via_response_url,
    send_direct_message,
)
from bot.answers.following import deliver
from bot.answers.redaction import Audience
from bot.answers.slash import COMMAND_BY_MORE_ACTION, COMMAND_BY_PICK_ACTION
from bot.outcomes import Outcome
from bot.slack.actor import actor_of
from bot.views.home import build_list_modal
from bot.views.notices import build_notice, build_share_refused
from bot.views.posting import SHARE_NOT_TAKEN
from handlers.binding import bind
from handlers.events import publish_home_of
from handlers.payloads import action_value

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.answers.audited import Answer, Requester
    from bot.answers.lookups import LookupService
    from bot.services import Services


SHARE_SURFACE = "share"
SEND_TO_ME_SURFACE = "send_to_me"
OPEN_CARD_SURFACE = "follow_open_card"
SENT_TO_DM = "Sent to your direct messages with CustomersDot, where it stays."


def acknowledge(ack: Ack) -> None:
    ack()


def share_license_card(
    body: dict[str, Any],
    respond: Respond,
    client: WebClient,
    context: BoltContext,
    *,
    lookups: LookupService,
) -> None:
    requester = actor_of(context)
    customer = action_value(body)
    # The same conversation check as the shortcut and the modal, before the card is even
    # built; Slack posts through the response_url, so a public channel needs no /invite.
    check = check_before_posting(
        client,
        lookups,
        conversation_id=requester.channel_id,
        customer=customer,
        requester=requester,
        surface=SHARE_SURFACE,
        delivery=Delivery.RESPONSE_URL,
    )
    if not check.allowed:
        refused = build_share_refused(check.problem or "", customer)
        respond(response_type="ephemeral", replace_original=False, **refused.to_dict())
        return
    answer = lookups.answer_customer(
        ids.LICENSE_COMMAND,
        customer,
        requester,
        audience=Audience.CONVERSATION,
        surface=SHARE_SURFACE,
    )
    if answer.outcome is not Outcome.OK:
        respond(response_type="ephemeral", replace_original=False, **answer.payload())
        return
    shared = post_via_response_url(
        respond, response_type="in_channel", replace_original=False, **answer.payload()
    )
    user_id = requester.user_id
    if not shared and user_id:
        # The response_url is what failed, so the one place left to say so is the DM.
        send_direct_message(client, user_id, **build_notice(SHARE_NOT_TAKEN).to_dict())


def show_picked_customer(
    body: dict[str, Any], respond: Respond, context: BoltContext, *, lookups: LookupService
) -> None:
    action_id = body["actions"][0]["action_id"]
    answer = lookups.answer_customer(
        COMMAND_BY_PICK_ACTION[action_id],
        action_value(body),
        actor_of(context),
        audience=Audience.REQUESTER,
        surface="pick",
    )
    respond(response_type="ephemeral", replace_original=True, **answer.payload())


def show_all_licenses(
    body: dict[str, Any],
    respond: Respond | None,
    client: WebClient,
    context: BoltContext,
    *,
    lookups: LookupService,
) -> None:
    answer = lookups.answer_history(action_value(body), actor_of(context))
    if respond is not None and body.get("response_url"):
        # Below the card (or the page before), ephemeral: the card stays where it was.
        respond(response_type="ephemeral", replace_original=False, **answer.payload())
    elif body.get("trigger_id"):
        # A card inside a modal (the lookup shortcut's) has no message to answer under:
        # the list opens on top of it.
        client.views_push(trigger_id=body["trigger_id"], view=build_list_modal(answer.message))


def show_more_matches(
    body: dict[str, Any], respond: Respond, context: BoltContext, *, lookups: LookupService
) -> None:
    action_id = body["actions"][0]["action_id"]
    answer = lookups.answer_more_matches(
        COMMAND_BY_MORE_ACTION[action_id], action_value(body), actor_of(context)
    )
    respond(response_type="ephemeral", replace_original=True, **answer.payload())


def send_card_to_requester(
    body: dict[str, Any],
    client: WebClient,
    respond: Respond | None,
    context: BoltContext,
    *,
    lookups: LookupService,
) -> None:
    # The requester's own card (emails included) into their DM with the bot, where it
    # stays; no buttons on it, since it is already where it was sent.
    requester = actor_of(context)
    answer = _own_card(body, requester, lookups, surface=SEND_TO_ME_SURFACE, shareable=False)
    problem = answer.message.text if answer.outcome is not Outcome.OK else None
    if problem is None and requester.user_id:
        problem = send_direct_message(client, requester.user_id, **answer.payload())
    if respond is None or not body.get("response_url"):
        # A button in a modal has no response_url (Bolt still passes a `respond`, which
        # raises there): the DM, or nothing, tells.
        return
    # Never a silent failure: say where the card went, or why it did not.
    respond(text=problem or SENT_TO_DM, response_type="ephemeral", replace_original=False)


def _own_card(
    body: dict[str, Any],
    requester: Requester,
    lookups: LookupService,
    *,
    surface: str,
    shareable: bool | None = None,
) -> Answer:
    """The card of the customer the button names, for the requester alone (contact emails as
    they may see them): a forged value only ever looks up a customer, through the allowlist,
    the rate limit and the audit."""
    return lookups.answer_customer(
        ids.LICENSE_COMMAND,
        action_value(body),
        requester,
        audience=Audience.REQUESTER,
        surface=surface,
        shareable=shareable,
    )


def follow_in_thread(
    body: dict[str, Any],
    respond: Respond,
    client: WebClient,
    context: BoltContext,
    *,
    lookups: LookupService,
) -> None:
    # The bot's own ids, to tell its cards from anyone else's message (the payload's message).
    bot_ids = {value for value in (context.bot_user_id, context.bot_id) if value}
    result = lookups.follows.follow_in_thread(client, body, actor_of(context), bot_ids=bot_ids)
    respond(response_type="ephemeral", replace_original=False, **result.answer.payload())
    deliver(client, result)


def open_full_card(
    body: dict[str, Any],
    respond: Respond | None,
    client: WebClient,
    context: BoltContext,
    *,
    lookups: LookupService,
) -> None:
    # A follow's update is shared with the whole conversation and carries little; whoever wants
    # the rest gets their own card, ephemeral under the update.
    requester = actor_of(context)
    answer = _own_card(body, requester, lookups, surface=OPEN_CARD_SURFACE)
    if respond is not None and body.get("response_url"):
        respond(response_type="ephemeral", replace_original=False, **answer.payload())
    elif requester.user_id:
        # No message to answer under (Slack sent no response_url): the DM is the one place left.
        send_direct_message(client, requester.user_id, **answer.payload())


def unfollow(
    body: dict[str, Any],
    respond: Respond | None,
    client: WebClient,
    context: BoltContext,
    *,
    lookups: LookupService,
    access_request_url: str | None,
) -> None:
    container = body.get("container") or {}
    # Where the button was clicked, as Slack says: a following list shown in a conversation,
    # or App Home (no conversation: only the follow's owner may stop it there).
    in_conversation = container.get("channel_id") if container.get("type") == "message" else None
    result = lookups.follows.unfollow_button(
        action_value(body), actor_of(context), in_conversation=in_conversation
    )
    deliver(client, result)
    if container.get("type") == "view":
        publish_home_of(context, client, lookups=lookups, access_request_url=access_request_url)
    elif respond is not None and body.get("response_url"):
        respond(response_type="ephemeral", replace_original=False, **result.answer.payload())


def register(app: App, services: Services) -> None:
    lookups = services.lookups
    # URL buttons open in the browser, but Slack still sends block_actions for them.
    app.action(ids.LINK_ACTION_PATTERN)(acknowledge)
    # The Web API call (response_url) need not precede the ack: it runs lazily.
    app.action(ids.LICENSE_SHARE_ACTION)(
        ack=acknowledge, lazy=[bind(share_license_card, lookups=lookups)]
    )
    app.action(ids.LICENSE_SEND_TO_ME_ACTION)(
        ack=acknowledge, lazy=[bind(send_card_to_requester, lookups=lookups)]
    )
    app.action(ids.LICENSE_HISTORY_ACTION)(
        ack=acknowledge, lazy=[bind(show_all_licenses, lookups=lookups)]
    )
    picked = bind(show_picked_customer, lookups=lookups)
    for pick_action in COMMAND_BY_PICK_ACTION:
        app.action(pick_action)(ack=acknowledge, lazy=[picked])
    more = bind(show_more_matches, lookups=lookups)
    for more_action in COMMAND_BY_MORE_ACTION:
        app.action(more_action)(ack=acknowledge, lazy=[more])
    app.action(ids.FOLLOW_IN_THREAD_ACTION)(
        ack=acknowledge, lazy=[bind(follow_in_thread, lookups=lookups)]
    )
    app.action(ids.FOLLOW_OPEN_CARD_ACTION)(
        ack=acknowledge, lazy=[bind(open_full_card, lookups=lookups)]
    )
    app.action(ids.UNFOLLOW_ACTION)(
        ack=acknowledge,
        lazy=[
            bind(
                unfollow,
                lookups=lookups,
                access_request_url=services.settings.access_request_url,
            )
        ],
    )
