"""One `python -m bot sync`: each configured kind read from its source (an export's URL, a
file path, a database's query, Zuora's Data Query API), imported, and recorded in the store's
sync_state, under the sync lease (issue 21).

A kind is one import, all or nothing: a fetch, a query or an import that fails leaves the
kind's last good data and validators, is recorded as a failure with one line naming the source
(masked), and the other kinds still sync. A `304` counts as a success that loaded nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import ConfigError, Settings
from bot.store import sync_state
from bot.store.db import session_scope
from bot.store.failures import store_failure_advice
from bot.store.importing import ImportFailed, ImportKind, MassDeleteRefused, import_file
from bot.sync.database_source import (
    READ_BACKENDS,
    describe_database,
    export_query,
    reads_incrementally,
)
from bot.sync.https_source import (
    Fetched,
    SourceError,
    Validators,
    describe_source,
    fetch_export,
    url_problem,
)
from bot.sync.zuora_source import export_subscriptions

logger = logging.getLogger(__name__)

ZUORA = "zuora"
# The kinds a database source cannot read without a query of the operator's own: the source
# systems have no table of them.
NEEDS_QUERY = frozenset({ImportKind.SUBSCRIPTIONS, ImportKind.RECONCILIATIONS})
# An incremental database source still reads everything at least this often, so that rows
# deleted at the source (which no incremental read sees) leave the store within a day.
FULL_PASS_EVERY = timedelta(hours=24)
# Far longer than one kind's fetch and import: the lease is renewed only between kinds (on
# SQLite an import holds the one write lock, so a renewal during it would wait for it), and a
# killed sync's lease blocks the next one for at most this long.
LEASE_TTL = timedelta(hours=1)


@dataclass(frozen=True)
class UrlSource:
    url: str
    authorization: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        return describe_source(self.url)


@dataclass(frozen=True)
class FileSource:
    path: Path

    def describe(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class DatabaseSource:
    """A database URL (any SQLAlchemy URL) and the query replacing the kind's default."""

    url: str = field(repr=False)  # may hold a password
    query: str | None = None

    def describe(self) -> str:
        """The URL masked, and a query of one's own by a digest of its text: the description
        is the source's identity in sync_state, so a changed query drops the watermark the
        old one gave, as a changed URL does."""
        described = describe_database(self.url)
        if self.query is None:
            return described
        digest = hashlib.sha256(self.query.strip().encode()).hexdigest()[:8]
        return f"{described} (own query {digest})"


@dataclass(frozen=True)
class ZuoraSource:
    """Zuora's Data Query API: the tenant's REST endpoint and an OAuth client."""

    rest_url: str
    client_id: str
    client_secret: str = field(repr=False)

    def describe(self) -> str:
        # The host only: never the client's id or secret.
        host = urlsplit(self.rest_url).netloc.rpartition("@")[2]
        return f"{ZUORA} ({host or describe_source(self.rest_url)})"


Source = UrlSource | FileSource | DatabaseSource | ZuoraSource

# A kind's change of state that SYNC_ALERT_CHANNEL hears of (once each, not every run): its
# first failure since a success, and its first success after failures.
SyncAlert = Literal["started_failing", "recovered"]


def setting_name(kind: ImportKind) -> str:
    return f"SYNC_{kind.value.upper()}"


def query_setting_name(kind: ImportKind) -> str:
    return f"SYNC_{kind.value.upper()}_QUERY"


def parse_source(
    kind: ImportKind,
    raw: str,
    authorization: str | None,
    settings: Settings | None = None,
) -> Source:
    """SYNC_<KIND>'s value as a source, with SYNC_<KIND>_QUERY and the ZUORA_* settings from
    `settings`; ConfigError (naming the setting, never a secret: a URL's password, a client
    secret) when it is not one this sync reads.

    `zuora` (any case) is Zuora; a URL whose scheme is http or https an export to fetch; any
    other URL a database; anything else a file path."""
    settings = settings or Settings()
    value = raw.strip()
    name = setting_name(kind)
    query = settings.sync_query(kind.value)
    scheme, separator, _ = value.partition("://")
    database = bool(separator) and scheme.lower() not in {"http", "https", "file"}
    if query is not None and not database:
        raise ConfigError(
            f"{query_setting_name(kind)} is set, but {name} is not a database URL: the query "
            "is run only on a database source"
        )
    if value.lower() == ZUORA:
        return _zuora_source(kind, settings)
    if database:
        return _database_source(kind, value, query)
    if separator and scheme.lower() == "file":
        raise ConfigError(f"{name} ({kind.value}): give the file's path, not a file:// URL")
    if separator:
        problem = url_problem(value)
        if problem is not None:
            raise ConfigError(f"{name} ({kind.value}): {describe_source(value)}: {problem}")
        return UrlSource(value, authorization)
    return FileSource(Path(value))


