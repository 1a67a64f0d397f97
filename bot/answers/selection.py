"""The shortcut's modals: the customers an external select offers while someone types, the
customer a message talks about, a picked customer's licenses to feature. Each search is audited
(bot/answers/audited.py) though it shows no card: it reads customer names.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot import ids
from bot.answers.audited import AuditedTransaction, Requester
from bot.outcomes import Outcome
from bot.records import CustomerChoice, LicenseOverview
from bot.search import find_customer_in_text, find_customers
from bot.store.queries import customer_choice, customer_key_by_prefix, load_customer_licenses
from bot.views.modals import decode_option_value

# The audit surfaces of the modals' searches (the card itself is audited by its own surface).
SUGGEST_SURFACE = "customer_suggest"
SELECT_SURFACE = "customer_select"
MODAL_OPTIONS_SEARCHED = 20
SUGGESTION_QUERY_MAX = 500


@dataclass(frozen=True)
class CustomerSelection:
    choice: CustomerChoice
    overview: LicenseOverview


class CustomerSelections:
    def __init__(self, audited: AuditedTransaction) -> None:
        self._audited = audited

    def customer_choices_for(self, text: str, requester: Requester) -> list[CustomerChoice]:
        """What an external select offers for `text`: the same search as /license."""
        choices: list[CustomerChoice] = []

        def search(session: Session) -> tuple[Outcome, int]:
            result = find_customers(
                session, text, today=self._audited.today(), limit=MODAL_OPTIONS_SEARCHED
            )
            choices.extend([result.resolved] if result.resolved else result.choices)
            return (Outcome.OK if choices else Outcome.NOT_FOUND), len(choices)

        if not self._audited.read(SUGGEST_SURFACE, text, requester, search):
            return []
        return choices

    def suggest_customer(self, message_text: str, requester: Requester) -> CustomerSelection | None:
        """The customer a message talks about, with its licenses, to preselect in the
        shortcut's modal."""
        found: list[CustomerSelection] = []

        def suggest(session: Session) -> tuple[Outcome, int]:
            today = self._audited.today()
            choice = find_customer_in_text(session, message_text, today=today)
            licenses = (
                None if choice is None else load_customer_licenses(session, choice.key, today=today)
            )
            if choice is None or licenses is None:
                return Outcome.NOT_FOUND, 0
            found.append(CustomerSelection(choice, licenses.overview))
            return Outcome.OK, 1

        query = message_text[:SUGGESTION_QUERY_MAX]
        if not self._audited.read(ids.POST_CARD_SHORTCUT, query, requester, suggest):
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
            licenses = load_customer_licenses(session, key, today=self._audited.today())
            if licenses is None:
                return Outcome.NOT_FOUND, 0
            # The line from the licenses just loaded (under the key they were found under: an
            # old key names the customer it became), not a second read of them.
            choice = customer_choice(licenses.customer, licenses.overview)
            selected.append(CustomerSelection(choice, licenses.overview))
            return Outcome.OK, licenses.overview.license_count

        if not self._audited.read(SELECT_SURFACE, customer_value, requester, load):
            return None
        return selected[0] if selected else None


def resolve_customer_key(session: Session, value: str) -> str:
    """A customer key from a key or a modal option value (long keys travel as prefix+digest,
    bot/views/modals.py); the value itself when no customer has that key."""
    decoded = decode_option_value(value)
    if isinstance(decoded, str):
        return decoded
    return customer_key_by_prefix(session, decoded.prefix, decoded.matches) or value
