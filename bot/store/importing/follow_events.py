"""What an import changed for the customers someone follows, recorded as follow events in the
import's own transaction (bot/store/follows.py: `record_event`), so the data and its news
commit together or not at all.

Only followed customers are watched: before the rows are written, the licenses and
reconciliations of every active follow's customer (its evidence and its key today) are
noted, a few rows per follow; after the rows are written and the customers regrouped, the
same is read again and compared. An import's cost does not grow with the file (a million-row
export writes no million events), and nothing is read at all when nobody follows anyone or
the table was empty (a first load announces nothing: it is history, not news).

Recorded:
- licenses: a paid license new to a followed customer, with what changed against the
  subscription's previous license (renewed, true-up, seats changed, plan changed);
- trials: a trial new to a followed customer (plan, users, ends on);
- recon: a reconciliation of a followed customer that became processed, failed or skipped —
  each time it becomes so: one that fails, is retried (pending) and fails again is news twice,
  so its event is keyed by the import that saw the change (`recon:<id>:<status>:<run>`); the
  same file imported again changes nothing and records nothing.
A license or reconciliation that was already stored but newly joined a followed customer
(regrouped, or its subscription filled in) is news only if it is recent: issued, or
reconciled, within follows.EVENT_HORIZON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.store import follows
from bot.store.importing.kinds import ImportKind
from bot.store.models import License, Reconciliation

# Reconciliation statuses worth a post: what became of one (pending is not news).
RECON_OUTCOMES = ("processed", "failed", "skipped")


@dataclass
class _Scope:
    """What identifies the followed customers: their keys today and their evidence."""

    keys: set[str] = field(default_factory=set)
    subscriptions: set[str] = field(default_factory=set)
    salesforce_ids: set[str] = field(default_factory=set)
    zuora_account_ids: set[str] = field(default_factory=set)
    license_ids: set[int] = field(default_factory=set)

    def license_condition(self) -> Any:
        conditions: list[Any] = []
        for column, values in (
            (License.customer_key, self.keys),
            (License.zuora_subscription_name, self.subscriptions),
            (License.salesforce_account_id, self.salesforce_ids),
            (License.zuora_account_id, self.zuora_account_ids),
            (License.id, self.license_ids),
        ):
            if values:
                conditions.append(column.in_(sorted(values)))
        return or_(*conditions) if conditions else None

    def reconciliation_condition(self) -> Any:
        conditions: list[Any] = []
        if self.keys:
            conditions.append(Reconciliation.customer_key.in_(sorted(self.keys)))
        if self.subscriptions:
            conditions.append(Reconciliation.subscription_name.in_(sorted(self.subscriptions)))
        return or_(*conditions) if conditions else None


def _followed_scope(session: Session) -> _Scope | None:
    active = follows.active_follows(session)
    if not active:
        return None
    scope = _Scope()
    for follow in active:
        resolution = follows.resolve_customer(session, follow)
        scope.keys.update(
            [resolution.customer_key] if resolution.customer_key else resolution.candidates
        )
        evidence = follows.follow_evidence(session, follow.id)
        scope.subscriptions.update(evidence.subscription_names)
        scope.salesforce_ids.update(evidence.salesforce_account_ids)
        scope.zuora_account_ids.update(evidence.zuora_account_ids)
        scope.license_ids.update(evidence.license_ids)
    return scope


@dataclass
class FollowWatch:
    """The followed customers' rows as they were before an import wrote (`watch_before`)."""

    kind: ImportKind
    scope: _Scope
    license_ids: set[int] = field(default_factory=set)
    reconciliation_status: dict[int, str] = field(default_factory=dict)


def watch_before(session: Session, kind: ImportKind) -> FollowWatch | None:
    """Before an import of `kind` writes: the followed customers' rows, or None when there is
    nothing to watch (a kind that makes no events, no active follow, an empty table)."""
    table: Any
    if kind is ImportKind.LICENSES:
        table = License
    elif kind is ImportKind.RECONCILIATIONS:
        table = Reconciliation
    else:
        return None
    scope = _followed_scope(session)
    if scope is None or session.scalar(select(table.id).limit(1)) is None:
        return None
    watch = FollowWatch(kind, scope)
    if kind is ImportKind.LICENSES:
        condition = scope.license_condition()
        if condition is not None:
            watch.license_ids = set(session.scalars(select(License.id).where(condition)))
    else:
        condition = scope.reconciliation_condition()
        if condition is not None:
            rows = session.execute(
                select(Reconciliation.id, Reconciliation.status).where(condition)
            )
            watch.reconciliation_status = {row.id: row.status for row in rows}
    return watch


def record_changes(
    session: Session, watch: FollowWatch, *, import_run_id: int | None, now: datetime
) -> int:
    """After the import wrote and regrouped, in its transaction: record the events; how many."""
    scope = _followed_scope(session) or _Scope()
    # The customers as regrouped now, and as they were (a row may have moved between them).
    merged = _Scope(
        keys=watch.scope.keys | scope.keys,
        subscriptions=watch.scope.subscriptions | scope.subscriptions,
        salesforce_ids=watch.scope.salesforce_ids | scope.salesforce_ids,
        zuora_account_ids=watch.scope.zuora_account_ids | scope.zuora_account_ids,
        license_ids=watch.scope.license_ids | scope.license_ids,
    )
    if watch.kind is ImportKind.LICENSES:
        return _record_licenses(session, watch, merged, import_run_id=import_run_id, now=now)
    return _record_reconciliations(session, watch, merged, import_run_id=import_run_id, now=now)