def _zuora_source(kind: ImportKind, settings: Settings) -> ZuoraSource:
    name = setting_name(kind)
    if kind is not ImportKind.SUBSCRIPTIONS:
        raise ConfigError(
            f"{name} ({kind.value}): zuora is a source of subscriptions only (SYNC_SUBSCRIPTIONS)"
        )
    needed = {
        "ZUORA_REST_URL": settings.zuora_rest_url,
        "ZUORA_CLIENT_ID": settings.zuora_client_id,
        "ZUORA_CLIENT_SECRET": settings.zuora_client_secret,
    }
    missing = [setting for setting, given in needed.items() if not given]
    if missing:
        raise ConfigError(
            f"{name}=zuora needs ZUORA_REST_URL, ZUORA_CLIENT_ID and ZUORA_CLIENT_SECRET; "
            f"{', '.join(missing)} not set"
        )
    rest_url = (settings.zuora_rest_url or "").strip().rstrip("/")
    problem = url_problem(rest_url)
    if problem is not None:
        raise ConfigError(f"ZUORA_REST_URL: {describe_source(rest_url)}: {problem}")
    return ZuoraSource(rest_url, settings.zuora_client_id or "", settings.zuora_client_secret or "")


def _database_source(kind: ImportKind, value: str, query: str | None) -> DatabaseSource:
    name = setting_name(kind)
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"{name} ({kind.value}): not a database URL SQLAlchemy can read (give an https "
            "URL, a database URL such as postgresql://… or sqlite:///…, or a file path)"
        ) from None
    described = describe_database(value)
    backend = url.get_backend_name()
    if backend not in READ_BACKENDS:
        try:
            url.get_dialect()
        except NoSuchModuleError:
            raise ConfigError(
                f"{name} ({kind.value}): {described}: SQLAlchemy has no {backend} dialect "
                "installed (install the package that provides it)"
            ) from None
        raise ConfigError(
            f"{name} ({kind.value}): {described}: only PostgreSQL and SQLite databases are "
            f"read so far (read-only and a statement timeout are set per dialect, and "
            f"{backend}'s are not written yet)"
        )
    if kind in NEEDS_QUERY and query is None:
        raise ConfigError(
            f"{name} ({kind.value}): a database source of {kind.value} needs "
            f"{query_setting_name(kind)}: the source systems have no {kind.value} table to "
            "read by default"
        )
    return DatabaseSource(value, query)


def configured_sources(settings: Settings) -> dict[ImportKind, Source]:
    """The kinds with a SYNC_<KIND> setting, in SYNC_ORDER. A SYNC_<KIND>_QUERY without its
    SYNC_<KIND> is refused too: a query with nowhere to run is a mistake."""
    sources: dict[ImportKind, Source] = {}
    for kind in sync_state.SYNC_ORDER:
        raw, authorization = settings.sync_source(kind.value)
        if raw is not None:
            sources[kind] = parse_source(kind, raw, authorization, settings)
        elif settings.sync_query(kind.value) is not None:
            raise ConfigError(
                f"{query_setting_name(kind)} is set, but {setting_name(kind)} is not: set it "
                "to the database URL the query reads"
            )
    return sources


@dataclass(frozen=True)
class KindResult:
    kind: ImportKind
    succeeded: bool
    # One line for the operator: what was loaded, or which source failed and why.
    line: str
    # The import's warnings (an unknown column, …): imported all the same.
    warnings: tuple[str, ...] = ()
    # Set when this result changed the kind's state (sync_state said so as it recorded it).
    alert: SyncAlert | None = None


@dataclass(frozen=True)
class SyncRun:
    # False: another sync holds the lease; nothing was attempted.
    leased: bool
    results: tuple[KindResult, ...] = ()
    # The lease was lost between kinds (it expired and another sync took it): the rest were
    # not attempted.
    stopped_before: ImportKind | None = None

    @property
    def succeeded(self) -> bool:
        return (
            self.leased
            and self.stopped_before is None
            and all(result.succeeded for result in self.results)
        )


def lease_holder() -> str:
    """host:process space:pid:random, the host clipped to fit the lease's column (the random
    part keeps it unique). The process space says which pids the pid is one of, so that
    holder_is_gone can tell a killed sync on this machine."""
    tail = f":{process_space()}:{os.getpid()}:{secrets.token_hex(4)}"
    return socket.gethostname()[: sync_state.HOLDER_WIDTH - len(tail)] + tail


