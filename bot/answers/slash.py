"""`/license` and `/recon`: a query's answer, its pick list's pages, a picked customer's card, a
card's full license history. Each goes through the audited transaction (bot/answers/audited.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from slack_sdk.models.blocks import Block
from sqlalchemy.orm import Session

from bot import ids
from bot.answers.answer_cache import AnswerCache, clock_key
from bot.answers.audited import Answer, AuditedTransaction, Requester
from bot.answers.follow_command import unquoted
from bot.answers.redaction import Audience, redaction_for
from bot.answers.selection import resolve_customer_key
from bot.freshness import Freshness, FreshnessRule
from bot.links import Links
from bot.outcomes import Outcome
from bot.search import CHOICES_SHOWN, QueryKind, SearchResult, find_customers
from bot.store.queries import (
    LICENSE_CARD_KINDS,
    RECON_CARD_KINDS,
    latest_import_at,
    load_customer_licenses,
    load_customer_reconciliations,
)
from bot.views.blocks import CardMessage
from bot.views.license_card import build_license_card, build_license_history, read_history_value
from bot.views.notices import (
    CUSTOMER_GONE,
    MORE_GONE,
    STORE_EMPTY,
    build_notice,
    build_usage,
    unsent_email_notice,
    with_notice,
)
from bot.views.pick_list import (
    also_matching_blocks,
    build_not_found,
    build_pick_list,
    more_matches_value,
    read_more_matches_value,
)
from bot.views.recon_card import build_recon_card

# The audit surface of a card's "Show all licenses".
HISTORY_SURFACE = "history"
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


class SlashAnswers:
    def __init__(
        self,
        audited: AuditedTransaction,
        links: Links,
        *,
        show_contact_emails_in_channels: bool = False,
        freshness: FreshnessRule | None = None,
        cache: AnswerCache | None = None,
    ) -> None:
        self._audited = audited
        self._links = links
        self._show_emails_in_channels = show_contact_emails_in_channels
        self._freshness = freshness or FreshnessRule()
        self._cache = cache or AnswerCache(max_answers=0)

    def answer_query(
        self, command: str, text: str, requester: Requester, *, offset: int = 0
    ) -> Answer:
        """A slash command: search, then a card, a pick list, a not-found or the usage.

        `offset`: a pick list's later page ("Show more"), the matches from that one on."""

        def build(session: Session) -> Answer:
            now = self._audited.clock()
            redaction = redaction_for(
                Audience.REQUESTER, show_contact_emails_in_channels=self._show_emails_in_channels
            )
            return self._kept(
                session,
                ("query", command, text, offset, redaction),
                command,
                now,
                lambda: self._answer_query(session, command, text, offset=offset, now=now),
            )

        return self._audited.answer(surface=command, query=text, requester=requester, build=build)

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
            now = self._audited.clock()
            licenses = load_customer_licenses(session, key, today=now.date())
            if licenses is None:
                return Answer(build_notice(CUSTOMER_GONE), Outcome.NOT_FOUND)
            redaction = redaction_for(
                Audience.REQUESTER, show_contact_emails_in_channels=self._show_emails_in_channels
            )
            message = build_license_history(
                redaction.licenses(licenses),
                self._links,
                freshness=self._judge(licenses.data_times, LICENSE_CARD_KINDS, now),
                include_contact_emails=redaction.shows_contact_emails,
                offset=offset,
            )
            return Answer(message, Outcome.OK, licenses.overview.license_count)

        return self._audited.answer(
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
        followable: bool | None = None,
    ) -> Answer:
        """One customer's card, by key (or a modal's option value for it): a pick-list choice,
        a card being shared, posted by a shortcut or sent to the requester's DM.

        `shareable=None` means: share buttons on requester cards only; `followable=None`:
        "Follow in this thread" on cards for a conversation only."""
        # A card for a conversation names who shared it.
        shared_by = requester.user_id if audience is Audience.CONVERSATION else None

        def build(session: Session) -> Answer:
            now = self._audited.clock()
            redaction = redaction_for(
                audience, show_contact_emails_in_channels=self._show_emails_in_channels
            )
            options = (featured_license_id, note, shareable, followable)
            return self._kept(
                session,
                ("customer", command, customer_key, audience, redaction, shared_by, options),
                command,
                now,
                lambda: self._customer_card(
                    session,
                    command,
                    resolve_customer_key(session, customer_key),
                    audience=audience,
                    now=now,
                    shared_by=shared_by,
                    featured_license_id=featured_license_id,
                    note=note,
                    shareable=shareable,
                    followable=followable,
                ),
            )

        return self._audited.answer(
            surface=surface, query=customer_key, requester=requester, build=build
        )

    def _kept(
        self,
        session: Session,
        key: tuple[object, ...],
        command: str,
        now: datetime,
        build: Callable[[], Answer],
    ) -> Answer:
        """`build()`'s answer, or the one kept for the same key, store generation and clock
        (bot/answers/answer_cache.py). `build` must build it at `now`."""
        state = self._cache.store_state(session)
        if state is None:
            return build()
        kinds = RECON_CARD_KINDS if command == ids.RECON_COMMAND else LICENSE_CARD_KINDS
        moment = clock_key(self._freshness, state.data_times, kinds, now)
        return self._cache.answer(state, (*key, moment), build)

    def _answer_query(
        self, session: Session, command: str, text: str, *, offset: int, now: datetime
    ) -> Answer:
        # A clear winner's card is loaded next: skip loading its pick-list line first.
        result = find_customers(
            session,
            # `/license "Following"`: a name that is also a subcommand, quoted.
            unquoted(text),
            today=now.date(),
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
                now=now,
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

    def _customer_card(
        self,
        session: Session,
        command: str,
        customer_key: str,
        *,
        audience: Audience,
        now: datetime,
        shared_by: str | None = None,
        featured_license_id: int | None = None,
        note: str | None = None,
        shareable: bool | None = None,
        followable: bool | None = None,
    ) -> Answer:
        to_conversation = audience is Audience.CONVERSATION
        redaction = redaction_for(
            audience, show_contact_emails_in_channels=self._show_emails_in_channels
        )
        if command == ids.RECON_COMMAND:
            reconciliations = load_customer_reconciliations(session, customer_key)
            if reconciliations is None:
                return Answer(build_notice(CUSTOMER_GONE), Outcome.NOT_FOUND)
            message = build_recon_card(
                redaction.reconciliations(reconciliations),
                self._links,
                freshness=self._judge(reconciliations.data_times, RECON_CARD_KINDS, now),
            )
            return Answer(message, Outcome.OK, len(reconciliations.reconciliations))
        licenses = load_customer_licenses(session, customer_key, today=now.date())
        if licenses is None:
            return Answer(build_notice(CUSTOMER_GONE), Outcome.NOT_FOUND)
        message = build_license_card(
            redaction.licenses(licenses),
            self._links,
            freshness=self._judge(licenses.data_times, LICENSE_CARD_KINDS, now),
            include_contact_emails=redaction.shows_contact_emails,
            shareable=(not to_conversation) if shareable is None else shareable,
            shared_by_user_id=shared_by if to_conversation else None,
            featured_license_id=featured_license_id,
            # The sharer's own words go where the card goes: the same rule for the emails in
            # them as for the customer's (a note naming a contact's address posts it hidden).
            note=redaction.text(note),
            followable=to_conversation if followable is None else followable,
        )
        return Answer(message, Outcome.OK, licenses.overview.license_count)

    def _judge(
        self, data_times: Mapping[str, datetime | None], kinds: Sequence[str], now: datetime
    ) -> Freshness:
        """How old the card's kinds are at `now`, the answer's own moment."""
        return self._freshness.judge(data_times, kinds, now=now)


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


def _followed_by(answer: Answer, after: list[Block]) -> Answer:
    """A card with what the search adds after it (the other customers that also match)."""
    if not after:
        return answer
    message = CardMessage(answer.message.text, [*answer.message.blocks, *after])
    return replace(answer, message=message)
