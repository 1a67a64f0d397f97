"""Two gunicorn instances, two workers each, on one PostgreSQL database: the same answers as
one instance, and a retried event acts once whichever instance receives each delivery."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.store.db import create_store_engine, make_session_factory
from bot.store.models import AuditEvent
from tests.helpers.e2e_dataset import INITECH_EMAIL, load_dataset
from tests.helpers.paths import ROOT
from tests.helpers.postgres import fresh_postgres_database
from tests.helpers.processes import free_port, wait_until_healthy
from tests.helpers.slack_requests import event_body, post_to_url, slash_command_body
from tests.helpers.slack_standin import SlackStandIn

SECRET = "multi-instance-signing-secret"
pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _start_instance(workdir: Path, database_url: str, slack: SlackStandIn, stack: ExitStack) -> str:
    port = free_port()
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "SLACK_BOT_TOKEN": "xoxb-multi-instance",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": database_url,
        "ALLOWED_USER_IDS": "UALLOWED",
        "ACCESS_REQUEST_URL": "https://access.example.test/request",
        "LOG_FORMAT": "json",
        "PYTHONPATH": str(ROOT),
    }
    log = workdir / f"gunicorn-{port}.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "bot.asgi:app",
             "--config", str(ROOT / "gunicorn.conf.py")],
            cwd=workdir, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def stop() -> None:
        process.terminate()
        process.wait(timeout=30)

    stack.callback(stop)
    url = f"http://127.0.0.1:{port}"
    wait_until_healthy(url, process, log)
    return url


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], str]]:
    workdir = tmp_path_factory.mktemp("multi-instance")
    with (
        fresh_postgres_database("multi") as database_url,
        SlackStandIn() as slack,
        ExitStack() as stack,
    ):
        if database_url is None:
            pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL (scripts/start-postgres.sh)")
        slack.add_user("UALLOWED", email="ae@sales.example")
        slack.add_user("UNOTLISTED", email="someone@sales.example")
        engine = create_store_engine(database_url)
        load_dataset(make_session_factory(engine), workdir, datetime.now(UTC).date())
        engine.dispose()
        urls = [_start_instance(workdir, database_url, slack, stack) for _ in range(2)]
        yield urls, database_url


def _audit_rows(database_url: str) -> list[AuditEvent]:
    engine = create_store_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    finally:
        engine.dispose()


def test_both_instances_give_the_same_answers(cluster):
    urls, _database_url = cluster
    answers = []
    for url in urls:
        events = f"{url}/slack/events"
        # Several requests each, so both workers of each instance serve some.
        replies = [
            post_to_url(events, slash_command_body(command, query, user_id=user), SECRET)
            for command, query, user in [
                ("/license", "Initech", "UALLOWED"),
                ("/recon", "globex", "UALLOWED"),
                ("/license", "Initech", "UNOTLISTED"),
                ("/license", "initek", "UALLOWED"),
            ]
        ]
        assert all(reply.status_code == 200 for reply in replies)
        answers.append([reply.json() for reply in replies])
        assert httpx.get(f"{url}/readyz").json() == {"ready": True, "store": "ok"}
    assert answers[0] == answers[1]
    license_card, recon_card, refusal, typo_card = answers[0]
    assert INITECH_EMAIL in str(license_card) and "A-S00091000" in str(recon_card)
    assert "access.example.test" in str(refusal) and INITECH_EMAIL not in str(refusal)
    assert typo_card == license_card


def test_a_retried_event_acts_once_across_instances(cluster):
    urls, database_url = cluster
    body = event_body(
        {"type": "app_home_opened", "user": "UNOTLISTED", "channel": "D1", "tab": "home"},
        event_id="EvAcrossInstances",
    )
    deliveries = [
        post_to_url(f"{urls[0]}/slack/events", body, SECRET),
        post_to_url(
            f"{urls[1]}/slack/events",
            body,
            SECRET,
            headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
        ),
        post_to_url(
            f"{urls[0]}/slack/events",
            body,
            SECRET,
            headers={"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"},
        ),
    ]
    assert [d.status_code for d in deliveries] == [200, 200, 200]
    refusals = [
        row
        for row in _audit_rows(database_url)
        if row.user_id == "UNOTLISTED" and row.surface == "app_home_opened"
    ]
    assert len(refusals) == 1