def _is_recent(value: datetime | date | None, now: datetime) -> bool:
    if value is None:
        return True
    day = value.date() if isinstance(value, datetime) else value
    return day >= (now - follows.EVENT_HORIZON).date()


def _record_licenses(
    session: Session, watch: FollowWatch, scope: _Scope, *, import_run_id: int | None, now: datetime
) -> int:
    condition = scope.license_condition()
    if condition is None:
        return 0
    query = select(License).where(condition).order_by(License.id)
    new = [
        row
        for row in session.scalars(query)
        if row.id not in watch.license_ids and _is_recent(row.issued_at, now)
    ]
    recorded = 0
    for row in new:
        if row.trial:
            kind, dedupe_key = "trials", f"trial:{row.id}"
            facts: dict[str, Any] = {
                "license_id": row.id,
                "plan": row.plan,
                "users": row.user_count,
                "starts_on": _iso(row.starts_at),
                "ends_on": _iso(row.expires_at),
            }
        else:
            kind, dedupe_key = "licenses", f"license:{row.id}"
            facts = license_change(row, _previous_license(session, row))
        recorded += follows.record_event(
            session,
            kind=kind,
            customer_key=row.customer_key,
            dedupe_key=dedupe_key,
            facts=facts,
            occurred_at=now,
            now=now,
            subscription_name=row.zuora_subscription_name,
            subject=str(row.id),
            import_run_id=import_run_id,
        )
    return recorded


def _previous_license(session: Session, row: License) -> License | None:
    """The license of the same subscription this one follows: the newest other paid license
    issued before it (else, without issue times, the one with the highest id below it)."""
    if not row.zuora_subscription_name:
        return None
    query = select(License).where(
        License.zuora_subscription_name == row.zuora_subscription_name,
        License.id != row.id,
        License.trial.is_(False),
    )
    others = list(session.scalars(query))
    earlier = [
        other
        for other in others
        if (other.issued_at is not None and row.issued_at is not None)
        and other.issued_at <= row.issued_at
    ] or [other for other in others if other.id < row.id]
    if not earlier:
        return None
    return max(earlier, key=lambda other: (other.issued_at is not None, other.issued_at, other.id))


def license_change(row: License, previous: License | None) -> dict[str, Any]:
    """The facts of a new paid license: what it is against the one it follows
    (`change`: new subscription, renewed, true-up, seats changed, plan changed, new license)."""
    if previous is None:
        change = "new subscription" if row.zuora_subscription_name else "new license"
    elif (
        row.expires_at is not None
        and previous.expires_at is not None
        and row.expires_at > previous.expires_at
    ):
        change = "renewed"
    elif row.trueup_quantity:
        change = "true-up"
    elif row.user_count != previous.user_count:
        change = "seats changed"
    elif row.plan != previous.plan:
        change = "plan changed"
    else:
        change = "new license"
    return {
        "license_id": row.id,
        "change": change,
        "plan": row.plan,
        "previous_plan": previous.plan if previous is not None else None,
        "seats": row.user_count,
        "previous_seats": previous.user_count if previous is not None else None,
        "trueup_quantity": row.trueup_quantity,
        "starts_on": _iso(row.starts_at),
        "expires_on": _iso(row.expires_at),
        "previous_expires_on": _iso(previous.expires_at) if previous is not None else None,
    }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _record_reconciliations(
    session: Session, watch: FollowWatch, scope: _Scope, *, import_run_id: int | None, now: datetime
) -> int:
    condition = scope.reconciliation_condition()
    if condition is None:
        return 0
    query = (
        select(Reconciliation)
        .where(condition, Reconciliation.status.in_(RECON_OUTCOMES))
        .order_by(Reconciliation.id)
    )
    change = str(import_run_id) if import_run_id is not None else now.isoformat()
    recorded = 0
    for row in session.scalars(query):
        before = watch.reconciliation_status.get(row.id)
        if before == row.status:
            continue
        if before is None and not _is_recent(row.reconcile_done_at or row.reconcile_on, now):
            continue
        facts = {
            "reconciliation_id": row.id,
            "status": row.status,
            "users": row.user_count,
            "amount_minor": row.invoiced_amount_minor,
            "currency": row.currency,
            "error": row.error_message,
            "skip_reason": row.skip_reason,
            "reconcile_on": _iso(row.reconcile_on),
        }
        recorded += follows.record_event(
            session,
            kind="recon",
            customer_key=row.customer_key or f"sub:{row.subscription_name or row.id}",
            subscription_name=row.subscription_name,
            subject=str(row.id),
            # Per import: it changed in this one (before != after), so each change is news
            # once; a rerun of this import, or another worker's, records nothing new.
            dedupe_key=f"recon:{row.id}:{row.status}:{change}",
            facts=facts,
            occurred_at=now,
            now=now,
            import_run_id=import_run_id,
        )
    return recorded
