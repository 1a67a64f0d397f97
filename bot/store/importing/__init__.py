"""Load CustomersDot, Zuora and version.gitlab.com exports into the store
(docs/import-formats.md); `import_file` is the entry point (`python -m bot import`, the demo, the tests).

One file is one transaction: every row is validated and written, or nothing changes. Rows are
streamed and written in batches with set-based upserts; the keys seen (duplicate detection,
`--full`) and the customers to refresh are kept in temporary tables of the import's own
connection, so memory stays flat in the file size. Only rows that differ
from what the store holds are written, so re-importing a file touches nothing and fires no
triggers.

The package, one job a module:
- reading.py: CSV / JSON lines files (BOM, CRLF, delimiters, header matching, line numbers);
- values.py: one cell's text -> its value (ids, counts, booleans, dates, timestamps, money);
- kinds.py: each kind's columns, the source systems' names for them, and the stored row;
- writing.py: what both engines' writers share (work tables, duplicate checks, `--full`);
- postgresql.py / sqlite.py: each engine's own SQL (COPY; executemany upserts);
- customers.py: regrouping the customers (bot/store/customers.py) after an import;
- follow_events.py: what the import changed for followed customers, as follow events;
- errors.py: ImportFailed, the one error an operator reads.
Names with a leading underscore are the package's own, shared between its modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from bot.store import upkeep
from bot.store.data_generation import bump_data_generation
from bot.store.importing import follow_events
from bot.store.importing.customers import GROUPING_KINDS, refresh_customers
from bot.store.importing.errors import ImportFailed, MassDeleteRefused
from bot.store.importing.kinds import ImportKind, KindSpec, import_columns, spec_for
from bot.store.importing.postgresql import PostgreSQLWriter
from bot.store.importing.reading import Records, read_records
from bot.store.importing.sqlite import SQLiteWriter
from bot.store.importing.writing import ImportWriter
from bot.store.models import ImportRun

__all__ = [
    "BATCH_SIZE",
    "ImportFailed",
    "ImportKind",
    "ImportSummary",
    "MassDeleteRefused",
    "import_columns",
    "import_file",
]

BATCH_SIZE = 2000


@dataclass(frozen=True)
class ImportSummary:
    kind: ImportKind
    file: str
    rows: int
    inserted: int
    updated: int
    unchanged: int
    deleted: int
    full: bool
    finished_at: datetime
    warnings: tuple[str, ...] = ()
    customers_written: int = 0  # customers added or changed (licenses, subscriptions imports)
    customers_deleted: int = 0
    # Whether the customers were regrouped: not when the file changed nothing the rule reads.
    regrouped: bool = False
    # Hosts: the instances the file's pings came from (the newest ping of each is kept).
    instances: int | None = None

    def describe(self) -> str:
        """One line for the operator, e.g. for the CLI's final message."""
        if self.instances is None:
            counted = f"{self.rows:,} rows from {self.file}"
        else:
            counted = (
                f"{self.rows:,} {'ping' if self.rows == 1 else 'pings'} from {self.file}, "
                f"{self.instances:,} {'instance' if self.instances == 1 else 'instances'} "
                "(the newest ping of each kept)"
            )
        description = (
            f"{self.kind.value}: {counted}: {self.inserted:,} inserted, "
            f"{self.updated:,} updated, {self.unchanged:,} unchanged, {self.deleted:,} deleted"
        )
        if self.kind in GROUPING_KINDS and self.regrouped:
            description += (
                f"; customers: {self.customers_written:,} added or changed, "
                f"{self.customers_deleted:,} removed"
            )
        elif self.kind in GROUPING_KINDS:
            description += "; customers: unchanged (nothing they are grouped by changed)"
        return description


