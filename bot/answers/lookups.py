"""The use cases of one process, built once (bot/services.py) and shared by every request.

Each surface's use case lives in its own module: `/license` and `/recon` (slash.py), link
unfurls (unfurl_cards.py), the shortcut's modals (selection.py), following a customer
(following.py), each through the one audited transaction (bot/answers/audited.py), `/license`
and `/recon`'s answers kept per store generation (answer_cache.py), and App Home
(home.py), which only reads the requester's own lookups and follows. The listeners call them through this one object, by the names below.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.answers.answer_cache import DEFAULT_MAX_ANSWERS, AnswerCache
from bot.answers.audited import AuditedTransaction
from bot.answers.following import FollowAnswers
from bot.answers.home import HomeAnswers
from bot.answers.selection import CustomerSelections
from bot.answers.slash import SlashAnswers
from bot.answers.unfurl_cards import UnfurlCards
from bot.freshness import FreshnessRule
from bot.links import Links


class LookupService:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        links: Links,
        *,
        show_contact_emails_in_channels: bool = False,
        clock: Callable[[], datetime] | None = None,
        rate_limit_per_hour: int,
        freshness: FreshnessRule | None = None,
        answer_cache_size: int = DEFAULT_MAX_ANSWERS,
    ) -> None:
        self.audited = AuditedTransaction(
            session_factory, clock=clock, rate_limit_per_hour=rate_limit_per_hour
        )
        freshness = freshness or FreshnessRule()
        self.slash = SlashAnswers(
            self.audited,
            links,
            show_contact_emails_in_channels=show_contact_emails_in_channels,
            freshness=freshness,
            cache=AnswerCache(max_answers=answer_cache_size),
        )
        self.unfurl_cards = UnfurlCards(
            self.audited,
            links,
            show_contact_emails_in_channels=show_contact_emails_in_channels,
            freshness=freshness,
        )
        self.selections = CustomerSelections(self.audited)
        self.follows = FollowAnswers(self.audited, session_factory)
        self.home = HomeAnswers(
            session_factory, self.follows, clock=self.audited.clock, freshness=freshness
        )
        # What the listeners call, each one use case's.
        self.answer_query = self.slash.answer_query
        self.answer_more_matches = self.slash.answer_more_matches
        self.answer_history = self.slash.answer_history
        self.answer_customer = self.slash.answer_customer
        self.answer_license_link = self.unfurl_cards.answer_license_link
        self.answer_reconciliation_link = self.unfurl_cards.answer_reconciliation_link
        self.customer_choices_for = self.selections.customer_choices_for
        self.suggest_customer = self.selections.suggest_customer
        self.customer_selection = self.selections.customer_selection
        self.home_facts = self.home.home_facts
        self.record_not_posted = self.audited.record_not_posted
