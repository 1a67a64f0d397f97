"""Answering a lookup: search, load, build the card, audit. The handlers' one call into bot/.

Every answer that carries customer data is audited first: if the audit row cannot be written,
the user gets the "store unavailable" notice instead of the data.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot import cards, ids
from bot.audit import AuditEntry, record_audit
from bot.cards import CardMessage
from bot.links import Links
from bot.search import QueryKind, find_customers
from bot.store.queries import (
    latest_import_at,
    load_customer_licenses,
    load_customer_reconciliations,
)

logger = logging.getLogger(__name__)

STORE_UNAVAILABLE = (
    "The license store is unavailable right now. Try again in a minute; "
    "if it keeps happening, tell the team that runs this bot."
)
CUSTOMER_GONE = "That customer is no longer in the license store. Search again with /license."
STORE_EMPTY = (
    "The license store is empty: no export has been imported yet. Whoever runs this bot loads "
    "one with `python -m bot import licenses FILE` (or `python -m bot demo` to try it)."
)

PICK_ACTION_BY_COMMAND = {
    ids.LICENSE_COMMAND: ids.CUSTOMER_PICK_LICENSE_ACTION,
    ids.RECON_COMMAND: ids.CUSTOMER_PICK_RECON_ACTION,
}
COMMAND_BY_PICK_ACTION = {action: command for command, action in PICK_ACTION_BY_COMMAND.items()}


class Audience(enum.Enum):
    """Who will see a card: decides the one redaction rule (DESIGN.md: Privacy)."""

    REQUESTER = "requester"  # ephemeral reply or DM to the person who asked: emails shown
    CONVERSATION = "conversation"  # shared into a channel or thread: emails per deployment setting


@dataclass(frozen=True)
class Requester:
    user_id: str | None
    team_id: str | None = None
    enterprise_id: str | None = None
    channel_id: str | None = None


@dataclass(frozen=True)
class Answer:
    message: CardMessage
    outcome: str  # "ok", "ambiguous", "not_found", "usage", "error"
    result_count: int = 0

    def payload(self) -> dict[str, object]:
        return self.message.to_dict()


class LookupService:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        links: Links,
        *,
        show_contact_emails_in_channels: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._links = links
        self._show_emails_in_channels = show_contact_emails_in_channels
        self._clock = clock or (lambda: datetime.now(UTC))

    def answer_query(self, command: str, text: str, requester: Requester) -> Answer:
        """A slash command: search, then a card, a pick list, a not-found or the usage."""
        return self._audited(
            surface=command,
            query=text,
            requester=requester,
            build=lambda session: self._answer_query(session, command, text),
        )

    def answer_customer(
        self,
        command: str,
        customer_key: str,
        requester: Requester,
        *,
        audience: Audience,
        surface: str,
    ) -> Answer:
        """One customer's card, by key: a pick-list choice or a card being shared."""
        return self._audited(
            surface=surface,
            query=customer_key,
            requester=requester,
            build=lambda session: self._customer_card(
                session, command, customer_key, audience=audience, shared_by=requester.user_id
            ),
        )

    def _answer_query(self, session: Session, command: str, text: str) -> Answer:
        result = find_customers(session, text)
        if result.query.kind is QueryKind.EMPTY:
            return Answer(cards.build_usage(command), "usage")
        if result.resolved is not None:
            return self._customer_card(
                session, command, result.resolved.key, audience=Audience.REQUESTER
            )
        if result.choices:
            message = cards.build_pick_list(
                text, result.choices, action_id=PICK_ACTION_BY_COMMAND[command]
            )
            return Answer(message, "ambiguous", len(result.choices))
        if latest_import_at(session) is None:
            return Answer(cards.build_notice(STORE_EMPTY), "not_found")
        return Answer(cards.build_not_found(text, result.suggestions, command=command), "not_found")

    def _customer_card(
        self,
        session: Session,
        command: str,
        customer_key: str,
        *,
        audience: Audience,
        shared_by: str | None = None,
    ) -> Answer:
        to_conversation = audience is Audience.CONVERSATION
        if command == ids.RECON_COMMAND:
            reconciliations = load_customer_reconciliations(session, customer_key)
            if reconciliations is None:
                return Answer(cards.build_notice(CUSTOMER_GONE), "not_found")
            message = cards.build_recon_card(reconciliations, self._links)
            return Answer(message, "ok", len(reconciliations.reconciliations))
        licenses = load_customer_licenses(session, customer_key, today=self._clock().date())
        if licenses is None:
            return Answer(cards.build_notice(CUSTOMER_GONE), "not_found")
        message = cards.build_license_card(
            licenses,
            self._links,
            include_contact_emails=self._show_emails_in_channels if to_conversation else True,
            shareable=not to_conversation,
            shared_by_user_id=shared_by if to_conversation else None,
        )
        return Answer(message, "ok", licenses.overview.license_count)

    def _audited(
        self,
        *,
        surface: str,
        query: str,
        requester: Requester,
        build: Callable[[Session], Answer],
    ) -> Answer:
        try:
            with self._session_factory() as session:
                answer = build(session)
        except SQLAlchemyError as error:
            logger.error("lookup failed: store error %s", type(error).__name__)
            answer = Answer(cards.build_notice(STORE_UNAVAILABLE), "error")
        entry = AuditEntry(
            surface=surface,
            outcome=answer.outcome,
            user_id=requester.user_id,
            team_id=requester.team_id,
            enterprise_id=requester.enterprise_id,
            channel_id=requester.channel_id,
            query=query,
            result_count=answer.result_count,
        )
        try:
            record_audit(self._session_factory, entry, now=self._clock())
        except SQLAlchemyError as error:
            logger.error("audit write failed: %s; withholding the answer", type(error).__name__)
            return Answer(cards.build_notice(STORE_UNAVAILABLE), "error")
        return answer
