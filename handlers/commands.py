"""/license and /recon: answered in the HTTP response itself, ephemeral to the requester.

`/license follow|unfollow …` (bot/answers/follow_command.py) checks the conversation with Slack
and may post into it and DM an owner, so it is acked at once and answered lazily through the
response_url; `/license following` only reads, and answers in the ack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient

from bot import ids
from bot.answers.follow_command import read_follow_request
from bot.answers.following import deliver
from bot.slack.actor import actor_of
from handlers.binding import bind

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.answers.lookups import LookupService
    from bot.services import Services


def handle_lookup_command(
    ack: Ack, command: dict[str, Any], context: BoltContext, *, lookups: LookupService
) -> None:
    answer = lookups.answer_query(command["command"], command.get("text") or "", actor_of(context))
    ack(response_type="ephemeral", **answer.payload())


def is_follow_command(body: dict[str, Any]) -> bool:
    return body.get("command") == ids.LICENSE_COMMAND and (
        read_follow_request(str(body.get("text") or "")) is not None
    )


def is_lookup_command(body: dict[str, Any]) -> bool:
    """A command text that is no `/license follow|unfollow|following …`: a lookup."""
    return not is_follow_command(body)


def claims_in_its_transaction(body: dict[str, Any]) -> bool:
    """Whether this request's listener is `handle_lookup_command`, which touches nothing before
    its audited transaction and so makes the request's replay claim there
    (bot/slack/request_claims.py)."""
    return isinstance(body.get("command"), str) and is_lookup_command(body)


def acknowledge_follow_command(
    ack: Ack, command: dict[str, Any], context: BoltContext, *, lookups: LookupService
) -> None:
    request = read_follow_request(str(command.get("text") or ""))
    if request is not None and request.subcommand == ids.FOLLOWING_SUBCOMMAND:
        answer = lookups.follows.following(actor_of(context))
        ack(response_type="ephemeral", **answer.payload())
        return
    ack()  # follow and unfollow answer through the response_url (follow_or_unfollow)


def follow_or_unfollow(
    command: dict[str, Any],
    respond: Respond,
    client: WebClient,
    context: BoltContext,
    *,
    lookups: LookupService,
) -> None:
    request = read_follow_request(str(command.get("text") or ""))
    if request is None or request.subcommand == ids.FOLLOWING_SUBCOMMAND:
        return
    requester = actor_of(context)
    if request.subcommand == ids.FOLLOW_SUBCOMMAND:
        result = lookups.follows.follow_command(client, request, requester)
    else:
        result = lookups.follows.unfollow_command(request, requester)
    respond(response_type="ephemeral", **result.answer.payload())
    deliver(client, result)


def register(app: App, services: Services) -> None:
    lookups = services.lookups
    # Lookups first, the commands almost every request is: each listener Bolt tries before the
    # one that answers costs it a matcher call (its arguments built anew for each). Every
    # command text that is no `/license follow|unfollow|following …` is a lookup.
    listener = bind(handle_lookup_command, lookups=lookups)
    for name in ids.COMMANDS:
        matchers = [is_lookup_command] if name == ids.LICENSE_COMMAND else None
        app.command(name, matchers=matchers)(listener)
    app.command(ids.LICENSE_COMMAND, matchers=[is_follow_command])(
        ack=bind(acknowledge_follow_command, lookups=lookups),
        lazy=[bind(follow_or_unfollow, lookups=lookups)],
    )
