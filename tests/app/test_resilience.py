"""When the store breaks: PostgreSQL cut off mid-run, a locked table, and recovery.

A small loopback TCP proxy sits between the app and PostgreSQL, so "killing PostgreSQL" is
deterministic: `cut()` drops every open connection and refuses new ones, `restore()` forwards
again. The app is never restarted between the steps.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.app import SlackWsgiApp, create_app
from bot.config import Settings
from bot.services import build_services
from bot.store.db import create_store_engine, make_session_factory
from tests.helpers.e2e_dataset import INITECH_EMAIL, load_dataset
from tests.helpers.postgres import fresh_postgres_database
from tests.helpers.slack_requests import WsgiResponse, post_to_wsgi, slash_command_body

SECRET = "resilience-signing-secret"
SLACK_DEADLINE_SECONDS = 3.0
UNAVAILABLE = "license store is unavailable"
pytestmark = pytest.mark.postgres


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; can cut every connection and refuse new ones."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._cut = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _close(sock)

    def restore(self) -> None:
        self._cut.clear()

    def stop(self) -> None:
        self._stopped.set()
        self.cut()
        self._thread.join(timeout=5)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            if self._cut.is_set():
                _close(client)  # the server is "down": the connection dies at once
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=2)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update({client, upstream})
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@dataclass
class Deployment:
    wsgi: SlackWsgiApp
    proxy: TcpProxy
    direct_url: str

    def license(self, query: str = "initech") -> tuple[WsgiResponse, float]:
        started = time.monotonic()
        body = slash_command_body("/license", query, user_id="UALLOWED")
        response = post_to_wsgi(self.wsgi, body, SECRET)
        return response, time.monotonic() - started

    def probe(self, path: str) -> int:
        statuses: list[int] = []
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path}
        b"".join(self.wsgi(environ, lambda status, _h: statuses.append(int(status[:3]))))
        return statuses[0]


@pytest.fixture
def deployment(slack_standin, tmp_path: Path) -> Iterator[Deployment]:
    with fresh_postgres_database("resilience") as direct_url:
        if direct_url is None:
            pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL (scripts/start-postgres.sh)")
        engine = create_store_engine(direct_url)
        load_dataset(make_session_factory(engine), tmp_path, datetime.now(UTC).date())
        engine.dispose()
        url = make_url(direct_url)
        proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
        proxied_url = url.set(host="127.0.0.1", port=proxy.port)
        slack_standin.add_user("UALLOWED", email="ae@sales.example")
        settings = Settings(
            slack_bot_token="xoxb-test",
            slack_signing_secret=SECRET,
            slack_api_url=slack_standin.api_url,
            database_url=proxied_url.render_as_string(hide_password=False),
            allowed_user_ids=frozenset({"UALLOWED"}),
            database_statement_timeout_ms=500,
        )
        services = build_services(settings)
        try:
            yield Deployment(
                SlackWsgiApp(create_app(settings, services=services), services), proxy, direct_url
            )
        finally:
            services.engine.dispose()
            proxy.stop()


def test_store_killed_mid_run_then_back(deployment):
    answered, _ = deployment.license()
    assert INITECH_EMAIL in answered.text
    assert deployment.probe("/readyz") == 200

    deployment.proxy.cut()
    for _ in range(3):  # the worker keeps serving, every time
        response, elapsed = deployment.license()
        assert response.status == 200
        assert UNAVAILABLE in response.text
        assert INITECH_EMAIL not in response.text
        assert elapsed < SLACK_DEADLINE_SECONDS
    assert deployment.probe("/readyz") == 503
    assert deployment.probe("/healthz") == 200  # alive: the load balancer must not restart it

    deployment.proxy.restore()
    recovered, _ = deployment.license()
    assert INITECH_EMAIL in recovered.text
    assert deployment.probe("/readyz") == 200


def test_a_query_blocked_by_a_lock_fails_fast_with_the_notice(deployment):
    assert INITECH_EMAIL in deployment.license()[0].text
    locker = create_store_engine(deployment.direct_url)
    try:
        with locker.connect() as connection:
            transaction = connection.begin()
            connection.execute(text("LOCK TABLE customer, license IN ACCESS EXCLUSIVE MODE"))
            # A query not asked before: Initech's answer is kept (bot/answers/answer_cache.py)
            # and needs neither table, this one must read them.
            response, elapsed = deployment.license("globex")
            assert UNAVAILABLE in response.text
            assert elapsed < SLACK_DEADLINE_SECONDS
            # The kept answer is given all the same: the claim and audit row are not locked.
            assert INITECH_EMAIL in deployment.license()[0].text
            transaction.rollback()
        assert "Globex" in deployment.license("globex")[0].text
    finally:
        locker.dispose()


def test_every_serving_query_carries_the_statement_timeout(deployment):
    with deployment.wsgi._services.engine.connect() as connection:
        assert connection.execute(text("SHOW statement_timeout")).scalar() == "500ms"
        started = time.monotonic()
        with pytest.raises(Exception, match="statement timeout"):
            connection.execute(text("SELECT pg_sleep(5)"))
        assert time.monotonic() - started < SLACK_DEADLINE_SECONDS


def test_the_readiness_log_names_why_the_store_is_unreachable(deployment, caplog):
    deployment.proxy.cut()
    with caplog.at_level("WARNING", logger="bot.app"):
        assert deployment.probe("/readyz") == 503
    (line,) = [r.getMessage() for r in caplog.records if r.name == "bot.app"]
    assert "store unreachable (connection" in line, line
    assert "127.0.0.1" not in line and "postgres" not in line.lower()


def test_an_unmigrated_store_keeps_the_notice_for_users_and_logs_the_cause(slack_standin, caplog):
    with fresh_postgres_database("never_migrated", migrated=False) as url:
        if url is None:
            pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL (scripts/start-postgres.sh)")
        slack_standin.add_user("UALLOWED", email="ae@sales.example")
        settings = Settings(
            slack_bot_token="xoxb-test",
            slack_signing_secret=SECRET,
            slack_api_url=slack_standin.api_url,
            database_url=url,
            allowed_user_ids=frozenset({"UALLOWED"}),
        )
        services = build_services(settings)
        wsgi = SlackWsgiApp(create_app(settings, services=services), services)
        try:
            with caplog.at_level("WARNING"):
                body = slash_command_body("/license", "initech", user_id="UALLOWED")
                response = post_to_wsgi(wsgi, body, SECRET)
                probe = Deployment(wsgi, None, url).probe("/readyz")  # type: ignore[arg-type]
        finally:
            services.engine.dispose()
    assert response.status == 200 and UNAVAILABLE in response.text
    assert "db upgrade" not in response.text  # operator instructions are not the user's
    assert probe == 503
    logged = [r.getMessage() for r in caplog.records]
    assert any("store not migrated" in line for line in logged if "readiness" not in line), logged
    assert any("-m bot db upgrade" in line for line in logged), logged
