"""One export fetched over HTTPS into a temporary file: issue 21's "HTTPS URL" source.

`fetch_export` streams the body into a file in the caller's directory (never whole in memory),
decompressing gzip on the way (declared by `Content-Encoding`, or recognised by its magic bytes
for a `.gz` object served without one) and failing as soon as the decompressed size passes the
cap. It sends the ETag and Last-Modified of the last good load as a conditional GET; a 304 is
`NotModified`, a 200 is `Fetched` with the file and the new validators, which the caller keeps
only after its import succeeded (this module stores nothing).

Bounded retries: connection errors, timeouts, a body cut short, 5xx and 429 are tried again with
exponential backoff, at most `max_tries` times within `budget_seconds`; `Retry-After` is honoured
when the wait fits what is left of the budget, otherwise the fetch gives up at once and says so.
Any other answer fails at once.

Only https is fetched, and redirects are followed only to https; plain http is allowed to a
loopback address alone (the tests' server, a sidecar), and a redirect from loopback http may go
to loopback http but nowhere else over http.

Every failure is one `SourceError` whose message names the source as `describe_source` shows it
(a URL's userinfo and a signed URL's query string masked) and never holds the Authorization
value.
"""

from __future__ import annotations

import email.utils
import ipaddress
import os
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

DEFAULT_MAX_TRIES = 3
DEFAULT_BUDGET_SECONDS = 30.0
# The first retry waits this long, each next one twice as long as the one before (1, 2, 4 s).
FIRST_BACKOFF_SECONDS = 1.0
MAX_REDIRECTS = 5
# Read and decompress in pieces of this size: memory stays bounded whatever the export's size.
CHUNK_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
# How much of the file's start is read to tell an HTML page from an export.
_SNIFF_BYTES = 4096
_HTML_STARTS = (b"<!doctype html", b"<html")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_GZIP_ENCODINGS = frozenset({"gzip", "x-gzip"})
_IDENTITY_ENCODINGS = frozenset({"", "identity"})
_MASK = "***"
_USER_AGENT = "customersdot-for-slack sync"


class SourceError(Exception):
    """A source could not be fetched. The message says which source (credentials masked) and
    why, in words an operator acts on."""


@dataclass(frozen=True)
class Validators:
    """The ETag and Last-Modified of a load, as the server sent them (echoed back verbatim)."""

    etag: str | None = None
    last_modified: str | None = None

    def request_headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers

    @property
    def last_modified_at(self) -> datetime | None:
        """Last-Modified as a time (the source's own age of the data), None when absent or
        unreadable."""
        return _http_date(self.last_modified) if self.last_modified else None


@dataclass(frozen=True)
class Fetched:
    """200: the export is in `path` (the caller imports it, then deletes it)."""

    path: Path
    size: int  # bytes written, after decompression
    validators: Validators


@dataclass(frozen=True)
class NotModified:
    """304: the export is unchanged since the load the validators came from; nothing written."""


FetchResult = Fetched | NotModified


