"""Customer and vocabulary upkeep after an import: which kinds of file the customer rule reads,
and re-running the rule when a file changed some row.

The rule itself, and the name vocabulary it adds to as customers change, live in
bot/store/customers.py, not here: the store's queries read it and migration 0007 runs it too,
so it is the store's, with one home; this module is only the import's side of it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.store.customers import RegroupCounts, assign_reconciliations, regroup
from bot.store.importing.kinds import ImportKind

# The kinds whose rows the customer rule reads (bot.store.customers): importing one regroups.
GROUPING_KINDS = frozenset({ImportKind.LICENSES, ImportKind.SUBSCRIPTIONS})


def refresh_customers(session: Session, kind: ImportKind, *, changed: bool) -> RegroupCounts | None:
    """After an import of `kind`, inside its transaction: regroup the customers (and add their
    names' words to the vocabulary) when the file changed a license or subscription; re-assign
    the reconciliations when it changed one. The counts when it regrouped."""
    # The customers are a function of the store: a file that changed no row leaves them as
    # they are (a daily export re-imported unchanged skips the regrouping).
    if kind in GROUPING_KINDS and changed:
        return regroup(session.connection())
    if kind is ImportKind.RECONCILIATIONS and changed:
        assign_reconciliations(session.connection())
    return None
