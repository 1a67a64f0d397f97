"""HTTP mode for real: gunicorn with the Procfile's config, two workers, on both engines.

A loopback Slack stand-in answers the Web API; signed requests go over TCP exactly as Slack
sends them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot import ids
from bot.asgi_adapter import BODY_SECONDS
from bot.store.db import create_store_engine, make_session_factory
from bot.store.schema import upgrade
from tests.helpers.e2e_dataset import ALL_CONTACT_EMAILS, INITECH_EMAIL, load_dataset
from tests.helpers.paths import ROOT
from tests.helpers.postgres import ENGINES, fresh_postgres_database
from tests.helpers.processes import free_port, wait_until_healthy
from tests.helpers.slack_requests import (
    block_actions_payload,
    interaction_body,
    post_to_url,
    signed_headers,
    slash_command_body,
)
from tests.helpers.slack_standin import SlackStandIn
from tests.helpers.slow_clients import slow_client

SECRET = "gunicorn-signing-secret"
pytestmark = pytest.mark.slow


@dataclass
class Server:
    url: str
    slack: SlackStandIn
    # auth.test calls the stand-in had seen when the first worker answered /healthz.
    auth_tests_during_boot: int = 0

    @property
    def events_url(self) -> str:
        return f"{self.url}/slack/events"


@pytest.fixture(scope="module", params=ENGINES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp(f"gunicorn-{request.param}")
    with _database(request.param, workdir) as database_url, SlackStandIn() as slack:
        slack.add_user("UALLOWED", email="ae@sales.example")
        slack.add_user("UNOTLISTED", email="someone@sales.example")
        slack.add_channel("C0SALES")  # where the share clicks come from: internal, public
        engine = create_store_engine(database_url)
        load_dataset(make_session_factory(engine), workdir, datetime.now(UTC).date())
        engine.dispose()
        port = free_port()
        env = {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WEB_CONCURRENCY": "2",
            "SLACK_BOT_TOKEN": "xoxb-gunicorn-test",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.api_url,
            "DATABASE_URL": database_url,
            "ALLOWED_USER_IDS": "UALLOWED",
            "ACCESS_REQUEST_URL": "https://access.example.test/request",
            "PYTHONPATH": str(ROOT),
        }
        log = workdir / "gunicorn.log"
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "bot.asgi:app",
                 "--config", str(ROOT / "gunicorn.conf.py")],
                cwd=workdir, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(url, process, log)
            yield Server(url, slack, auth_tests_during_boot=slack.call_count("auth.test"))
        finally:
            process.terminate()
            process.wait(timeout=30)


@contextmanager
def _database(engine_name: str, workdir: Path) -> Iterator[str]:
    if engine_name == "sqlite":
        database_url = f"sqlite:///{workdir / 'store.sqlite3'}"
        engine = create_store_engine(database_url)
        upgrade(engine)
        engine.dispose()
        yield database_url
        return
    with fresh_postgres_database("gunicorn") as database_url:
        if database_url is None:
            pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL (scripts/start-postgres.sh)")
        yield database_url


def _wait_for_post(slack: SlackStandIn, name: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if posts := slack.responses_to(name):
            return posts[-1]
        time.sleep(0.05)
    raise AssertionError(f"nothing was posted to response_url {name!r}")


def test_probes_answer(server):
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/readyz").json() == {"ready": True, "store": "ok"}


def test_workers_boot_without_calling_slack(server):
    assert server.auth_tests_during_boot == 0


def test_workers_boot_and_answer_probes_with_slack_unreachable(tmp_path):
    """A Slack outage (or a wrong token) during a deploy is not a crash loop."""
    database_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    engine = create_store_engine(database_url)
    upgrade(engine)
    engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "SLACK_BOT_TOKEN": "xoxb-gunicorn-test",
        "SLACK_SIGNING_SECRET": SECRET,
        # Nothing listens there: every call to Slack is refused.
        "SLACK_API_URL": f"http://127.0.0.1:{free_port()}/api/",
        "DATABASE_URL": database_url,
        "ALLOWED_USER_IDS": "UALLOWED",
        "PYTHONPATH": str(ROOT),
    }
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "bot.asgi:app",
             "--config", str(ROOT / "gunicorn.conf.py")],
            cwd=tmp_path, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, log)
        assert httpx.get(f"{url}/readyz").json() == {"ready": True, "store": "ok"}
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def _one_worker_with_data(
    tmp_path: Path, slack: SlackStandIn, **extra_env: str
) -> Iterator[tuple[str, Path]]:
    """gunicorn with one worker (each request is that worker's), on SQLite with the data set:
    (its URL, its log file)."""
    database_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    engine = create_store_engine(database_url)
    upgrade(engine)
    load_dataset(make_session_factory(engine), tmp_path, datetime.now(UTC).date())
    engine.dispose()
    slack.add_user("UALLOWED", email="ae@sales.example")
    port = free_port()
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "SLACK_BOT_TOKEN": "xoxb-gunicorn-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": database_url,
        "ALLOWED_USER_IDS": "UALLOWED",
        "PYTHONPATH": str(ROOT),
        **extra_env,
    }
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "bot.asgi:app",
             "--config", str(ROOT / "gunicorn.conf.py")],
            cwd=tmp_path, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, log)
        yield url, log
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_slack_unreachable_at_a_workers_first_request_is_answered_then_it_recovers(tmp_path):
    """Issue 13: the token is checked at the first request; an outage then is no 500."""
    with SlackStandIn() as slack, _one_worker_with_data(tmp_path, slack) as (url, log):
        # Slack drops the connection on auth.test's attempt and on its one retry.
        slack.fail("auth.test", "disconnect", times=2)
        body = slash_command_body("/license", "Initech")
        response = post_to_url(f"{url}/slack/events", body, SECRET)
        assert response.status_code == 200
        assert "couldn't check who you are" in response.json()["text"]

        # Slack is back. A new request (the same body again would be refused as a replay):
        again = slash_command_body("/license", "initech")
        response = post_to_url(f"{url}/slack/events", again, SECRET)
        assert response.status_code == 200
        assert INITECH_EMAIL in json.dumps(response.json())
        assert slack.call_count("auth.test") == 3
    written = log.read_text()
    assert "Traceback" not in written
    assert written.count("Slack auth.test failed (RemoteDisconnected)") == 1


def test_a_refused_token_gets_the_setup_notice_through_gunicorn(tmp_path):
    with SlackStandIn() as slack, _one_worker_with_data(tmp_path, slack) as (url, log):
        slack.revoke_token("xoxb-gunicorn-test")  # auth.test answers invalid_auth
        response = post_to_url(
            f"{url}/slack/events", slash_command_body("/license", "Initech"), SECRET
        )
        assert response.status_code == 200
        assert response.json()["text"] == (
            "CustomersDot isn't set up correctly; tell the team that runs it."
        )
    written = log.read_text()
    assert "Traceback" not in written
    [error] = [line for line in written.splitlines() if "ERROR" in line]
    assert "invalid_auth" in error
    assert "SLACK_BOT_TOKEN" in error and "python -m bot check" in error


def test_license_lookup_and_share_through_gunicorn(server):
    body = slash_command_body("/license", "Initech", response_url=server.slack.response_url("c"))
    response = post_to_url(server.events_url, body, SECRET)
    assert response.status_code == 200
    card = response.json()
    assert card["response_type"] == "ephemeral"
    assert INITECH_EMAIL in json.dumps(card)

    share = block_actions_payload(
        ids.LICENSE_SHARE_ACTION,
        value="sf:0016100000INITEC",
        is_ephemeral=True,
        response_url=server.slack.response_url("share"),
    )
    assert post_to_url(server.events_url, interaction_body(share), SECRET).status_code == 200
    posted = _wait_for_post(server.slack, "share")
    assert posted["response_type"] == "in_channel"
    shared = json.dumps(posted)
    assert "Initech" in shared
    assert not any(email in shared for email in ALL_CONTACT_EMAILS)


def test_refusal_and_bad_signature_through_gunicorn(server):
    refused = post_to_url(
        server.events_url, slash_command_body("/license", "Initech", user_id="UNOTLISTED"), SECRET
    )
    assert refused.status_code == 200
    assert "access.example.test" in refused.text and INITECH_EMAIL not in refused.text
    forged = post_to_url(server.events_url, slash_command_body("/license", "Initech"), "wrong")
    assert forged.status_code == 401
    stale = post_to_url(
        server.events_url,
        slash_command_body("/license", "Initech"),
        SECRET,
        timestamp=int(time.time()) - 600,
    )
    assert stale.status_code == 401


# Far more than the app's threads (2 workers x GUNICORN_THREADS 4): a thread per slow client
# would leave none for Slack.
SLOW_CLIENTS = 300


def test_hundreds_of_slow_clients_do_not_keep_slack_waiting(server):
    """Issue 18: sixteen clients that sent headers and one byte of their body held every thread
    of the threaded worker, and a signed lookup waited 60 s. With the asyncio worker a waiting
    client holds no thread: the lookup is answered while all of them still wait, well before
    the first is let go (BODY_SECONDS)."""
    port = int(server.url.rsplit(":", 1)[1])
    slow = [slow_client(port, number) for number in range(SLOW_CLIENTS)]
    try:
        body = slash_command_body("/license", "Initech")
        response = post_to_url(server.events_url, body, SECRET, timeout=BODY_SECONDS / 2)
        assert response.status_code == 200
        assert INITECH_EMAIL in response.text
        # Still waiting: none was answered or let go meanwhile.
        for connection in slow:
            connection.setblocking(False)
            with pytest.raises(BlockingIOError):
                connection.recv(1)
    finally:
        for connection in slow:
            connection.close()


def _closed_by_the_server(connection: socket.socket, within: float) -> bool:
    connection.settimeout(within)
    try:
        return connection.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_half_sent_headers_are_cut_off_and_connections_past_the_cap_closed(tmp_path):
    """gunicorn 27's asyncio worker gives a first request's headers no deadline and refuses no
    connection past `worker_connections`: half-sent headers piled up until the worker ran out
    of file descriptors. Ours (bot/gunicorn_worker.py) cuts them off after
    HEADER_TIMEOUT_SECONDS and closes what comes past the cap at once; a whole request is
    answered all the while."""
    with (
        SlackStandIn() as slack,
        _one_worker_with_data(
            tmp_path, slack, HEADER_TIMEOUT_SECONDS="1", WORKER_CONNECTIONS="20"
        ) as (url, _log),
    ):
        port = int(url.rsplit(":", 1)[1])
        started = [slow_client(port, 0) for _ in range(10)]  # headers begun, never ended
        for connection in started:
            assert _closed_by_the_server(connection, within=5)
        crowd = [socket.create_connection(("127.0.0.1", port)) for _ in range(30)]
        try:
            # The worker holds 20: the rest are closed before the header deadline could.
            refused = [c for c in crowd if _closed_by_the_server(c, within=0.2)]
            assert len(refused) >= 10
        finally:
            for connection in crowd + started:
                connection.close()
        body = slash_command_body("/license", "Initech")
        assert post_to_url(f"{url}/slack/events", body, SECRET).status_code == 200


def test_a_signed_request_sent_in_pieces_is_answered(server):
    """A body that arrives in several packets (a slow network, not an attack) is assembled
    before the app reads it."""
    body = slash_command_body("/recon", "globex").encode()
    headers = signed_headers(SECRET, body.decode())
    port = int(server.url.rsplit(":", 1)[1])
    head = (
        "POST /slack/events HTTP/1.1\r\nHost: bot\r\nConnection: close\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        + f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head)
        for start in range(0, len(body), 100):
            connection.sendall(body[start : start + 100])
            time.sleep(0.05)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")
    assert b"A-S00091000" in answer


def test_recon_through_gunicorn(server):
    response = post_to_url(server.events_url, slash_command_body("/recon", "globex"), SECRET)
    assert response.status_code == 200
    assert "A-S00091000" in response.text


def test_with_log_format_json_every_line_gunicorn_writes_is_json(tmp_path):
    """Master, workers, access log and the bot's own lines: one JSON object per line, quiet
    probes (no Alembic lines, no HEAD warning) and the refusal's request line says "denied"."""
    with _database("sqlite", tmp_path) as database_url, SlackStandIn() as slack:
        slack.add_user("UNOTLISTED", email="someone@sales.example")
        port = free_port()
        env = {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WEB_CONCURRENCY": "1",
            "LOG_FORMAT": "json",
            "SLACK_BOT_TOKEN": "xoxb-gunicorn-json-test",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.api_url,
            "DATABASE_URL": database_url,
            "ALLOWED_USER_IDS": "UALLOWED",
            "PYTHONPATH": str(ROOT),
        }
        stdout, stderr = tmp_path / "stdout.log", tmp_path / "stderr.log"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "bot.asgi:app",
                 "--config", str(ROOT / "gunicorn.conf.py"), "--access-logfile", "-"],
                cwd=tmp_path, env=env, stdout=out, stderr=err,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(url, process, stderr)
            assert httpx.head(f"{url}/healthz").status_code == 200
            assert httpx.get(f"{url}/readyz").status_code == 200
            body = slash_command_body("/license", "Initech", user_id="UNOTLISTED")
            assert post_to_url(f"{url}/slack/events", body, SECRET).status_code == 200
        finally:
            process.terminate()
            process.wait(timeout=30)
    lines = stdout.read_text().splitlines() + stderr.read_text().splitlines()
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON line: {line!r}\n" + "\n".join(lines)) from None
    messages = [(entry["logger"], entry["message"]) for entry in entries]
    assert any(logger == "gunicorn.error" and "Booting worker" in m for logger, m in messages)
    # A healthy boot warns of nothing, and opens no control socket in the user's home.
    assert not [entry for entry in entries if entry["level"] in ("WARNING", "ERROR")], entries
    assert not any("Control socket" in m for _, m in messages)
    assert any(logger == "gunicorn.access" and "HEAD /healthz" in m for logger, m in messages)
    assert not [
        entry for entry in entries if entry["logger"].startswith(("alembic", "gunicorn.http"))
    ]
    [refused] = [entry for entry in entries if entry["logger"] == "bot.requests"]
    assert (refused["user"], refused["status"], refused["outcome"]) == ("UNOTLISTED", 200, "denied")


