"""A loopback HTTP server serving export files as an object store does: by path, with ETags
(a matching If-None-Match is answered 304) and, when given, Last-Modified; recording each
request's headers."""

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
                if export.status != 200:
                    self._answer(export.status, b"no", {})
                elif headers.get("if-none-match") == export.etag:
                    self._answer(304, b"", {"ETag": export.etag})
                else:
                    dated = {"Last-Modified": export.last_modified} if export.last_modified else {}
                    self._answer(200, export.body, {"ETag": export.etag, **dated})

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.send_header("Connection", "close")
                self.end_headers()
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
