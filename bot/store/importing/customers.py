"""Customer and vocabulary upkeep after an import: which kinds of file the customer rule reads,
and re-running the rule when a file changed something it reads.

The rule itself, and the name vocabulary it adds to as customers change, live in
bot/store/customers.py, not here: the store's queries read it and migration 0007 runs it too,
so it is the store's, with one home; this module is only the import's side of it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.store.customers import (
    LICENSE_COLUMNS_READ,
    RegroupCounts,
    assign_reconciliations,
    regroup,
)
from bot.store.importing.kinds import ImportKind

# The kinds whose rows the customer rule reads (bot.store.customers), each with the columns an
# update must change to change the customers: for licenses the ones the rule reads (a daily
# export whose rows changed only seats, dates, plan or notes skips the regrouping); None for
# subscriptions, whose every column counts (the rule reads all but account_number, and the
# export is one row per subscription version: not worth a check of its own).
GROUPING_COLUMNS: dict[ImportKind, tuple[str, ...] | None] = {
    ImportKind.LICENSES: LICENSE_COLUMNS_READ,
    ImportKind.SUBSCRIPTIONS: None,
}
GROUPING_KINDS = frozenset(GROUPING_COLUMNS)


def refresh_customers(
    session: Session,
    kind: ImportKind,
    *,
    changed: bool,
    grouping_inputs_changed: bool,
    store_stale: bool = False,
) -> RegroupCounts | None:
    """After an import of `kind`, inside its transaction: regroup the customers (and index
    their names) when the file changed what the rule reads (a license or subscription inserted
    or deleted, or updated in a column of GROUPING_COLUMNS: the writer's
    `grouping_inputs_changed`), or the store was stale (bot/store/upkeep.py: refolded, new public
    mail domains, a new rule); re-assign the reconciliations when it `changed` one. The counts
    when it regrouped."""
    # The customers are a function of what the rule reads: a file that changed none of it
    # leaves them as they are (a daily export re-imported unchanged, or with new seat counts
    # and dates only, skips the regrouping).
    if store_stale or (kind in GROUPING_KINDS and grouping_inputs_changed):
        return regroup(session.connection())
    if kind in GROUPING_KINDS:
        return None
    if kind is ImportKind.RECONCILIATIONS and changed:
        assign_reconciliations(session.connection())
    return None