class _Transient(Exception):
    """A failed try worth another: `reason` in words, and the server's Retry-After if any."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def describe_source(url: str) -> str:
    """The URL as errors and status lines may show it: userinfo (a password, or a token in the
    user's place) and the query string (a signed URL's signature) masked, the fragment dropped."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (reading it validates it: a malformed port raises)
    except ValueError:
        return "an unreadable URL"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{_MASK}@{netloc.rpartition('@')[2]}"
    return urlunsplit((parts.scheme, netloc, parts.path, "…" if parts.query else "", ""))


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str) -> str | None:
    """Why the URL is not fetched, or None: https anywhere, plain http to loopback only."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the URL cannot be read"
    scheme = parts.scheme.lower()
    if not parts.hostname:
        return "the URL has no host"
    if scheme == "https":
        return None
    if scheme == "http":
        if is_loopback_host(parts.hostname):
            return None
        return "plain http:// is refused except to a loopback address; use https://"
    return f"only https:// URLs are fetched, not {scheme or 'a URL without a scheme'}"


def redirect_problem(current: str, target: str) -> str | None:
    """Why a redirect from `current` to `target` is not followed, or None. To https always; to
    loopback http only from loopback http (an https source never steps down to http)."""
    problem = url_problem(target)
    stepping_down = urlsplit(target).scheme.lower() == "http" != urlsplit(current).scheme.lower()
    if problem is None and stepping_down:
        problem = "a redirect from https to http is refused"
    if problem is None:
        return None
    return f"redirected to {describe_source(target)}, which is not followed: {problem}"


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from `now`; None when absent
    or unreadable (then the usual backoff applies)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = _http_date(value)
    if when is None:
        return None
    return max(0.0, (when - now).total_seconds())


def fetch_export(
    url: str,
    *,
    destination_dir: Path,
    max_bytes: int,
    timeout_seconds: float,
    authorization: str | None = None,
    validators: Validators | None = None,
    max_tries: int = DEFAULT_MAX_TRIES,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> FetchResult:
    """Fetch the export at `url` into a new file in `destination_dir`; SourceError if it cannot.

    `timeout_seconds` bounds each connect and each read; `budget_seconds` bounds the retries
    (a wait that would pass it is not taken). On failure no file is left behind.
    """
    if max_tries < 1 or max_bytes < 1:
        raise ValueError("max_tries and max_bytes must be at least 1")
    source = describe_source(url)
    problem = url_problem(url)
    if problem is not None:
        raise SourceError(f"{source}: {problem}")
    if authorization and "@" in urlsplit(url).netloc:
        # httpx would send the URL's userinfo as Basic auth in place of the header: say so
        # rather than pick one silently.
        raise SourceError(f"{source}: the URL carries credentials and an Authorization is set too")
    fetch = _Fetch(
        url=url,
        source=source,
        destination_dir=destination_dir,
        max_bytes=max_bytes,
        timeout_seconds=timeout_seconds,
        authorization=authorization,
        validators=validators or Validators(),
    )
    started = clock()
    with httpx.Client(
        transport=transport, timeout=httpx.Timeout(timeout_seconds), follow_redirects=False
    ) as http:
        tries = 0
        while True:
            tries += 1
            try:
                return fetch.attempt(http)
            except _Transient as failed:
                wait = _next_wait(failed, tries)
                remaining = budget_seconds - (clock() - started)
                if tries >= max_tries:
                    raise SourceError(
                        f"{source}: gave up after {tries} {'try' if tries == 1 else 'tries'}:"
                        f" {failed.reason}"
                    ) from None
                if wait > remaining:
                    raise SourceError(
                        f"{source}: {failed.reason}; not retried: waiting {wait:g} s"
                        f"{' as Retry-After asks' if failed.retry_after is not None else ''}"
                        f" would pass the retry budget of {budget_seconds:g} s"
                    ) from None
                sleep(wait)


def _next_wait(failed: _Transient, tries: int) -> float:
    if failed.retry_after is not None:
        return failed.retry_after
    return float(FIRST_BACKOFF_SECONDS * 2 ** (tries - 1))


@dataclass(frozen=True)
class _Fetch:
    """One fetch's settings; `attempt` is one try of it."""

    url: str
    source: str
    destination_dir: Path
    max_bytes: int
    timeout_seconds: float
    authorization: str | None
    validators: Validators

    def attempt(self, http: httpx.Client) -> FetchResult:
        try:
            with self._final_response(http) as response:
                return self._answer(response)
        except httpx.InvalidURL:
            raise SourceError(f"{self.source}: the URL cannot be fetched") from None
        except httpx.TimeoutException:
            raise _Transient(f"no answer within {self.timeout_seconds:g} s") from None
        except httpx.TransportError as error:
            raise _Transient(f"could not connect ({self._scrubbed(error)})") from None

    @contextmanager
    def _final_response(self, http: httpx.Client) -> Iterator[httpx.Response]:
        """The response after following the redirects that are allowed, streamed."""
        current = self.url
        for _ in range(MAX_REDIRECTS + 1):
            request = http.build_request("GET", current, headers=self._headers_for(current))
            response = http.send(request, stream=True)
            if response.status_code not in _REDIRECT_STATUSES:
                try:
                    yield response
                finally:
                    response.close()
                return
            response.close()
            location = response.headers.get("location")
            if not location:
                raise SourceError(f"{self.source}: a redirect without a Location header")
            target = urljoin(current, location)
            problem = redirect_problem(current, target)
            if problem is not None:
                raise SourceError(f"{self.source}: {problem}")
            current = target
        raise SourceError(f"{self.source}: more than {MAX_REDIRECTS} redirects")

    def _headers_for(self, url: str) -> dict[str, str]:
        headers = {
            "Accept-Encoding": "gzip",
            "User-Agent": _USER_AGENT,
            **self.validators.request_headers(),
        }
        # The credentials go to the source's own origin only, never to where it redirects
        # (a pre-signed object URL on another host needs none and must not see them).
        if self.authorization and _origin(url) == _origin(self.url):
            headers["Authorization"] = self.authorization
        return headers

    def _answer(self, response: httpx.Response) -> FetchResult:
        status = response.status_code
        if status == 304:
            if not self.validators.request_headers():
                raise SourceError(
                    f"{self.source}: answered 304 Not Modified to a request without validators"
                )
            return NotModified()
        if status == 429 or status >= 500:
            retry_after = retry_after_seconds(
                response.headers.get("retry-after"), now=datetime.now(UTC)
            )
            raise _Transient(_status_words(response), retry_after)
        if status != 200:
            raise SourceError(f"{self.source}: {_refusal(response)}")
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in _HTML_TYPES:
            raise SourceError(f"{self.source}: {_HTML_PROBLEM} (Content-Type {content_type})")
        path, size = self._write(response)
        return Fetched(path, size, _validators_of(response))

    def _write(self, response: httpx.Response) -> tuple[Path, int]:
        decoder = _decoder_for(response.headers.get("content-encoding", ""), self.source)
        expected = _content_length(response)
        fd, name = tempfile.mkstemp(prefix="sync-", suffix=".part", dir=self.destination_dir)
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                size = self._copy(response.iter_raw(CHUNK_BYTES), decoder, expected, out)
            if _looks_like_html(path):
                raise SourceError(f"{self.source}: {_HTML_PROBLEM} (the file starts with HTML)")
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path, size

    def _copy(
        self, raw: Iterable[bytes], decoder: _Decoder, expected: int | None, out: BinaryIO
    ) -> int:
        """Bytes written: decoded pieces of `raw`, stopped as soon as they pass the cap."""
        received = written = 0
        try:
            for chunk in raw:
                received += len(chunk)
                for piece in decoder.feed(chunk):
                    written = self._write_capped(piece, written, out)
        except httpx.TimeoutException:
            raise _Transient(
                f"the body stopped after {received} bytes (no data for {self.timeout_seconds:g} s)"
            ) from None
        except httpx.TransportError:
            # The transport may hold back the last bytes it read when it fails: `received`
            # is a floor, so the line does not claim a count.
            raise _Transient(_cut_short(None, expected)) from None
        # httpx's HTTP/1.1 parser already fails on a connection closed early; this holds
        # whatever the transport.
        if expected is not None and received < expected:
            raise _Transient(_cut_short(received, expected))
        for piece in decoder.finish():
            written = self._write_capped(piece, written, out)
        return written

    def _write_capped(self, piece: bytes, written: int, out: BinaryIO) -> int:
        written += len(piece)
        if written > self.max_bytes:
            raise SourceError(
                f"{self.source}: the export is larger than the size cap of {self.max_bytes}"
                " bytes (after decompression)"
            )
        out.write(piece)
        return written

    def _scrubbed(self, error: Exception) -> str:
        """An httpx error in words with every secret this fetch knows replaced."""
        text = f"{type(error).__name__}: {error}"
        parts = urlsplit(self.url)
        secrets = [self.url, self.authorization, parts.password, parts.username, parts.query]
        for secret in sorted(filter(None, secrets), key=len, reverse=True):
            text = text.replace(secret, _MASK)
        return text