def import_file(
    session_factory: sessionmaker[Session],
    kind: ImportKind | str,
    path: Path,
    *,
    full: bool = False,
    allow_mass_delete: bool = False,
    on_progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
    public_email_domains: Iterable[str] = (),
    source_time: datetime | None = None,
) -> ImportSummary:
    """Import one export file in a single transaction; raise ImportFailed and change nothing on error.

    `full`: the file is the complete export, so rows it lacks are deleted (refused above 10% of
    the table unless `allow_mass_delete`). `on_progress(rows_done)` is called after each batch.
    `public_email_domains`: the operator's additions to the public mail domains the customer
    rule never groups by (PUBLIC_EMAIL_DOMAINS); a change of them regroups the store.
    `source_time`: when the source had this data (a fetched file's Last-Modified, a query's
    start), kept as the data's age; one later than the import's finish is taken as the finish
    (a source's clock ahead of ours must not make data look fresher than its import).
    """
    spec = spec_for(kind)
    path = Path(path)
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if source_time is not None and source_time.tzinfo is None:
        raise ValueError("source_time must be timezone-aware")
    records = read_records(path)
    domains = upkeep.public_email_domains(public_email_domains)
    with session_factory() as session, session.begin():
        # A store left behind by today's folding, rule or public domains is brought up to date
        # in this transaction; its regrouping is this import's own (below), done once.
        stale, _ = upkeep.bring_store_up_to_date(session.connection(), domains, regroup_now=False)
        run = _open_writer(session, spec, full=full)
        # After the writer's table lock (PostgreSQL): no other import writes between the look
        # and the writes.
        watch = follow_events.watch_before(session, spec.kind)
        bulk_loaded = False
        if run.can_bulk_load():
            bulk_loaded = _bulk_load(run, records, on_progress)
            if not bulk_loaded:  # undone: the file is read anew, the ordinary way
                records = read_records(path)
        if not bulk_loaded:
            _load_in_batches(run, records, on_progress)
        if full and not bulk_loaded:  # a bulk load filled an empty table: nothing to delete
            run.delete_missing(allow_mass_delete=allow_mass_delete)
        changed = bool(run.inserted or run.updated or run.deleted)
        counts = refresh_customers(
            session,
            spec.kind,
            changed=changed,
            grouping_inputs_changed=run.grouping_inputs_changed,
            store_stale=stale.needs_regroup,
        )
        regrouped = counts is not None
        if counts is not None:
            run.customers_written = counts.customers_written
            run.customers_deleted = counts.customers_deleted
        # Pings: several rows of one instance are one stored row.
        instances = run.distinct_keys() if spec.newest_by is not None else None
        run.finish()
        finished_at = (now or datetime.now(UTC)).astimezone(UTC)
        import_run = ImportRun(
            kind=spec.kind.value,
            file=path.name,
            rows=run.rows,
            inserted=run.inserted,
            updated=run.updated,
            deleted=run.deleted,
            full=full,
            finished_at=finished_at,
            source_time=None if source_time is None else min(source_time, finished_at),
        )
        session.add(import_run)
        # Answers kept for the data before this import are not given after it.
        bump_data_generation(session.connection())
        if watch is not None and changed:
            session.flush()
            follow_events.record_changes(
                session, watch, import_run_id=import_run.id, now=finished_at
            )
    return ImportSummary(
        kind=spec.kind,
        file=path.name,
        rows=run.rows,
        inserted=run.inserted,
        updated=run.updated,
        unchanged=(run.rows if instances is None else instances) - run.inserted - run.updated,
        instances=instances,
        deleted=run.deleted,
        full=full,
        finished_at=finished_at,
        warnings=tuple(records.warnings),
        customers_written=run.customers_written,
        customers_deleted=run.customers_deleted,
        regrouped=regrouped,
    )


def _load_in_batches(
    run: ImportWriter, records: Records, on_progress: Callable[[int], None] | None
) -> None:
    """The ordinary path: batches of rows, each checked against the keys seen and stored."""
    with closing(records.rows(run.spec)) as rows:
        try:
            for line, values in rows:
                run.add(line, values)
                if len(run.batch) >= BATCH_SIZE:
                    run.flush()
                    if on_progress is not None:
                        on_progress(run.rows)
        except ImportFailed:
            run.raise_earlier_duplicate()
            raise
    if run.batch:
        run.flush()
        if on_progress is not None:
            on_progress(run.rows)


def _bulk_load(
    run: ImportWriter, records: Records, on_progress: Callable[[int], None] | None
) -> bool:
    """A first load in one stream (the writer's `bulk_load`). True when it loaded the file; when
    a row fails (a bad value, a key twice) it is undone and False returned: the ordinary path
    then loads the file again and reports its first error exactly as it always does, so the
    error an operator reads does not depend on the path taken."""
    with closing(records.rows(run.spec)) as rows:
        parsed = ((line, run.parse(line, cells)) for line, cells in rows)
        return run.bulk_load(parsed, on_progress)


def _open_writer(session: Session, spec: KindSpec, *, full: bool) -> ImportWriter:
    """The writer for the session's engine: PostgreSQL's (COPY) or SQLite's (executemany)."""
    if session.get_bind().dialect.name == "postgresql":
        return PostgreSQLWriter(session, spec, full=full)
    return SQLiteWriter(session, spec, full=full)