def process_space() -> str:
    """This boot's id and this pid namespace's (Linux): two processes with the same value see
    the same pids. Empty where unknown (another OS): then no holder is ever taken for gone."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return ""
    return f"{boot[:12]}.{namespace}"


def holder_is_gone(holder: str) -> bool:
    """True when `holder` (lease_holder()'s) was a process this one can see that no longer
    runs: same host and process space, and its pid is free or is this process's own (a
    restarted container's first process gets the pid its previous life had), or the same host
    and pid namespace since rebooted. A holder elsewhere, in another container sharing the
    hostname, or unreadable, is not known to be gone: its lease is left to expire."""
    try:
        host, space, pid_text, _ = holder.rsplit(":", 3)
        pid = int(pid_text)
    except ValueError:
        return False
    here = process_space()
    # lease_holder() clips a long hostname: this machine's name starts with what was kept.
    if not host or not here or not socket.gethostname().startswith(host) or pid <= 0:
        return False
    boot, _, namespace = space.partition(".")
    this_boot, _, this_namespace = here.partition(".")
    if namespace != this_namespace:
        return False
    if boot != this_boot or pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: another user's live process
        return False
    return False


def run_sync(
    session_factory: sessionmaker[Session],
    sources: dict[ImportKind, Source],
    settings: Settings,
    *,
    on_result: Callable[[KindResult], None] = lambda _result: None,
    holder: str | None = None,
    allow_mass_delete: frozenset[ImportKind] = frozenset(),
) -> SyncRun:
    """Sync each of `sources` (in SYNC_ORDER) under the lease; released at the end whatever
    happened. `allow_mass_delete`: the kinds whose full import may delete more than the
    import's guard allows unasked, this run only."""
    holder = holder or lease_holder()
    if not sync_state.acquire_lease(session_factory, holder, now=_now(), ttl=LEASE_TTL):
        with session_scope(session_factory) as session:
            held = sync_state.current_lease(session)
        # A sync killed on this machine need not block the next for the lease's hour.
        if (
            held is None
            or not holder_is_gone(held.holder)
            or not sync_state.acquire_lease(
                session_factory, holder, now=_now(), ttl=LEASE_TTL, replacing=held.holder
            )
        ):
            return SyncRun(leased=False)
    results: list[KindResult] = []
    try:
        for index, (kind, source) in enumerate(sources.items()):
            if index:
                try:
                    renewed = sync_state.renew_lease(
                        session_factory, holder, now=_now(), ttl=LEASE_TTL
                    )
                except SQLAlchemyError as error:
                    # The store is away: this kind fails saying so, and the next one is tried
                    # (and renews) in case it is back.
                    result = _store_failed(kind, error)
                    on_result(result)
                    results.append(result)
                    continue
                if not renewed:
                    return SyncRun(leased=True, results=tuple(results), stopped_before=kind)
            result = sync_kind(
                session_factory,
                kind,
                source,
                settings,
                allow_mass_delete=kind in allow_mass_delete,
            )
            on_result(result)
            results.append(result)
    finally:
        # A store that is away cannot take the lease back: it expires by itself (LEASE_TTL).
        with contextlib.suppress(SQLAlchemyError):
            sync_state.release_lease(session_factory, holder)
    return SyncRun(leased=True, results=tuple(results))


def sync_kind(
    session_factory: sessionmaker[Session],
    kind: ImportKind,
    source: Source,
    settings: Settings,
    *,
    allow_mass_delete: bool = False,
) -> KindResult:
    """One kind: attempt recorded, fetched or read, imported, success or failure recorded.

    Whatever goes wrong ends in a KindResult, never an exception: the source's and the import's
    failures as they say them, anything else (the store going away mid-import, a bug) as its
    type and first line; recorded as a failure when the store allows."""
    described = source.describe()
    started = time.monotonic()
    try:
        with session_scope(session_factory) as session:
            sync_state.record_attempt(session, kind, described, at=_now())
            # Read after the attempt: a changed source has just dropped the old one's validators.
            stored = sync_state.validators_for(session, kind)
            last_full = sync_state.last_full_import_at(session, kind)
    except SQLAlchemyError as error:
        return _store_failed(kind, error)
    plan = _plan(kind, source, stored, last_full)
    try:
        with tempfile.TemporaryDirectory(prefix="bot-sync-") as directory:
            loaded = _load(
                session_factory,
                kind,
                source,
                stored,
                settings,
                Path(directory),
                plan=plan,
                allow_mass_delete=allow_mass_delete,
            )
    except MassDeleteRefused as error:
        reason = _held_back(kind, described, error)
        return _failed(session_factory, kind, reason, f"{kind.value}: held back, {KEPT}: {reason}")
    except (SourceError, ImportFailed, OSError) as error:
        reason = _reason(error, described)
        return _failed(session_factory, kind, reason, f"{kind.value}: failed, {KEPT}: {reason}")
    except Exception as error:
        # Not a source's or an import's failure: the store went away mid-import (the import's
        # transaction rolled back with it), or a bug. One line all the same, and the type:
        # the traceback is for LOG_LEVEL=DEBUG.
        logger.debug("sync of %s failed unexpectedly", kind.value, exc_info=True)
        reason = _reason(_scrubbed(error, source), described)
        if isinstance(error, SQLAlchemyError):
            reason = f"{described}: the store failed: {store_failure_advice(error)}"
        return _failed(session_factory, kind, reason, f"{kind.value}: failed, {KEPT}: {reason}")
    rows, validators, warnings = loaded
    duration = timedelta(seconds=time.monotonic() - started)
    try:
        with session_scope(session_factory) as session:
            recovered = sync_state.record_success(
                session, kind, at=_now(), rows=rows or 0, duration=duration, validators=validators
            )
    except SQLAlchemyError as error:
        # Imported, but not recorded: the next sync reads it again (no validators kept).
        return _store_failed(kind, error)
    if rows is None:
        line = f"{kind.value}: unchanged at {described} (304), nothing imported"
    else:
        line = (
            f"{kind.value}: {rows:,} rows from {described}{plan.words} "
            f"in {duration.total_seconds():.1f}s"
        )
    return KindResult(kind, True, line, warnings, alert="recovered" if recovered else None)


KEPT = "its last good data is kept"


@dataclass(frozen=True)
class _Plan:
    """How a kind is read this run."""

    # The import deletes what the source no longer has.
    full: bool
    # A database source's watermark to read from (None: every row).
    since: str | None = None
    # Said after the source in the success line.
    words: str = ""


def _plan(
    kind: ImportKind,
    source: Source,
    stored: sync_state.Validators,
    last_full: datetime | None,
) -> _Plan:
    """Full or incremental. A file, a URL, Zuora and a database query without a watermark are
    full sources: what they lack is gone from the source. Hosts never are: the store keeps each
    instance's newest ping across imports (docs/import-formats.md), an export of pings is often
    a window of the recent ones, and an instance that stopped pinging keeps its last ping
    ("last ping 40 days ago" is worth knowing) rather than vanishing from its license's card.

    An incremental database source reads from its watermark, except for a full pass (every
    row, deletions seen) when it has none yet or its kind's last full import is older than
    FULL_PASS_EVERY."""
    full = kind is not ImportKind.HOSTS
    if not isinstance(source, DatabaseSource) or not reads_incrementally(kind, source.query):
        return _Plan(full=full)
    due = last_full is None or _now() - last_full >= FULL_PASS_EVERY
    if stored.watermark is None or due:
        return _Plan(full=full, words=" (a full pass)")
    return _Plan(
        full=False,
        since=stored.watermark,
        words=f" (changed since {stored.watermark})",
    )


def _failed(
    session_factory: sessionmaker[Session], kind: ImportKind, reason: str, line: str
) -> KindResult:
    """The failure recorded (when the store allows: if it is what failed, the line says so).
    Its alert when it is the kind's first since a success; a failure the store could not record
    alerts nothing (the next run that can record it will)."""
    started_failing = False
    try:
        with session_scope(session_factory) as session:
            started_failing = sync_state.record_failure(session, kind, at=_now(), error=reason)
    except SQLAlchemyError:
        line += " (not recorded: the store is unavailable)"
    return KindResult(kind, False, line, alert="started_failing" if started_failing else None)


def _store_failed(kind: ImportKind, error: SQLAlchemyError) -> KindResult:
    """The store failed before or after the kind's import: nothing to record it in."""
    advice = store_failure_advice(error)
    return KindResult(kind, False, f"{kind.value}: failed, {KEPT}: the store failed: {advice}")


def _held_back(kind: ImportKind, described: str, refused: MassDeleteRefused) -> str:
    """The guard's refusal in the sync's words: which kind, and the command that approves it."""
    share = round(100 * refused.deleting / max(refused.rows_before, 1))
    return (
        f"{described} no longer has {refused.deleting:,} of the {refused.rows_before:,} "
        f"{kind.value} in the store ({share}%), more than a sync deletes unasked; nothing was "
        f"changed. If the source is right, approve one run with: "
        f"python -m bot sync --allow-mass-delete {kind.value}"
    )


def _scrubbed(error: Exception, source: Source) -> Exception:
    """An unexpected error's words without the source's credentials (they may quote them)."""
    secrets = [
        getattr(source, "authorization", None),
        getattr(source, "client_secret", None),
    ]
    if isinstance(source, DatabaseSource):
        with contextlib.suppress(ArgumentError, ValueError):
            secrets.append(make_url(source.url).password)
    words = f"unexpected {type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        words = words.replace(str(secret), "***")
    return RuntimeError(words)


def _load(
    session_factory: sessionmaker[Session],
    kind: ImportKind,
    source: Source,
    stored: sync_state.Validators,
    settings: Settings,
    directory: Path,
    *,
    plan: _Plan,
    allow_mass_delete: bool,
) -> tuple[int | None, sync_state.Validators, tuple[str, ...]]:
    """Rows imported (None after a 304: nothing was), the validators to keep and the import's
    warnings."""
    source_time: datetime | None
    if isinstance(source, FileSource):
        path = source.path
        validators = sync_state.Validators()
        source_time = _modified_at(path)
    elif isinstance(source, DatabaseSource):
        exported = export_query(
            source.url,
            kind,
            destination_dir=directory,
            statement_timeout_seconds=settings.sync_query_timeout_seconds,
            query=source.query,
            since=plan.since,
        )
        path = exported.path.rename(directory / f"{kind.value}.csv")
        # An incremental read that found no changed row keeps the watermark it read from.
        validators = sync_state.Validators(watermark=exported.watermark or plan.since)
        source_time = exported.queried_at
    elif isinstance(source, ZuoraSource):
        zuora = export_subscriptions(
            source.rest_url,
            source.client_id,
            source.client_secret,
            destination_dir=directory,
            max_bytes=settings.sync_max_bytes,
            timeout_seconds=settings.sync_timeout_seconds,
        )
        path = zuora.path.rename(directory / f"{kind.value}.csv")
        # Each job writes a new result file: nothing to be conditional on next time.
        validators = sync_state.Validators()
        source_time = zuora.queried_at
    else:
        fetched = fetch_export(
            source.url,
            destination_dir=directory,
            max_bytes=settings.sync_max_bytes,
            timeout_seconds=settings.sync_timeout_seconds,
            authorization=source.authorization,
            validators=Validators(etag=stored.etag, last_modified=stored.last_modified),
        )
        if not isinstance(fetched, Fetched):
            # 304: "a 304 costs nothing and counts as success"; the validators sent stay.
            return None, stored, ()
        path = _named_after(fetched.path, source.url, kind)
        validators = sync_state.Validators(
            etag=fetched.validators.etag, last_modified=fetched.validators.last_modified
        )
        # Last-Modified when the server sends one; otherwise the import's finish is all we know.
        source_time = fetched.validators.last_modified_at
    summary = import_file(
        session_factory,
        kind,
        path,
        full=plan.full,
        allow_mass_delete=allow_mass_delete,
        public_email_domains=settings.public_email_domains,
        source_time=source_time,
    )
    return summary.rows, validators, summary.warnings


def _modified_at(path: Path) -> datetime | None:
    """The file's own time, when whatever wrote it last did; None when it cannot be read (the
    import then says why in its own words)."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return None


def _named_after(fetched: Path, url: str, kind: ImportKind) -> Path:
    """The fetched file renamed after the URL's last path segment (without a `.gz`): the
    import's record names it, and a `.jsonl` name tells the reader its format."""
    name = Path(urlsplit(url).path).name.removesuffix(".gz") or f"{kind.value}.csv"
    target = fetched.with_name(name if name not in {".", ".."} else f"{kind.value}.csv")
    return fetched.rename(target)


def _reason(error: Exception, described: str) -> str:
    """One line: a SourceError already names the source; the others get it in front."""
    if isinstance(error, SourceError):
        text = str(error)
    elif isinstance(error, ImportFailed):
        text = f"{described}: import failed, the store is unchanged: {error}"
    elif isinstance(error, OSError) and error.strerror:
        text = f"{described}: {error.strerror}"
    else:
        text = f"{described}: {error}"
    return " ".join(text.split())


def _now() -> datetime:
    return datetime.now(UTC)
