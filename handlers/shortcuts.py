"""The message shortcut "Post license card", the global shortcut "Look up a license", and
their modals: the customer search (block_suggestion), picking a customer (block_actions) and
the submissions (view_submission).

A shortcut's trigger id expires in 3 seconds, so the modal is opened first, in the ack
listener; the Slack calls that can wait (is this conversation postable? which customer does
the message name?) fill it lazily through `views.update`. Submissions answer in the HTTP
response: they post the card, then close the modal, or keep it open with the reason.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.views import View

from bot import ids
from bot.answers.conversations import check_conversation, post_customer_card
from bot.answers.following import deliver
from bot.answers.redaction import Audience
from bot.outcomes import Outcome
from bot.slack.actor import actor_of
from bot.views.modals import (
    LOOKUP_BLOCKS,
    POST_CARD_BLOCKS,
    SEND_BLOCKS,
    UNREADABLE_INPUT,
    ModalContext,
    ModalForm,
    build_lookup_modal,
    build_lookup_result_modal,
    build_message_modal,
    build_post_card_modal,
    customer_options,
    error_text,
    license_options,
    refilled_modal,
)
from handlers.binding import bind

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.answers.lookups import LookupService
    from bot.services import Services

logger = logging.getLogger(__name__)

PICK_A_CUSTOMER = "Pick a customer."


def thread_of(body: dict[str, Any]) -> ModalContext:
    """Where a message shortcut's card goes: the thread's parent, whichever message it was
    used on (a reply carries its parent's ts as thread_ts)."""
    message = body.get("message") or {}
    channel = body.get("channel") or {}
    return ModalContext(
        channel_id=channel.get("id"),
        thread_ts=message.get("thread_ts") or message.get("ts") or body.get("message_ts"),
    )


def post_card_external_id(body: dict[str, Any]) -> str:
    # Trigger ids are unique, so the lazy listener can find the modal it must fill.
    return f"{ids.POST_CARD_MODAL}:{body.get('trigger_id', '')}"[:255]


def _update_view(client: WebClient, view: View, **where: str | None) -> None:
    try:
        client.views_update(view=view, **{k: v for k, v in where.items() if v})
    except (SlackApiError, SlackClientError, OSError) as error:
        # The user closed the modal, or changed it since (hash_conflict): nothing to fill.
        logger.info("views.update skipped: %s", type(error).__name__)


def _errors(ack: Ack, block_id: str, text: str) -> None:
    ack(response_action="errors", errors={block_id: error_text(text)})


def acknowledge(ack: Ack) -> None:
    ack()


# ---- message shortcut: Post license card ---------------------------------------------


def open_post_card_modal(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
    ack()
    if not body.get("trigger_id"):
        return  # Slack always sends one; without it no modal can open
    client.views_open(
        trigger_id=body["trigger_id"],
        view=build_post_card_modal(thread_of(body), external_id=post_card_external_id(body)),
    )


def fill_post_card_modal(
    body: dict[str, Any], client: WebClient, context: BoltContext, *, lookups: LookupService
) -> None:
    target = thread_of(body)
    requester = actor_of(context)
    external_id = post_card_external_id(body)
    check = check_conversation(client, target.channel_id, requester_user_id=requester.user_id)
    if not check.allowed:
        # Say so at once, in the modal, rather than after the user filled it in.
        view = build_message_modal(check.problem or "", external_id=external_id)
        _update_view(client, view, external_id=external_id)
        return
    text = str((body.get("message") or {}).get("text") or "")
    suggested = lookups.suggest_customer(text, requester) if text.strip() else None
    if suggested is None:
        return
    view = build_post_card_modal(
        target,
        suggested=suggested.choice,
        licenses=license_options(suggested.overview),
        external_id=external_id,
    )
    _update_view(client, view, external_id=external_id)


def post_card_from_modal(
    ack: Ack,
    body: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    *,
    lookups: LookupService,
) -> None:
    view = body["view"]
    target = ModalContext.decode(view.get("private_metadata"))
    form = ModalForm.read(view, blocks=POST_CARD_BLOCKS)
    if form.unreadable_block is not None:
        _errors(ack, form.unreadable_block, UNREADABLE_INPUT)
        return
    if form.customer is None:
        _errors(ack, ids.CUSTOMER_BLOCK, PICK_A_CUSTOMER)
        return
    requester = actor_of(context)
    problem = post_customer_card(
        client,
        lookups,
        conversation_id=target.channel_id,
        customer=form.customer,
        requester=requester,
        surface=ids.POST_CARD_SHORTCUT,
        thread_ts=target.thread_ts,
        featured_license_id=form.license_id,
        note=form.note,
        # "Keep this thread updated" follows it at once: no button to follow it again.
        followable=False if form.follow_thread else None,
    )
    if problem is not None:
        _errors(ack, ids.CUSTOMER_BLOCK, problem)
        return
    if not form.follow_thread or not target.thread_ts:
        ack()
        return
    # The card is in the thread (the conversation check just passed): follow it there.
    followed = lookups.follows.follow_thread(
        client,
        form.customer,
        replace(requester, channel_id=target.channel_id),
        thread_ts=target.thread_ts,
        checked=True,
    )
    if followed.answer.outcome is not Outcome.OK:
        # Not an input error: the card is posted, and submitting again would post it twice.
        ack(response_action="update", view=build_message_modal(followed.answer.message.text))
        return
    ack()
    deliver(client, followed)


# ---- global shortcut: Look up a license ----------------------------------------------


def open_lookup_modal(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
    ack()
    if not body.get("trigger_id"):
        return  # Slack always sends one; without it no modal can open
    client.views_open(trigger_id=body["trigger_id"], view=build_lookup_modal())


def show_lookup_result(
    ack: Ack, body: dict[str, Any], context: BoltContext, *, lookups: LookupService
) -> None:
    form = ModalForm.read(body["view"], blocks=LOOKUP_BLOCKS)
    if form.unreadable_block is not None:
        _errors(ack, form.unreadable_block, UNREADABLE_INPUT)
        return
    if form.customer is None:
        _errors(ack, ids.CUSTOMER_BLOCK, PICK_A_CUSTOMER)
        return
    # The requester's own card, in the modal: no share buttons (there is no message to
    # share from); the conversation picker below sends it on.
    answer = lookups.answer_customer(
        ids.LICENSE_COMMAND,
        form.customer,
        actor_of(context),
        audience=Audience.REQUESTER,
        surface=ids.LOOKUP_SHORTCUT,
        featured_license_id=form.license_id,
        shareable=False,
    )
    if answer.outcome is not Outcome.OK:
        _errors(ack, ids.CUSTOMER_BLOCK, answer.message.text)
        return
    looked_up = ModalContext(customer=form.customer, license_id=form.license_id)
    ack(response_action="update", view=build_lookup_result_modal(answer.message, looked_up))


def send_lookup_result(
    ack: Ack,
    body: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    *,
    lookups: LookupService,
) -> None:
    view = body["view"]
    looked_up = ModalContext.decode(view.get("private_metadata"))
    form = ModalForm.read(view, blocks=SEND_BLOCKS)
    if form.unreadable_block is not None:
        _errors(ack, form.unreadable_block, UNREADABLE_INPUT)
        return
    conversation = form.conversation
    problem = post_customer_card(
        client,
        lookups,
        conversation_id=conversation,
        customer=looked_up.customer or "",
        requester=actor_of(context),
        surface=ids.LOOKUP_RESULT_MODAL,
        featured_license_id=looked_up.license_id,
        note=form.note,
    )
    if problem is not None:
        _errors(ack, ids.CONVERSATION_BLOCK, problem)
        return
    done = build_message_modal(f"Sent the card to <#{conversation}>.")
    ack(response_action="update", view=done)


# ---- the customer select, in both modals ---------------------------------------------


def suggest_customers(
    ack: Ack, body: dict[str, Any], context: BoltContext, *, lookups: LookupService
) -> None:
    choices = lookups.customer_choices_for(str(body.get("value") or ""), actor_of(context))
    ack(options=customer_options(choices))


def refill_for_customer(
    body: dict[str, Any], client: WebClient, context: BoltContext, *, lookups: LookupService
) -> None:
    view = body.get("view") or {}
    action = (body.get("actions") or [{}])[0]
    option = action.get("selected_option") or {}
    value = option.get("value")
    if not isinstance(value, str) or not value:
        return
    selection = lookups.customer_selection(value, actor_of(context))
    if selection is None:
        return
    new_view = refilled_modal(view, selection.choice, selection.overview)
    if new_view is not None:
        _update_view(client, new_view, view_id=view.get("id"), hash=view.get("hash"))


def register(app: App, services: Services) -> None:
    lookups = services.lookups
    app.message_shortcut(ids.POST_CARD_SHORTCUT)(
        ack=open_post_card_modal, lazy=[bind(fill_post_card_modal, lookups=lookups)]
    )
    app.view_submission(ids.POST_CARD_MODAL)(bind(post_card_from_modal, lookups=lookups))
    app.global_shortcut(ids.LOOKUP_SHORTCUT)(open_lookup_modal)
    app.view_submission(ids.LOOKUP_MODAL)(bind(show_lookup_result, lookups=lookups))
    app.view_submission(ids.LOOKUP_RESULT_MODAL)(bind(send_lookup_result, lookups=lookups))
    app.options(ids.CUSTOMER_SELECT_ACTION)(bind(suggest_customers, lookups=lookups))
    # Picking a customer refills the modal lazily (views.update); other inputs need no answer.
    app.block_action(ids.CUSTOMER_SELECT_ACTION)(
        ack=acknowledge, lazy=[bind(refill_for_customer, lookups=lookups)]
    )
    app.block_action(ids.LICENSE_SELECT_ACTION)(acknowledge)