_HTML_PROBLEM = "an HTML page, not an export (a login page? check the URL and the Authorization)"


class _Decoder:
    """The body's bytes as the export's: gzip decompressed when declared or when the body starts
    with gzip's magic bytes (a `.gz` object served without Content-Encoding)."""

    def __init__(self, *, gzip: bool | None, source: str) -> None:
        # None: not known until the first two bytes are in.
        self._gzip = gzip
        self._head = b""
        self._gunzip = _Gunzip(source)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._gzip is None:
            self._head += data
            if len(self._head) < len(GZIP_MAGIC):
                return
            data, self._head = self._head, b""
            self._gzip = data.startswith(GZIP_MAGIC)
        if self._gzip:
            yield from self._gunzip.feed(data)
        elif data:
            yield data

    def finish(self) -> Iterator[bytes]:
        if self._gzip is None:  # a body shorter than the magic
            if self._head:
                yield self._head
        elif self._gzip:
            yield from self._gunzip.finish()


class _Gunzip:
    """Streaming gzip: output in bounded pieces (a gzip bomb never sits whole in memory),
    concatenated members as gzip allows, and a stream that ends early noticed (httpx's own
    decoder does not check that it reached the end)."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._member = zlib.decompressobj(zlib.MAX_WBITS | 16)

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            while data:
                piece = self._member.decompress(data, CHUNK_BYTES)
                if piece:
                    yield piece
                if self._member.eof:
                    data = self._member.unused_data
                    if data:
                        self._member = zlib.decompressobj(zlib.MAX_WBITS | 16)
                else:
                    data = self._member.unconsumed_tail
        except zlib.error:
            raise SourceError(f"{self._source}: the gzip data is corrupt") from None

    def finish(self) -> Iterator[bytes]:
        try:
            rest = self._member.flush()
        except zlib.error:
            raise SourceError(f"{self._source}: the gzip data is corrupt") from None
        if rest:
            yield rest
        if not self._member.eof:
            raise SourceError(f"{self._source}: the gzip stream ends early (the file is cut short)")


def _decoder_for(content_encoding: str, source: str) -> _Decoder:
    encoding = content_encoding.strip().lower()
    if encoding in _GZIP_ENCODINGS:
        return _Decoder(gzip=True, source=source)
    if encoding in _IDENTITY_ENCODINGS:
        return _Decoder(gzip=None, source=source)
    raise SourceError(f"{source}: the server sent Content-Encoding {encoding}; only gzip is read")


def _looks_like_html(path: Path) -> bool:
    with path.open("rb") as file:
        start = file.read(_SNIFF_BYTES)
    start = start.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return start.startswith(_HTML_STARTS)


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    return int(value) if value is not None and value.strip().isdigit() else None


def _cut_short(received: int | None, expected: int | None) -> str:
    """`received` None: not known exactly."""
    if received is None:
        declared = "" if expected is None else f" (it declared {expected} bytes)"
        return f"the body was cut short: the connection closed before its end{declared}"
    if expected is None:
        return f"the body was cut short: the connection closed after {received} bytes"
    return f"the body was cut short: {received} of {expected} bytes arrived"


def _status_words(response: httpx.Response) -> str:
    return f"HTTP {response.status_code} {response.reason_phrase}".rstrip()


def _refusal(response: httpx.Response) -> str:
    words = _status_words(response)
    if response.status_code in (401, 403):
        return (
            f"access refused ({words}): check the Authorization value, or that a signed URL"
            " has not expired"
        )
    if response.status_code in (404, 410):
        return f"no export at that address ({words}): check the URL"
    return f"unexpected answer ({words})"


def _validators_of(response: httpx.Response) -> Validators:
    return Validators(
        etag=response.headers.get("etag"), last_modified=response.headers.get("last-modified")
    )


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.hostname, parts.port


def _http_date(value: str) -> datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
