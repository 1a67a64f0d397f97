"""Events and App Home: app_home_opened, link_shared, the Home tab's recent-lookup buttons, and
the events saying the bot can no longer post into a conversation (its follows are paused).

Every Web API call here (views.publish, chat.unfurl, views.open) need not precede the HTTP
response, so each runs in a lazy listener after the ack.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot import ids
from bot.access import AccessDecision
from bot.answers.following import conversation_gone_reason
from bot.answers.unfurls import Unfurler
from bot.slack.actor import actor_of
from bot.slack.allowlist import ACCESS_CONTEXT_KEY
from bot.views.home import build_card_modal, build_home_view, parse_recent_lookup_value
from handlers.binding import bind
from handlers.payloads import action_value

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.answers.lookups import LookupService
    from bot.services import Services

logger = logging.getLogger(__name__)

HOME_TAB = "home"


def acknowledge(ack: Ack) -> None:
    ack()


def publish_home(
    event: dict[str, Any],
    context: BoltContext,
    client: WebClient,
    *,
    lookups: LookupService,
    access_request_url: str | None,
) -> None:
    # app_home_opened also fires for the Messages tab, which the bot does not draw.
    if event.get("tab", HOME_TAB) != HOME_TAB or not event.get("user"):
        return
    _publish_home(event["user"], context, client, lookups, access_request_url)


def publish_home_of(
    context: BoltContext,
    client: WebClient,
    *,
    lookups: LookupService,
    access_request_url: str | None,
) -> None:
    """The requester's Home drawn again (after an Unfollow there)."""
    user_id = actor_of(context).user_id
    if user_id:
        _publish_home(user_id, context, client, lookups, access_request_url)


def _publish_home(
    user_id: str,
    context: BoltContext,
    client: WebClient,
    lookups: LookupService,
    access_request_url: str | None,
) -> None:
    access = context.get(ACCESS_CONTEXT_KEY)
    decision = access if isinstance(access, AccessDecision) else None
    allowed = decision is not None and decision.allowed
    facts = lookups.home_facts(user_id) if allowed else None
    view = build_home_view(decision, facts, access_request_url=access_request_url)
    client.views_publish(user_id=user_id, view=view)


def unfurl_links(
    body: dict[str, Any], client: WebClient, context: BoltContext, *, unfurler: Unfurler
) -> None:
    plan = unfurler.plan(body, client, actor_of(context))
    if plan is None:
        return
    try:
        client.chat_unfurl(channel=plan.channel, ts=plan.ts, unfurls=plan.unfurls)
    except Exception as error:  # SlackApiError or a network error, after bounded retries
        # Nobody waits on an unfurl, so there is no one to tell; the link stays unclaimed.
        logger.warning("chat.unfurl failed (%s); claims released", type(error).__name__)
        unfurler.not_taken(plan)


def open_recent_lookup(
    body: dict[str, Any], client: WebClient, context: BoltContext, *, lookups: LookupService
) -> None:
    parsed = parse_recent_lookup_value(action_value(body))
    if parsed is None:
        logger.info("home: ignored a recent-lookup button we did not build")
        return
    command, query = parsed
    answer = lookups.answer_query(command, query, actor_of(context))
    view = build_card_modal(answer.message, command=command, query=query)
    client.views_open(trigger_id=body["trigger_id"], view=view)


def pause_follows(
    event: dict[str, Any], context: BoltContext, client: WebClient, *, lookups: LookupService
) -> None:
    reason = conversation_gone_reason(event, bot_user_id=context.bot_user_id)
    channel = event.get("channel")
    if reason is not None and isinstance(channel, str) and channel:
        lookups.follows.conversation_gone(client, channel, reason)


def register(app: App, services: Services) -> None:
    lookups = services.lookups
    home = bind(
        publish_home, lookups=lookups, access_request_url=services.settings.access_request_url
    )
    unfurler = Unfurler(services.session_factory, lookups, services.links)
    app.event("app_home_opened")(ack=acknowledge, lazy=[home])
    app.event("link_shared")(ack=acknowledge, lazy=[bind(unfurl_links, unfurler=unfurler)])
    app.action(ids.HOME_RECENT_LOOKUP_ACTION)(
        ack=acknowledge, lazy=[bind(open_recent_lookup, lookups=lookups)]
    )
    paused = bind(pause_follows, lookups=lookups)
    for gone in ids.CONVERSATION_GONE_EVENTS:
        # DMs to owners need not precede the ack: lazily.
        app.event(gone)(ack=acknowledge, lazy=[paused])
