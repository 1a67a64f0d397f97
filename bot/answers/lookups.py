"""Answering a lookup: search, load, build the card, audit. The handlers' one call into bot/.

Every answer that carries customer data is audited first: if the audit row cannot be written,
the user gets the "store unavailable" notice instead of the data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TypeVar

from slack_sdk.models.blocks import Block
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot import ids
from bot.answers.redaction import Audience, Redaction, redaction_for
from bot.links import Links
from bot.logs import STORE_UNAVAILABLE_OUTCOME, note_request_outcome
from bot.records import CustomerChoice, LicenseOverview
from bot.search import (
    CHOICES_SHOWN,
    QueryKind,
    SearchResult,
    find_customer_in_text,
    find_customers,
)
from bot.slack.actor import Actor
from bot.store.audit import (
    AuditEntry,
    Outcome,
    RateLimitHit,
    add_audit,
    lock_lookups_of,
    rate_limit_hit,
    recent_lookups,
    record_audit,
)
from bot.store.failures import store_failure_cause
from bot.store.models import Customer
from bot.store.queries import (
    RECONCILIATIONS_IMPORT,
    customer_choice,
    customer_key_of_license,
    latest_import_at,
    load_customer_licenses,
    load_customer_reconciliations,
    load_reconciliation,
)
from bot.views.blocks import CardMessage
from bot.views.home import HomeFacts
from bot.views.license_card import (
    build_license_card,
    build_license_history,
    build_license_unfurl,
    read_history_value,
)
from bot.views.modals import decode_option_value
from bot.views.notices import build_notice, build_usage, unsent_email_notice, with_notice
from bot.views.pick_list import (
    also_matching_blocks,
    build_not_found,
    build_pick_list,
    more_matches_value,
    read_more_matches_value,
)
from bot.views.recon_card import build_recon_card, build_recon_unfurl

logger = logging.getLogger(__name__)

_Result = TypeVar("_Result")

STORE_UNAVAILABLE = (
    "The license store is unavailable right now. Try again in a minute; "
    "if it keeps happening, tell the team that runs this bot."
)
LINK_GONE = "That record is not in the license store."
# The audit surface of a link unfurled into a conversation.
UNFURL_SURFACE = "link_shared"
# The audit surface of a card's "Show all licenses".
HISTORY_SURFACE = "history"
# How many of a user's latest audit rows App Home reads to find a few distinct lookups.
HOME_AUDIT_ROWS = 50
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
MORE_ACTION_BY_COMMAND = {
    ids.LICENSE_COMMAND: ids.PICK_MORE_LICENSE_ACTION,
    ids.RECON_COMMAND: ids.PICK_MORE_RECON_ACTION,
}
COMMAND_BY_MORE_ACTION = {action: command for command, action in MORE_ACTION_BY_COMMAND.items()}
# A pick list's page: the search's own default limit. "Show more" pages go this deep at most:
# a customer further down than that is found faster by a narrower search.
PICK_PAGE_SIZE = CHOICES_SHOWN
PICK_OFFSET_MAX = 40
MORE_GONE = "That list cannot be continued. Search again with a longer name."


# Who asked: the request's one actor (bot.slack.actor), built by the allowlist middleware.
Requester = Actor


@dataclass(frozen=True)
class Answer:
    message: CardMessage
    outcome: Outcome
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
        rate_limit_per_hour: int,
    ) -> None:
        self._session_factory = session_factory
        self._links = links
        self._show_emails_in_channels = show_contact_emails_in_channels
        self._clock = clock or (lambda: datetime.now(UTC))
        # LOOKUP_RATE_LIMIT_PER_HOUR (Settings holds its default); 0 = no limit.
        self._rate_limit = rate_limit_per_hour

    def answer_query(
        self, command: str, text: str, requester: Requester, *, offset: int = 0
    ) -> Answer:
        """A slash command: search, then a card, a pick list, a not-found or the usage.

        `offset`: a pick list's later page ("Show more"), the matches from that one on."""
        return self._audited(
            surface=command,
            query=text,
            requester=requester,
            build=lambda session: self._answer_query(session, command, text, offset=offset),
        )

    def answer_more_matches(self, command: str, value: str, requester: Requester) -> Answer:
        """A pick list's "Show more": the same search as the command, from the next page on.

        The value is the clicker's to forge: at worst it runs a search for them, through the
        same allowlist, rate limit and audit as typing it."""
        read = read_more_matches_value(value)
        if read is None:
            return Answer(build_notice(MORE_GONE), Outcome.NOT_FOUND)
        text, offset = read
        return self.answer_query(command, text, requester, offset=min(offset, PICK_OFFSET_MAX))

    def answer_history(self, value: str, requester: Requester) -> Answer:
        """A card's "Show all licenses" (and that list's "Show more"): every license of the
        customer, a page at a time, for the requester. The value is the clicker's to forge: at
        worst it lists a customer for them, through the same allowlist, rate limit and audit
        as a card."""
        read = read_history_value(value)
        if read is None:
            return Answer(build_notice(MORE_GONE), Outcome.NOT_FOUND)
        customer_key, offset = read

        def history(session: Session) -> Answer:
            key = resolve_customer_key(session, customer_key)
            licenses = load_customer_licenses(session, key, today=self._clock().date())
            if licenses is None:
                return Answer(build_notice(CUSTOMER_GONE), Outcome.NOT_FOUND)
            redaction = self.redaction(Audience.REQUESTER)
            message = build_license_history(
                redaction.licenses(licenses),
                self._links,
                include_contact_emails=redaction.shows_contact_emails,
                offset=offset,
            )
            return Answer(message, Outcome.OK, licenses.overview.license_count)

        return self._audited(
            surface=HISTORY_SURFACE, query=customer_key, requester=requester, build=history
        )

    def answer_customer(
        self,
        command: str,
        customer_key: str,
        requester: Requester,
        *,
        audience: Audience,
        surface: str,
        featured_license_id: int | None = None,
        note: str | None = None,
        shareable: bool | None = None,
    ) -> Answer:
        """One customer's card, by key (or a modal's option value for it): a pick-list choice,
        a card being shared, posted by a shortcut or sent to the requester's DM.

        `shareable=None` means: share buttons on requester cards only."""
        return self._audited(
            surface=surface,
            query=customer_key,
            requester=requester,
            build=lambda session: self._customer_card(
                session,
                command,
                resolve_customer_key(session, customer_key),
                audience=audience,
                shared_by=requester.user_id,
                featured_license_id=featured_license_id,
                note=note,
                shareable=shareable,
            ),
        )

    def _answer_query(self, session: Session, command: str, text: str, *, offset: int) -> Answer:
        # A clear winner's card is loaded next: skip loading its pick-list line first.
        result = find_customers(
            session,
            text,
            today=self._clock().date(),
            limit=offset + PICK_PAGE_SIZE,
            load_choices=False,
        )
        if result.query.kind is QueryKind.EMPTY:
            return Answer(build_usage(command), Outcome.USAGE)
        if result.resolved_key is not None:
            # A license id ("which address got #600011?") shows that license first.
            featured = (
                result.query.license_id if result.matched_by is QueryKind.LICENSE_ID else None
            )
            answer = self._customer_card(
                session,
                command,
                result.resolved_key,
                audience=Audience.REQUESTER,
                featured_license_id=featured,
            )
            answer = _told_unsent_email(answer, result, customer_count=1)
            also = also_matching_blocks(
                result.also_matching, action_id=PICK_ACTION_BY_COMMAND[command]
            )
            return _followed_by(answer, also)
        if result.choices:
            by_domain = result.matched_by is QueryKind.EMAIL_DOMAIN and result.unsent_email
            # What the listed customers match: the domain, when the address itself received none.
            listed_for = f"@{result.query.email_domain}" if by_domain else text
            page = result.choices[offset:]
            if not page:
                return Answer(build_notice(MORE_GONE), Outcome.NOT_FOUND)
            next_offset = offset + PICK_PAGE_SIZE
            more = (
                (MORE_ACTION_BY_COMMAND[command], more_matches_value(text, next_offset))
                if next_offset <= PICK_OFFSET_MAX
                else None
            )
            message = build_pick_list(
                listed_for,
                page,
                action_id=PICK_ACTION_BY_COMMAND[command],
                has_more=result.has_more,
                first_number=offset + 1,
                more=more,
            )
            answer = Answer(message, Outcome.AMBIGUOUS, len(page))
            return _told_unsent_email(answer, result, customer_count=len(result.choices))
        if latest_import_at(session) is None:
            return Answer(build_notice(STORE_EMPTY), Outcome.NOT_FOUND)
        return Answer(build_not_found(text, result.suggestions, command=command), Outcome.NOT_FOUND)

    def record_not_posted(
        self, *, surface: str, customer_key: str, requester: Requester, reason: str | None
    ) -> None:
        """Audit a card withheld because of where it would go (the conversation check refused).

        No customer data was read or shown, so a failed write is logged, not fatal: the user
        is still told why nothing was posted. Not a lookup, so the rate limit does not count it.
        """
        entry = AuditEntry(
            surface=surface,
            outcome=Outcome.NOT_POSTED,
            user_id=requester.user_id,
            team_id=requester.team_id,
            enterprise_id=requester.enterprise_id,
            channel_id=requester.channel_id,
            query=customer_key,
            reason=reason,
        )
        try:
            record_audit(self._session_factory, entry, now=self._clock())
        except SQLAlchemyError as error:
            logger.error(
                "audit write failed for a withheld card: store %s", store_failure_cause(error)
            )

    def _customer_card(
        self,
        session: Session,
        command: str,
        customer_key: str,
        *,
        audience: Audience,
        shared_by: str | None = None,
        featured_license_id: int | None = None,
        note: str | None = None,
        shareable: bool | None = None,
    ) -> Answer:
        to_conversation = audience is Audience.CONVERSATION
        redaction = self.redaction(audience)
        if command == ids.RECON_COMMAND:
            reconciliations = load_customer_reconciliations(session, customer_key)
            if reconciliations is None:
                return Answer(build_notice(CUSTOMER_GONE), Outcome.NOT_FOUND)
            message = build_recon_card(redaction.reconciliations(reconciliations), self._links)
            return Answer(message, Outcome.OK, len(reconciliations.reconciliations))
        licenses = load_customer_licenses(session, customer_key, today=self._clock().date())
        if licenses is None:
            return Answer(build_notice(CUSTOMER_GONE), Outcome.NOT_FOUND)
        message = build_license_card(
            redaction.licenses(licenses),
            self._links,
            include_contact_emails=redaction.shows_contact_emails,
            shareable=(not to_conversation) if shareable is None else shareable,
            shared_by_user_id=shared_by if to_conversation else None,
            featured_license_id=featured_license_id,
            # The sharer's own words go where the card goes: the same rule for the emails in
            # them as for the customer's (a note naming a contact's address posts it hidden).
            note=redaction.text(note),
        )
        return Answer(message, Outcome.OK, licenses.overview.license_count)

    def _audited(
        self,
        *,
        surface: str,
        query: str,
        requester: Requester,
        build: Callable[[Session], Answer],
    ) -> Answer:
        answer = self._counted_and_audited(
            surface,
            query,
            requester,
            work=lambda session, hit: build(session) if hit is None else rate_limited_answer(hit),
            outcome_of=lambda answer: (answer.outcome, answer.result_count),
            failed=Answer(build_notice(STORE_UNAVAILABLE), Outcome.ERROR),
        )
        return answer or Answer(build_notice(STORE_UNAVAILABLE), Outcome.ERROR)

    def _counted_and_audited(
        self,
        surface: str,
        query: str,
        requester: Requester,
        *,
        work: Callable[[Session, RateLimitHit | None], _Result],
        outcome_of: Callable[[_Result], tuple[Outcome, int]],
        failed: _Result,
    ) -> _Result | None:
        """Check the user's rate limit, do the work, write its audit row: one transaction,
        under the user's lock (bot/store/audit.py: lock_lookups_of) when a limit is set, so N
        concurrent requests against a limit of N-1 get N-1 answers. None: the audit row could
        not be written, so nothing may be shown."""

        def entry(outcome: Outcome, count: int) -> AuditEntry:
            return AuditEntry(
                surface=surface,
                outcome=outcome,
                user_id=requester.user_id,
                team_id=requester.team_id,
                enterprise_id=requester.enterprise_id,
                channel_id=requester.channel_id,
                query=query,
                result_count=count,
            )

        try:
            with self._session_factory() as session:
                if self._rate_limit and requester.user_id:
                    lock_lookups_of(session, requester.user_id)
                hit = self._rate_limit_hit(session, requester)
                result = work(session, hit)
                try:
                    add_audit(session, entry(*outcome_of(result)), now=self._clock())
                    session.commit()
                except SQLAlchemyError as error:
                    logger.error(
                        "audit write failed: store %s; withholding the answer",
                        store_failure_cause(error),
                    )
                    note_request_outcome(STORE_UNAVAILABLE_OUTCOME)
                    return None
                return result
        except SQLAlchemyError as error:
            logger.error("lookup failed: store %s", store_failure_cause(error))
        # The lookup's transaction failed (and released the lock): an error is audited on its
        # own, and does not count against the limit.
        try:
            record_audit(self._session_factory, entry(*outcome_of(failed)), now=self._clock())
        except SQLAlchemyError as error:
            logger.error(
                "audit write failed: store %s; withholding the answer", store_failure_cause(error)
            )
            return None
        finally:
            # The user is told the store is unavailable: so is the request line (its audit
            # row, when one could be written, says `error`).
            note_request_outcome(STORE_UNAVAILABLE_OUTCOME)
        return failed

    # ---- link unfurls and App Home (issue 3) -------------------------------------------------

    def redaction(self, audience: Audience) -> Redaction:
        """What `audience` may see of a card, per this deployment (bot/answers/redaction.py)."""
        return redaction_for(
            audience, show_contact_emails_in_channels=self._show_emails_in_channels
        )

    def answer_license_link(self, license_id: int, url: str, requester: Requester) -> Answer:
        """The compact card of a posted license link: its customer, that license featured.

        Unfurls hang in a conversation, so they are built for Audience.CONVERSATION."""
        return self._audited(
            surface=UNFURL_SURFACE,
            query=url,
            requester=requester,
            build=lambda session: self._license_unfurl(session, license_id),
        )

    def answer_reconciliation_link(
        self, reconciliation_id: int, url: str, requester: Requester
    ) -> Answer:
        """The compact card of a posted reconciliation link (Audience.CONVERSATION)."""
        return self._audited(
            surface=UNFURL_SURFACE,
            query=url,
            requester=requester,
            build=lambda session: self._reconciliation_unfurl(session, reconciliation_id),
        )

    def home_facts(self, user_id: str) -> HomeFacts:
        """What an allowed user's App Home shows from the store: recent lookups, data as of.

        Only reads; a store that cannot answer gives a Home that says so, not an error."""
        try:
            with self._session_factory() as session:
                return HomeFacts(
                    recent=tuple(recent_lookups(session, user_id, limit=HOME_AUDIT_ROWS)),
                    data_as_of=latest_import_at(session),
                )
        except SQLAlchemyError as error:
            logger.error("home: store %s", store_failure_cause(error))
            return HomeFacts(recent=(), data_as_of=None, store_available=False)

    def _license_unfurl(self, session: Session, license_id: int) -> Answer:
        customer_key = customer_key_of_license(session, license_id)
        licenses = (
            None
            if customer_key is None
            else load_customer_licenses(session, customer_key, today=self._clock().date())
        )
        if licenses is None:
            return Answer(build_notice(LINK_GONE), Outcome.NOT_FOUND)
        redaction = self.redaction(Audience.CONVERSATION)
        message = build_license_unfurl(
            redaction.licenses(licenses),
            license_id,
            self._links,
            include_contact_emails=redaction.shows_contact_emails,
        )
        return Answer(message, Outcome.OK, 1)

    def _reconciliation_unfurl(self, session: Session, reconciliation_id: int) -> Answer:
        record = load_reconciliation(session, reconciliation_id)
        if record is None:
            return Answer(build_notice(LINK_GONE), Outcome.NOT_FOUND)
        message = build_recon_unfurl(
            self.redaction(Audience.CONVERSATION).reconciliation(record),
            self._links,
            data_as_of=latest_import_at(session, RECONCILIATIONS_IMPORT),
        )
        return Answer(message, Outcome.OK, 1)

    # ---- shortcut modals (issue 3): customer options, suggestions, licenses to feature ------

    def customer_choices_for(self, text: str, requester: Requester) -> list[CustomerChoice]:
        """What an external select offers for `text`: the same search as /license."""
        choices: list[CustomerChoice] = []

        def search(session: Session) -> tuple[Outcome, int]:
            result = find_customers(
                session, text, today=self._clock().date(), limit=MODAL_OPTIONS_SEARCHED
            )
            choices.extend([result.resolved] if result.resolved else result.choices)
            return (Outcome.OK if choices else Outcome.NOT_FOUND), len(choices)

        if not self._audited_read(SUGGEST_SURFACE, text, requester, search):
            return []
        return choices

    def suggest_customer(self, message_text: str, requester: Requester) -> CustomerSelection | None:
        """The customer a message talks about, with its licenses, to preselect in the
        shortcut's modal."""
        found: list[CustomerSelection] = []

        def suggest(session: Session) -> tuple[Outcome, int]:
            choice = find_customer_in_text(session, message_text, today=self._clock().date())
            licenses = (
                None
                if choice is None
                else load_customer_licenses(session, choice.key, today=self._clock().date())
            )
            if choice is None or licenses is None:
                return Outcome.NOT_FOUND, 0
            found.append(CustomerSelection(choice, licenses.overview))
            return Outcome.OK, 1

        query = message_text[:SUGGESTION_QUERY_MAX]
        if not self._audited_read(ids.POST_CARD_SHORTCUT, query, requester, suggest):
            return None
        return found[0] if found else None

    def customer_selection(
        self, customer_value: str, requester: Requester
    ) -> CustomerSelection | None:
        """A customer picked in a modal: its pick-list line and licenses, to offer one to
        feature. None when the customer is gone or the store cannot answer."""
        selected: list[CustomerSelection] = []

        def load(session: Session) -> tuple[Outcome, int]:
            key = resolve_customer_key(session, customer_value)
            licenses = load_customer_licenses(session, key, today=self._clock().date())
            if licenses is None:
                return Outcome.NOT_FOUND, 0
            # The line from the licenses just loaded (under the key they were found under: an
            # old key names the customer it became), not a second read of them.
            choice = customer_choice(licenses.customer, licenses.overview)
            selected.append(CustomerSelection(choice, licenses.overview))
            return Outcome.OK, licenses.overview.license_count

        if not self._audited_read(SELECT_SURFACE, customer_value, requester, load):
            return None
        return selected[0] if selected else None

    def _audited_read(
        self,
        surface: str,
        query: str,
        requester: Requester,
        read: Callable[[Session], tuple[Outcome, int]],
    ) -> bool:
        """Run a lookup that returns no card, and audit it; False when it must not be shown."""
        result = self._counted_and_audited(
            surface,
            query,
            requester,
            work=lambda session, hit: read(session) if hit is None else (Outcome.RATE_LIMITED, 0),
            outcome_of=lambda result: result,
            failed=(Outcome.ERROR, 0),
        )
        return result is not None and result[0] not in (Outcome.ERROR, Outcome.RATE_LIMITED)

    def _rate_limit_hit(self, session: Session, requester: Requester) -> RateLimitHit | None:
        # Checked before any search, on every surface: they all come through here (under the
        # user's lock, taken by _counted_and_audited).
        if not self._rate_limit or not requester.user_id:
            return None
        return rate_limit_hit(session, requester.user_id, limit=self._rate_limit, now=self._clock())


