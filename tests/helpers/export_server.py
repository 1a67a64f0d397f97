"""A loopback HTTP server serving export files as an object store does: by path, with ETags
(a matching If-None-Match is answered 304) and, when given, Last-Modified; recording each
request's headers. An export can also misbehave as real servers do: fail its first requests,
redirect, declare more bytes than it sends, send gzip, stall halfway."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Export:
    body: bytes = b""
    etag: str = '"v1"'
    # A status other than 200 answers every request to the path with it.
    status: int = 200
    last_modified: str | None = None
    content_type: str = "text/csv"
    # `Content-Encoding: gzip` (the body given already compressed).
    gzipped: bool = False
    # Answer this many requests with a 500 first.
    failures_first: int = 0
    # A 302 to this URL instead of the body.
    redirect_to: str | None = None
    # Content-Length says this many bytes more than are sent: a body cut short.
    missing_bytes: int = 0
    # Send the first half of the body, then the rest only once this is set (or after a
    # minute): a fetch held halfway, for a second sync to meet or a sync to kill.
    held_until: threading.Event | None = None


@dataclass
class ExportServer:
    """Serves `exports` by path (query strings ignored) and records each request's headers."""

    exports: dict[str, Export] = field(default_factory=dict)
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.seen.append((path, headers))
                export = server.exports.get(path, Export(status=404))
                if export.failures_first > 0:
                    export.failures_first -= 1
                    self._answer(500, b"busy", {})
                elif export.status != 200:
                    self._answer(export.status, b"no", {})
                elif export.redirect_to is not None:
                    self._answer(302, b"", {"Location": export.redirect_to})
                elif headers.get("if-none-match") == export.etag:
                    self._answer(304, b"", {"ETag": export.etag})
                else:
                    self._answer(200, export.body, _headers(export), export)

            def _answer(
                self,
                status: int,
                body: bytes,
                headers: dict[str, str],
                export: Export | None = None,
            ) -> None:
                missing = export.missing_bytes if export else 0
                self.send_response(status)
                length = str(len(body) + missing)
                for name, value in {**headers, "Content-Length": length}.items():
                    self.send_header(name, value)
                self.send_header("Connection", "close")
                self.end_headers()
                if export is not None and export.held_until is not None:
                    half = len(body) // 2
                    self.wfile.write(body[:half])
                    self.wfile.flush()
                    export.held_until.wait(timeout=60)
                    body = body[half:]
                self.wfile.write(body)
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"

    def requests_to(self, path: str) -> list[dict[str, str]]:
        return [headers for seen_path, headers in self.seen if seen_path == path]

    def __enter__(self) -> ExportServer:
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _headers(export: Export) -> dict[str, str]:
    headers = {"ETag": export.etag, "Content-Type": export.content_type}
    if export.last_modified:
        headers["Last-Modified"] = export.last_modified
    if export.gzipped:
        headers["Content-Encoding"] = "gzip"
    return headers
