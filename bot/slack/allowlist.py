"""The allowlist as one Bolt global middleware (ARCHITECTURE.md: the request path).

Every request that names a user is checked before any listener runs: slash commands, block
actions, suggestions, shortcuts, modal submissions, events. The middleware builds the request's
one `Actor` (bot.slack.actor: team and enterprise from the installation, never from the body) and
keeps it in `context["actor"]`. First, the installation must be known (when Slack could not
confirm the bot's token, bot.slack.authorization, the request is refused as identity
unavailable) and belong to an allowed organisation
(ALLOWED_TEAM_IDS / ALLOWED_ENTERPRISE_IDS, bot.organisations); then the user must be on the
allowlist (bot.slack.identity). An allowed request continues with its `AccessDecision` in
`context["access"]`; a refused one is audited and answered politely, with no customer data,
and no listener ever sees it. Slack's own requests (`url_verification`, and the lifecycle
events `app_uninstalled`, `tokens_revoked`) act for no user and pass unchecked, as do the events
saying the bot can no longer post into a conversation (archived, the bot removed, shared with
another organisation): whoever they name, their listener only ever makes the bot post less. Any
other request without a user is refused.

    app.use(allowlist_middleware(resolver,
                                 session_factory=session_factory,
                                 access_request_url=settings.access_request_url,
                                 refusal_builder=build_refusal,
                                 organisations=settings.organisations))

How each kind of refused request is answered:
- slash command: an ephemeral refusal in the ack (the HTTP response);
- block_actions: ack, then an ephemeral refusal through the response_url, never replacing
  the message the button was on (it may be someone else's card in a channel);
- block_suggestion: no options;
- view_submission: the modal is replaced by a refusal modal (there is no input to attach an
  `errors` entry to, and closing it silently would look like success);
- shortcuts, message actions, view_closed, events: ack and nothing else.
- app_home_opened: the one exception. The refusal is audited, then the event reaches its
  listener with the refusal in `context["access"]`, so the Home tab can say how to ask for
  access (with no customer data); Slack gives the bot no other way to answer there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from slack_bolt.context import BoltContext
from slack_bolt.middleware import Middleware
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.models.blocks import Block
from sqlalchemy.orm import Session, sessionmaker

from bot import ids
from bot.access import AccessDecision
from bot.actor import Actor
from bot.organisations import OrganisationAllowlist
from bot.outcomes import Outcome, RefusalReason
from bot.request_outcome import note_request_outcome
from bot.slack.actor import ACTOR_CONTEXT_KEY, actor_for_request
from bot.slack.identity import NO_INSTALLATION_CONTEXT_KEY, AccessResolver, LocalOperatorResolver
from bot.store.audit import AuditEntry, record_audit
from bot.views.refusals import refusal_text

logger = logging.getLogger(__name__)

ACCESS_CONTEXT_KEY = "access"
NO_USER_REASON = RefusalReason.NO_USER
# Slack's lifecycle events carry no user: nobody to check, and the app must still hear them.
LIFECYCLE_EVENTS = frozenset({"app_uninstalled", "tokens_revoked"})
# Slack checking the Request URL: acts for nobody (Bolt answers it before any app middleware).
URL_VERIFICATION = "url_verification"
# Events a refused user still gets an answer to: the listener reads the refusal from
# context["access"] and shows only how to ask for access.
REFUSAL_AWARE_EVENTS = frozenset({"app_home_opened"})
REFUSAL_MODAL_TITLE = "CustomersDot"

ResolverProvider = Callable[[BoltContext], AccessResolver]
AuditSink = Callable[[AuditEntry], None]


class RefusalMessage(Protocol):
    """What a refusal builder returns: `bot.views.blocks.CardMessage` fits."""

    @property
    def text(self) -> str: ...

    @property
    def blocks(self) -> Sequence[Block | dict[str, Any]]: ...


# (access_request_url, reason) -> message; `bot.views.notices.build_refusal` fits this shape.
RefusalBuilder = Callable[[str | None, str | None], RefusalMessage]


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def is_lifecycle_event(body: Mapping[str, Any]) -> bool:
    return (
        body.get("type") == "event_callback"
        and _dict(body.get("event")).get("type") in LIFECYCLE_EVENTS
    )


def is_conversation_gone_event(body: Mapping[str, Any]) -> bool:
    """A conversation archived, the bot removed from it, or it shared with another organisation
    (bot.ids.CONVERSATION_GONE_EVENTS): the user it may name (who archived it) asks nothing of
    the bot, and its listener only stops posting there."""
    return (
        body.get("type") == "event_callback"
        and _dict(body.get("event")).get("type") in ids.CONVERSATION_GONE_EVENTS
    )


def acts_for_no_user(body: Mapping[str, Any]) -> bool:
    """Slack's own requests (url_verification, app_uninstalled, tokens_revoked, and the events
    that say the bot can no longer post into a conversation): exempt."""
    return (
        body.get("type") == URL_VERIFICATION
        or is_lifecycle_event(body)
        or is_conversation_gone_event(body)
    )


def _refusal_modal(text: str, blocks: Sequence[Block | dict[str, Any]] | None) -> dict[str, Any]:
    shown = [
        block.to_dict() if isinstance(block, Block) else dict(block)
        for block in blocks or [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    ]
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": REFUSAL_MODAL_TITLE},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": shown,
    }


class AllowlistMiddleware(Middleware):
    """Refuses, audits and answers every request whose user the resolver does not allow."""

    def __init__(
        self,
        resolver_provider: ResolverProvider,
        *,
        audit: AuditSink | None = None,
        access_request_url: str | None = None,
        refusal_builder: RefusalBuilder | None = None,
        organisations: OrganisationAllowlist | None = None,
    ) -> None:
        self._resolver_provider = resolver_provider
        self._organisations = organisations or OrganisationAllowlist()
        self._audit = audit
        self._access_request_url = access_request_url
        self._refusal_builder = refusal_builder

    @property
    def name(self) -> str:
        return "AllowlistMiddleware"

    def process(
        self,
        *,
        req: BoltRequest,
        resp: BoltResponse,
        next: Callable[[], BoltResponse],
    ) -> BoltResponse | None:
        body = req.body or {}
        if acts_for_no_user(body):
            return next()
        # The one actor of this request, for the listeners, the audit and the logs alike.
        actor = actor_for_request(body, req.context.authorize_result)
        req.context[ACTOR_CONTEXT_KEY] = actor
        decision = self._decide(req.context, actor)
        if decision.allowed:
            req.context[ACCESS_CONTEXT_KEY] = decision
            return next()
        if (
            actor.kind == "event"
            and actor.surface in REFUSAL_AWARE_EVENTS
            and actor.user_id is not None
            # An outside organisation's installation, or none, gets nothing drawn, not even a
            # Home tab (there is no token to draw it with).
            and decision.reason
            not in (RefusalReason.OUTSIDE_ORGANISATION, RefusalReason.NOT_INSTALLED)
        ):
            self._write_audit(actor, decision)
            req.context[ACCESS_CONTEXT_KEY] = decision
            return next()
        return self._refuse(req, actor, decision)

    def _decide(self, context: BoltContext, actor: Actor) -> AccessDecision:
        if context.get(NO_INSTALLATION_CONTEXT_KEY):
            return AccessDecision.refuse(RefusalReason.NOT_INSTALLED)
        if actor.team_id is None and actor.enterprise_id is None:
            # The installation is unknown (Slack could not confirm the bot's own token:
            # bot.slack.authorization): nobody can be told a member of its workspace, and a
            # verdict reached without it must not be cached. Not asked of Slack, not cached.
            return AccessDecision.refuse(RefusalReason.IDENTITY_UNAVAILABLE)
        # Before anything else: an installation outside the allowed organisations gets no
        # further, not even a users.info call with its token.
        if not self._organisations.allows(actor.team_id, actor.enterprise_id):
            return AccessDecision.refuse(RefusalReason.OUTSIDE_ORGANISATION)
        if actor.user_id is None:
            return AccessDecision.refuse(NO_USER_REASON)
        # The actor's team and enterprise are the installation's (bot.slack.actor): the workspace
        # whose members the allowlist means, whatever a Slack Connect body says.
        try:
            return self._resolver_provider(context).decide(
                actor.user_id, actor.team_id, actor.enterprise_id
            )
        except Exception:
            # A resolver bug must not open the door.
            logger.exception("access check failed for user %s", actor.user_id)
            return AccessDecision.refuse(RefusalReason.IDENTITY_UNAVAILABLE)

    def _refuse(self, req: BoltRequest, actor: Actor, decision: AccessDecision) -> BoltResponse:
        logger.info(
            "refused user=%s team=%s kind=%s surface=%s reason=%s",
            actor.user_id,
            actor.team_id,
            actor.kind,
            actor.surface,
            decision.reason,
        )
        self._write_audit(actor, decision)
        text, blocks = self._refusal_message(decision.reason)
        ack = req.context.ack
        if actor.kind == "command":
            return ack(text=text, blocks=blocks, response_type="ephemeral")
        if actor.kind == "block_suggestion":
            return ack(options=[])
        if actor.kind == "view_submission":
            return ack(response_action="update", view=_refusal_modal(text, blocks))
        response = ack()
        if actor.kind == "block_actions" and req.context.respond is not None:
            try:
                req.context.respond(
                    text=text, blocks=blocks, response_type="ephemeral", replace_original=False
                )
            except Exception:
                logger.exception("could not send the refusal to user %s", actor.user_id)
        return response

    def _refusal_message(
        self, reason: RefusalReason | None
    ) -> tuple[str, list[Block | dict[str, Any]] | None]:
        if self._refusal_builder is not None:
            try:
                message = self._refusal_builder(self._access_request_url, reason)
                return message.text, list(message.blocks)
            except Exception:
                # The plain text still refuses politely; a card bug must not leak an error.
                logger.exception("the refusal card could not be built (reason %s)", reason)
        return refusal_text(reason, self._access_request_url), None

    def _write_audit(self, actor: Actor, decision: AccessDecision) -> None:
        # The request line says so whether or not the audit row can be written.
        note_request_outcome(Outcome.DENIED)
        if self._audit is None:
            return
        entry = AuditEntry(
            surface=actor.surface,
            outcome=Outcome.DENIED,
            user_id=actor.user_id,
            team_id=actor.team_id,
            enterprise_id=actor.enterprise_id,
            channel_id=actor.channel_id,
            query=actor.query,
            reason=decision.reason,
        )
        try:
            self._audit(entry)
        except Exception:
            # The refusal stands either way; a lost audit row is logged, not fatal.
            logger.exception("could not audit the refusal of user %s", actor.user_id)


def allowlist_middleware(
    resolver: AccessResolver | ResolverProvider,
    *,
    session_factory: sessionmaker[Session] | None = None,
    audit: AuditSink | None = None,
    access_request_url: str | None = None,
    refusal_builder: RefusalBuilder | None = None,
    organisations: OrganisationAllowlist | None = None,
) -> AllowlistMiddleware:
    """The allowlist middleware for `app.use(...)`; see the module docstring.

    `resolver` is an `AccessResolver` (e.g. `IdentityResolver`), or a function of the request's
    `BoltContext` returning one. Refusals are audited to `session_factory`'s store, or handed to
    `audit` (give one or the other, or neither in tests that do not look).
    """
    if session_factory is not None and audit is not None:
        raise ValueError("give session_factory or audit, not both")
    if session_factory is not None:
        factory = session_factory

        def audit_to_store(entry: AuditEntry) -> None:
            record_audit(factory, entry)

        audit = audit_to_store
    provider: Callable[[BoltContext], AccessResolver]
    if isinstance(resolver, AccessResolver):
        fixed = resolver

        def provider(_context: BoltContext) -> AccessResolver:
            return fixed

    else:
        provider = resolver
    return AllowlistMiddleware(
        provider,
        audit=audit,
        access_request_url=access_request_url,
        refusal_builder=refusal_builder,
        organisations=organisations,
    )


def local_operator_middleware() -> AllowlistMiddleware:
    """Shell mode: everyone is the trusted local operator; no Slack API call is made."""
    return allowlist_middleware(LocalOperatorResolver())