def _told_unsent_email(answer: Answer, result: SearchResult, *, customer_count: int) -> Answer:
    """The answer, led by "No license was sent to …" when the query was an address that
    received no license (the customers shown were found by its domain or by name)."""
    if not result.unsent_email or answer.outcome not in (Outcome.OK, Outcome.AMBIGUOUS):
        return answer
    notice = unsent_email_notice(
        result.query.text,
        by_domain=result.matched_by is QueryKind.EMAIL_DOMAIN,
        customer_count=customer_count,
    )
    return replace(answer, message=with_notice(answer.message, notice))


def rate_limited_notice(hit: RateLimitHit) -> str:
    return (
        f"You've made {hit.lookups} lookups in the last hour; the limit is {hit.limit} "
        f"to protect customer data; try again at {hit.retry_at.astimezone(UTC):%H:%M} UTC."
    )


def rate_limited_answer(hit: RateLimitHit) -> Answer:
    return Answer(build_notice(rate_limited_notice(hit)), Outcome.RATE_LIMITED)


# The audit surfaces of the modals' searches (the card itself is audited by its own surface).
SUGGEST_SURFACE = "customer_suggest"
SELECT_SURFACE = "customer_select"
MODAL_OPTIONS_SEARCHED = 20
SUGGESTION_QUERY_MAX = 500


