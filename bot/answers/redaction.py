"""The one redaction rule: what a card may show, decided by who will read it (ARCHITECTURE.md:
Privacy).

Every path that answers or posts a card (the ephemeral reply, send-to-me, share, the shortcut
and modal posts, link unfurls) builds it from records passed through `redaction_for(audience)`:

- the requester (an ephemeral reply, a modal, their DM with the bot) sees everything;
- a conversation (a channel, thread or DM others read, an unfurl under someone's message) sees
  contact emails only when the deployment sets `SHOW_CONTACT_EMAILS_IN_CHANNELS`, and then also
  the emails that free text carries (an error message or skip reason that names a contact,
  a contact name or licensee that is an address); otherwise those addresses are replaced.

License notes are internal and never reach a conversation, whatever the setting: a conversation's
records carry none (`Redaction.licenses`), so a card shows a note only to the requester.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from bot.licensing import with_licenses_replaced
from bot.records import (
    CustomerLicenses,
    CustomerReconciliations,
    CustomerRecord,
    RankedLicense,
    ReconciliationRecord,
)

EMAIL_HIDDEN = "(email hidden)"
# Characters of an address around its "@": RFC 5322's dot-atom, less the rare ones that also
# end sentences or wrap addresses in free text.
_LOCAL_PART_SYMBOLS = frozenset("._%+-'")
_DOMAIN_SYMBOLS = frozenset(".-")


class Audience(enum.Enum):
    """Who will see a card."""

    REQUESTER = "requester"  # ephemeral reply or DM to the person who asked: emails shown
    CONVERSATION = "conversation"  # shared into a channel or thread: emails per deployment setting


@dataclass(frozen=True)
class Redaction:
    """What one audience may see, and how to strip the rest from the records of a card."""

    shows_contact_emails: bool
    shows_internal_notes: bool

    def text(self, value: str | None) -> str | None:
        """Free text as this audience may read it: any email address in it replaced."""
        if value is None or self.shows_contact_emails:
            return value
        return hide_emails(value)

    def licenses(self, data: CustomerLicenses) -> CustomerLicenses:
        if self.shows_contact_emails and self.shows_internal_notes:
            return data
        overview = with_licenses_replaced(data.overview, self._ranked)
        if not self.shows_contact_emails:
            # A subscription's name heads its block: an export's free text, like the rest.
            overview = replace(
                overview,
                subscriptions=tuple(
                    replace(subscription, name=self.text(subscription.name))
                    for subscription in overview.subscriptions
                ),
            )
        return replace(
            data,
            customer=self._customer(data.customer),
            overview=overview,
            same_domain=tuple(
                replace(license, company=self.text(license.company) or "")
                for license in data.same_domain
            ),
        )

    def reconciliation(self, record: ReconciliationRecord) -> ReconciliationRecord:
        if self.shows_contact_emails:
            return record
        return replace(
            record,
            # The customer's name is a license's or reconciliation's company: it can be an address.
            customer_name=self.text(record.customer_name) or "",
            skip_reason=self.text(record.skip_reason),
            error_message=self.text(record.error_message),
            subscription_name=self.text(record.subscription_name),
        )

    def reconciliations(self, data: CustomerReconciliations) -> CustomerReconciliations:
        if self.shows_contact_emails:
            return data
        return replace(
            data,
            customer=self._customer(data.customer),
            reconciliations=tuple(self.reconciliation(r) for r in data.reconciliations),
        )

    def _customer(self, customer: CustomerRecord) -> CustomerRecord:
        # The display name is the newest license's company, the account name a Zuora account's:
        # either may be an email address, and they head every card.
        return replace(
            customer,
            name=self.text(customer.name) or "",
            account_name=self.text(customer.account_name),
        )

    def _ranked(self, ranked: RankedLicense) -> RankedLicense:
        license = ranked.license
        if not self.shows_internal_notes:
            license = replace(license, notes=None)
        if not self.shows_contact_emails:
            license = replace(
                license,
                contact_email=None,
                contact_name=self.text(license.contact_name),
                company=self.text(license.company) or "",
                zuora_subscription_name=self.text(license.zuora_subscription_name),
                subscription=self.text(license.subscription),
            )
        return replace(ranked, license=license)


_EVERYTHING = Redaction(shows_contact_emails=True, shows_internal_notes=True)


def redaction_for(audience: Audience, *, show_contact_emails_in_channels: bool) -> Redaction:
    """The one redaction rule: the requester sees everything; a conversation sees contact
    emails only when the deployment says so (`SHOW_CONTACT_EMAILS_IN_CHANNELS`), and never
    internal notes."""
    if audience is Audience.REQUESTER:
        return _EVERYTHING
    return Redaction(
        shows_contact_emails=show_contact_emails_in_channels, shows_internal_notes=False
    )


def hide_emails(text: str) -> str:
    """`text` with every email address replaced by EMAIL_HIDDEN.

    A scan out from each "@", never a regular expression that could backtrack: each character
    is looked at a bounded number of times, so hostile 10,000-character text costs linear time.
    """
    pieces: list[str] = []
    copied_up_to = 0
    at = text.find("@")
    while at != -1:
        start = at
        while start > copied_up_to and _is_local_part_char(text[start - 1]):
            start -= 1
        end = at + 1
        while end < len(text) and _is_domain_char(text[end]):
            end += 1
        while end > at + 1 and text[end - 1] in _DOMAIN_SYMBOLS:
            end -= 1  # a sentence's full stop after the address is not part of it
        domain = text[at + 1 : end]
        if start < at and "." in domain.strip("."):
            pieces.append(text[copied_up_to:start])
            pieces.append(EMAIL_HIDDEN)
            copied_up_to = end
        at = text.find("@", max(end, at + 1))
    pieces.append(text[copied_up_to:])
    return "".join(pieces)


def _is_local_part_char(char: str) -> bool:
    return char.isalnum() or char in _LOCAL_PART_SYMBOLS


def _is_domain_char(char: str) -> bool:
    return char.isalnum() or char in _DOMAIN_SYMBOLS