@pytest.mark.parametrize(
    ("broken", "named"),
    [
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"SLACK_BOT_TOKEN": ""}, "SLACK_BOT_TOKEN"),
    ],
    ids=["bad LOG_FORMAT", "no bot token"],
)
def test_a_configuration_error_stops_gunicorn_in_one_line(broken, named, tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LOG_"))},
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "WEB_CONCURRENCY": "2",
        "SLACK_BOT_TOKEN": "xoxb-gunicorn-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'store.sqlite3'}",
        "PYTHONPATH": str(ROOT),
        **broken,
    }
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "bot.asgi:app",
         "--config", str(ROOT / "gunicorn.conf.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    # gunicorn's own format, or the bot's when LOG_FORMAT could be read (bot.gunicorn_logging).
    errors = [line for line in result.stderr.splitlines() if "configuration error" in line]
    assert len(errors) == 1 and "ERROR" in errors[0] and named in errors[0], result.stderr


# ---- nginx in front (deploy/nginx.conf) ------------------------------------------------------


@contextmanager
def _nginx_in_front_of(gunicorn_port: int, workdir: Path) -> Iterator[int]:
    """deploy/nginx.conf as an operator would include it, pointed at `gunicorn_port`; nginx's
    own files in `workdir`. Yields the port nginx listens on."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: scripts/test.sh installs it in CI")
        pytest.skip("no nginx (Debian's nginx-light; scripts/test.sh installs it in CI)")
    port = free_port()
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server 127.0.0.1:8000;" in site and "listen 80;" in site
    site = site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{gunicorn_port};")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    (workdir / "site.conf").write_text(site)
    for directory in ("client_body", "proxy", "logs"):
        (workdir / directory).mkdir(exist_ok=True)
    running_as_root = os.geteuid() == 0
    (workdir / "nginx.conf").write_text(
        f"{'user root;' if running_as_root else ''}\n"
        f"pid {workdir / 'nginx.pid'};\nerror_log {workdir / 'logs' / 'error.log'} warn;\n"
        "events { worker_connections 2048; }\n"
        "http {\n"
        f"  access_log {workdir / 'logs' / 'access.log'};\n"
        f"  client_body_temp_path {workdir / 'client_body'};\n"
        f"  proxy_temp_path {workdir / 'proxy'};\n"
        f"  include {workdir / 'site.conf'};\n"
        "}\n"
    )
    process = subprocess.Popen(
        [nginx, "-p", str(workdir), "-c", str(workdir / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    message = f"nginx did not start: {process.stderr.read()!r}"
                    raise AssertionError(message) from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_nginx_in_front_holds_slow_clients_and_forwards_slack(server, tmp_path):
    """The tested configuration for a VM (README: Deployment): slow clients wait in nginx,
    signed requests reach the bot whole, oversized ones are refused before it."""
    gunicorn_port = int(server.url.rsplit(":", 1)[1])
    with _nginx_in_front_of(gunicorn_port, tmp_path) as port:
        url = f"http://127.0.0.1:{port}/slack/events"
        slow = [slow_client(port, number) for number in range(SLOW_CLIENTS)]
        try:
            response = post_to_url(
                url, slash_command_body("/license", "Initech"), SECRET, timeout=BODY_SECONDS / 2
            )
            assert response.status_code == 200
            assert INITECH_EMAIL in response.text
        finally:
            for connection in slow:
                connection.close()
        oversized = httpx.post(url, content=b"x" * (2 * 1024 * 1024), timeout=10)
        assert oversized.status_code == 413
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["ready"] is True


def test_a_worker_leaves_its_startup_objects_out_of_full_collections(tmp_path):
    """bot.asgi (what each gunicorn worker imports) freezes what it built: a full collection
    then walks none of it (it walked ~124,000 objects in 29-37 ms, at an arbitrary request)."""
    database_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    upgrade(create_store_engine(database_url))
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-gunicorn-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": "http://127.0.0.1:9/api/",  # never called at import
        "DATABASE_URL": database_url,
        "ALLOWED_USER_IDS": "UALLOWED",
        "PYTHONPATH": str(ROOT),
    }
    probe = (
        "import gc, time\n"
        "import bot.asgi\n"
        "started = time.perf_counter(); gc.collect()\n"
        "print(gc.get_freeze_count(), len(gc.get_objects()), time.perf_counter() - started)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    frozen, still_collected, _seconds = result.stdout.split()
    assert int(frozen) > 50_000
    assert int(still_collected) < int(frozen) // 10