@dataclass(frozen=True)
class CustomerSelection:
    choice: CustomerChoice
    overview: LicenseOverview


def _followed_by(answer: Answer, after: list[Block]) -> Answer:
    """A card with what the search adds after it (the other customers that also match)."""
    if not after:
        return answer
    message = CardMessage(answer.message.text, [*answer.message.blocks, *after])
    return replace(answer, message=message)


def resolve_customer_key(session: Session, value: str) -> str:
    """A customer key from a key or a modal option value (long keys travel as prefix+digest).

    The prefix is a range on the primary key, which both engines answer from its index (the
    bytewise order of SQLite and of the C collation); a database with a linguistic collation
    may order keys otherwise, so an empty range falls back to a plain prefix match."""
    decoded = decode_option_value(value)
    if isinstance(decoded, str):
        return decoded
    prefix = decoded.prefix
    last = ord(prefix[-1]) if prefix else 0x10FFFF
    after_prefix = prefix[:-1] + chr(last + 1) if last < 0x10FFFF else None
    ranged = select(Customer.key).where(Customer.key >= prefix)
    if after_prefix is not None:
        ranged = ranged.where(Customer.key < after_prefix)
    anywhere = select(Customer.key).where(Customer.key.startswith(prefix, autoescape=True))
    for statement in (ranged, anywhere):
        for key in session.scalars(statement):
            if decoded.matches(key):
                return key
    return value
