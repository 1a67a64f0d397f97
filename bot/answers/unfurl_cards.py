"""The compact cards of license and reconciliation links posted into a conversation.

Unfurls hang in a conversation, so they are built for Audience.CONVERSATION; each goes through
the audited transaction (bot/answers/audited.py). bot/answers/unfurls.py decides which links
of a `link_shared` event get one.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.answers.audited import Answer, AuditedTransaction, Requester
from bot.answers.redaction import Audience, Redaction, redaction_for
from bot.freshness import FreshnessRule
from bot.links import Links
from bot.outcomes import Outcome
from bot.store.queries import (
    LICENSE_CARD_KINDS,
    RECON_CARD_KINDS,
    customer_key_of_license,
    data_times,
    load_customer_licenses,
    load_reconciliation,
)
from bot.views.license_card import build_license_unfurl
from bot.views.notices import LINK_GONE, build_notice
from bot.views.recon_card import build_recon_unfurl

# The audit surface of a link unfurled into a conversation.
UNFURL_SURFACE = "link_shared"


class UnfurlCards:
    def __init__(
        self,
        audited: AuditedTransaction,
        links: Links,
        *,
        show_contact_emails_in_channels: bool = False,
        freshness: FreshnessRule | None = None,
    ) -> None:
        self._audited = audited
        self._links = links
        self._freshness = freshness or FreshnessRule()
        self._redaction: Redaction = redaction_for(
            Audience.CONVERSATION, show_contact_emails_in_channels=show_contact_emails_in_channels
        )

    def answer_license_link(self, license_id: int, url: str, requester: Requester) -> Answer:
        """The compact card of a posted license link: its customer, that license featured."""
        return self._audited.answer(
            surface=UNFURL_SURFACE,
            query=url,
            requester=requester,
            build=lambda session: self._license_unfurl(session, license_id),
        )

    def answer_reconciliation_link(
        self, reconciliation_id: int, url: str, requester: Requester
    ) -> Answer:
        """The compact card of a posted reconciliation link."""
        return self._audited.answer(
            surface=UNFURL_SURFACE,
            query=url,
            requester=requester,
            build=lambda session: self._reconciliation_unfurl(session, reconciliation_id),
        )

    def _license_unfurl(self, session: Session, license_id: int) -> Answer:
        customer_key = customer_key_of_license(session, license_id)
        licenses = (
            None
            if customer_key is None
            else load_customer_licenses(session, customer_key, today=self._audited.today())
        )
        if licenses is None:
            return Answer(build_notice(LINK_GONE), Outcome.NOT_FOUND)
        message = build_license_unfurl(
            self._redaction.licenses(licenses),
            license_id,
            self._links,
            freshness=self._freshness.judge(
                licenses.data_times, LICENSE_CARD_KINDS, now=self._audited.clock()
            ),
            include_contact_emails=self._redaction.shows_contact_emails,
        )
        return Answer(message, Outcome.OK, 1)

    def _reconciliation_unfurl(self, session: Session, reconciliation_id: int) -> Answer:
        record = load_reconciliation(session, reconciliation_id)
        if record is None:
            return Answer(build_notice(LINK_GONE), Outcome.NOT_FOUND)
        message = build_recon_unfurl(
            self._redaction.reconciliation(record),
            self._links,
            freshness=self._freshness.judge(
                data_times(session), RECON_CARD_KINDS, now=self._audited.clock()
            ),
        )
        return Answer(message, Outcome.OK, 1)
