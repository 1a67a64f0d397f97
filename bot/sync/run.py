"""One `python -m bot sync`: each configured kind fetched (a URL) or taken as is (a file path)
and imported, recorded in the store's sync_state, under the sync lease (issue 21).

A kind is one import, all or nothing: a fetch or an import that fails leaves the kind's last
good data and validators, is recorded as a failure with one line naming the source (masked),
and the other kinds still sync. A `304` counts as a success that loaded nothing.
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker

from bot.config import ConfigError, Settings
from bot.store import sync_state
from bot.store.db import session_scope
from bot.store.importing import ImportFailed, ImportKind, import_file
from bot.sync.https_source import (
    Fetched,
    SourceError,
    Validators,
    describe_source,
    fetch_export,
    url_problem,
)

UNSUPPORTED_SOURCE = "database and Zuora sources are not supported yet"
# Far longer than one kind's fetch and import: the lease is renewed only between kinds (on
# SQLite an import holds the one write lock, so a renewal during it would wait for it), and a
# killed sync's lease blocks the next one for at most this long.
LEASE_TTL = timedelta(hours=1)


@dataclass(frozen=True)
class UrlSource:
    url: str
    authorization: str | None = None

    def describe(self) -> str:
        return describe_source(self.url)


@dataclass(frozen=True)
class FileSource:
    path: Path

    def describe(self) -> str:
        return str(self.path)


Source = UrlSource | FileSource

# A kind's change of state that SYNC_ALERT_CHANNEL hears of (once each, not every run): its
# first failure since a success, and its first success after failures.
SyncAlert = Literal["started_failing", "recovered"]


def setting_name(kind: ImportKind) -> str:
    return f"SYNC_{kind.value.upper()}"


def parse_source(kind: ImportKind, raw: str, authorization: str | None) -> Source:
    """SYNC_<KIND>'s value as a source; ConfigError (naming the setting, never the value: it
    may hold a password) when it is not one this sync reads."""
    value = raw.strip()
    name = setting_name(kind)
    scheme, separator, _ = value.partition("://")
    if value.lower() == "zuora" or (separator and scheme.lower() not in {"http", "https", "file"}):
        raise ConfigError(
            f"{name} ({kind.value}): {UNSUPPORTED_SOURCE}; give an https URL or a file path"
        )
    if separator and scheme.lower() == "file":
        raise ConfigError(f"{name} ({kind.value}): give the file's path, not a file:// URL")
    if separator:
        problem = url_problem(value)
        if problem is not None:
            raise ConfigError(f"{name} ({kind.value}): {describe_source(value)}: {problem}")
        return UrlSource(value, authorization)
    return FileSource(Path(value))


def configured_sources(settings: Settings) -> dict[ImportKind, Source]:
    """The kinds with a SYNC_<KIND> setting, in SYNC_ORDER."""
    sources: dict[ImportKind, Source] = {}
    for kind in sync_state.SYNC_ORDER:
        raw, authorization = settings.sync_source(kind.value)
        if raw is not None:
            sources[kind] = parse_source(kind, raw, authorization)
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
) -> SyncRun:
    """Sync each of `sources` (in SYNC_ORDER) under the lease; released at the end whatever
    happened."""
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
            if index and not sync_state.renew_lease(
                session_factory, holder, now=_now(), ttl=LEASE_TTL
            ):
                return SyncRun(leased=True, results=tuple(results), stopped_before=kind)
            result = sync_kind(session_factory, kind, source, settings)
            on_result(result)
            results.append(result)
    finally:
        sync_state.release_lease(session_factory, holder)
    return SyncRun(leased=True, results=tuple(results))


def sync_kind(
    session_factory: sessionmaker[Session], kind: ImportKind, source: Source, settings: Settings
) -> KindResult:
    """One kind: attempt recorded, fetched or read, imported, success or failure recorded."""
    described = source.describe()
    started = time.monotonic()
    with session_scope(session_factory) as session:
        sync_state.record_attempt(session, kind, described, at=_now())
        # Read after the attempt: a changed source has just dropped the old one's validators.
        stored = sync_state.validators_for(session, kind)
    try:
        with tempfile.TemporaryDirectory(prefix="bot-sync-") as directory:
            loaded = _load(session_factory, kind, source, stored, settings, Path(directory))
    except (SourceError, ImportFailed, OSError) as error:
        reason = _reason(error, described)
        with session_scope(session_factory) as session:
            started_failing = sync_state.record_failure(session, kind, at=_now(), error=reason)
        return KindResult(
            kind,
            False,
            f"{kind.value}: failed, its last good data is kept: {reason}",
            alert="started_failing" if started_failing else None,
        )
    rows, validators, warnings = loaded
    duration = timedelta(seconds=time.monotonic() - started)
    with session_scope(session_factory) as session:
        recovered = sync_state.record_success(
            session, kind, at=_now(), rows=rows or 0, duration=duration, validators=validators
        )
    if rows is None:
        line = f"{kind.value}: unchanged at {described} (304), nothing imported"
    else:
        line = f"{kind.value}: {rows:,} rows from {described} in {duration.total_seconds():.1f}s"
    return KindResult(kind, True, line, warnings, alert="recovered" if recovered else None)


def _load(
    session_factory: sessionmaker[Session],
    kind: ImportKind,
    source: Source,
    stored: sync_state.Validators,
    settings: Settings,
    directory: Path,
) -> tuple[int | None, sync_state.Validators, tuple[str, ...]]:
    """Rows imported (None after a 304: nothing was), the validators to keep and the import's
    warnings."""
    source_time: datetime | None
    if isinstance(source, FileSource):
        path = source.path
        validators = sync_state.Validators()
        source_time = _modified_at(path)
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
