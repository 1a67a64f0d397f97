"""A signed request replayed inside Slack's 5-minute window is refused (bot/slack/request_claims.py), on both
engines and across workers; Slack's re-signed event retries stay the event_id claim's business.

A replay here is what an attacker who captured one request can send: the same body, timestamp
and signature, byte for byte.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bot import ids
from bot.app import SlackWsgiApp, create_app
from bot.services import Services, build_services
from bot.slack.request_claims import REPLAY_STATUS, SIGNATURE_KEY_PREFIX, signature_claim_key
from bot.store.models import AuditEvent, Customer, ProcessedEvent
from tests.helpers.e2e_dataset import INITECH_EMAIL, load_dataset
from tests.helpers.slack_requests import (
    block_suggestion_payload,
    event_body,
    interaction_body,
    post_to_wsgi,
    sign,
    slash_command_body,
)
from tests.helpers.store_down import app_with_the_store_down

SECRET = "replay-signing-secret"
ALLOWED = "UALLOWED"


def _worker(settings, slack_standin) -> tuple[SlackWsgiApp, Services]:
    settings = replace(settings, slack_signing_secret=SECRET, slack_api_url=slack_standin.api_url)
    services = build_services(settings)
    return SlackWsgiApp(create_app(settings, services=services), services), services


@pytest.fixture
def deployment(settings, slack_standin, tmp_path: Path):
    """Two workers sharing one store, as gunicorn runs them."""
    slack_standin.add_user(ALLOWED, email="ae@sales.example")
    first, services = _worker(settings, slack_standin)
    load_dataset(services.session_factory, tmp_path, datetime.now(UTC).date())
    second, _ = _worker(settings, slack_standin)
    slack_standin.clear()
    return first, second, services


def _audit_rows(services: Services) -> list[tuple[str, str]]:
    with services.session_factory() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(row.surface, row.outcome) for row in rows]


def test_a_replayed_command_is_refused_and_nothing_of_it_is_written(deployment, slack_standin):
    """A lookup command is claimed in its own audited transaction (bot/request_claim.py): the
    replay's allowlist check runs (the second worker, its identity cache cold, asks Slack who
    the user is) and its lookup reads, but its transaction stops at the claim: no answer, no audit row, no count
    against the rate limit."""
    first, second, services = deployment
    body = slash_command_body(ids.LICENSE_COMMAND, "initech", user_id=ALLOWED)
    sent_at = int(time.time())
    answered = post_to_wsgi(first, body, SECRET, timestamp=sent_at)
    assert answered.status == 200 and INITECH_EMAIL in answered.text
    slack_standin.clear()
    for worker in (first, second, first):  # the same worker, and another sharing the store
        replayed = post_to_wsgi(worker, body, SECRET, timestamp=sent_at)
        assert replayed.status == REPLAY_STATUS
        assert INITECH_EMAIL not in replayed.text and "Initech" not in replayed.text
    assert _audit_rows(services) == [("/license", "ok")]
    # Only the identity of the user, once (then cached), and the second worker's auth.test.
    assert {call.method for call in slack_standin.calls} <= {"users.info", "auth.test"}
    assert slack_standin.call_count("users.info") == 1
    assert _signature_claims(services) == [signature_claim_key(_signature(body, sent_at))]
    # The user's next command (a new trigger_id, so a new signature) is answered.
    again = slash_command_body(ids.LICENSE_COMMAND, "initech", user_id=ALLOWED)
    assert INITECH_EMAIL in post_to_wsgi(second, again, SECRET, timestamp=sent_at).text


def test_a_replayed_refusal_is_claimed_after_its_dispatch_and_refused(deployment):
    """A command refused by the allowlist makes no lookup transaction: its claim is made once the
    dispatch is done, before the refusal leaves, and the replay gets 401."""
    first, second, services = deployment
    body = slash_command_body(ids.LICENSE_COMMAND, "initech", user_id="UNOTLISTED")
    sent_at = int(time.time())
    refused = post_to_wsgi(first, body, SECRET, timestamp=sent_at)
    assert refused.status == 200 and INITECH_EMAIL not in refused.text
    assert post_to_wsgi(second, body, SECRET, timestamp=sent_at).status == REPLAY_STATUS
    assert _signature_claims(services) == [signature_claim_key(_signature(body, sent_at))]


def test_a_lookup_whose_audit_row_fails_still_has_its_replay_refused(deployment):
    """The audit row cannot be written: the lookup's transaction, its claim with it, rolls back
    and the user is told the store is unavailable; the claim is then made on its own, so a
    replay of the request is refused rather than answered once the audit works again."""
    first, second, services = deployment
    body = slash_command_body(ids.LICENSE_COMMAND, "initech", user_id=ALLOWED)
    sent_at = int(time.time())
    with audit_rows_refused(services):
        withheld = post_to_wsgi(first, body, SECRET, timestamp=sent_at)
    assert withheld.status == 200 and "unavailable" in withheld.json()["text"]
    assert INITECH_EMAIL not in withheld.text
    assert post_to_wsgi(second, body, SECRET, timestamp=sent_at).status == REPLAY_STATUS
    assert _signature_claims(services) == [signature_claim_key(_signature(body, sent_at))]


def test_a_replay_sent_with_its_original_is_answered_once(deployment):
    """Both at once, to two workers: each lookup's transaction inserts the claim before its
    other writes, so one of them waits on the other's (PostgreSQL: the row; SQLite: the audit file's write lock)
    and, once it commits, finds it taken."""
    first, second, services = deployment
    for attempt in range(4):
        body = slash_command_body(
            ids.LICENSE_COMMAND, "initech", user_id=ALLOWED, trigger_id=f"race.{attempt}"
        )
        sent_at = int(time.time())
        with ThreadPoolExecutor(max_workers=2) as pool:
            sent = [
                pool.submit(post_to_wsgi, worker, body, SECRET, timestamp=sent_at)
                for worker in (first, second)
            ]
            responses = [future.result() for future in sent]
        answered = [response for response in responses if INITECH_EMAIL in response.text]
        assert len(answered) == 1 and answered[0].status == 200
        assert sorted(response.status for response in responses) == [200, REPLAY_STATUS]
    assert _audit_rows(services) == [("/license", "ok")] * 4


@contextmanager
def audit_rows_refused(services: Services) -> Iterator[None]:
    """A trigger that refuses every audit row (the claims' table is left alone)."""
    engine = services.engine
    if engine.dialect.name == "sqlite":
        create = [
            "CREATE TRIGGER audit.refuse_audit_rows BEFORE INSERT ON audit_event "
            "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
        ]
        drop = ["DROP TRIGGER audit.refuse_audit_rows"]
    else:
        create = [
            "CREATE FUNCTION refuse_audit_rows() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit refused'; END $$",
            "CREATE TRIGGER refuse_audit_rows BEFORE INSERT ON audit.audit_event "
            "FOR EACH ROW EXECUTE FUNCTION refuse_audit_rows()",
        ]
        drop = [
            "DROP TRIGGER refuse_audit_rows ON audit.audit_event",
            "DROP FUNCTION refuse_audit_rows()",
        ]
    with engine.begin() as connection:
        for statement in create:
            connection.execute(text(statement))
    try:
        yield
    finally:
        with engine.begin() as connection:
            for statement in drop:
                connection.execute(text(statement))


def _signature_claims(services: Services) -> list[str]:
    with services.session_factory() as session:
        claims = session.scalars(select(ProcessedEvent.event_id))
        return [claim for claim in claims if claim.startswith(SIGNATURE_KEY_PREFIX)]


def _signature(body: str, sent_at: int) -> str:
    return sign(SECRET, sent_at, body)["X-Slack-Signature"]


def test_a_replayed_type_ahead_is_refused_and_not_counted_again(deployment):
    # block_suggestion carries no trigger_id: its signature is the only key.
    first, second, services = deployment
    payload = block_suggestion_payload(
        ids.CUSTOMER_SELECT_ACTION, "umbrel", block_id=ids.CUSTOMER_BLOCK, user_id=ALLOWED
    )
    body = interaction_body(payload)
    sent_at = int(time.time())
    options = post_to_wsgi(first, body, SECRET, timestamp=sent_at)
    assert options.status == 200 and len(options.json()["options"]) == 2
    assert post_to_wsgi(second, body, SECRET, timestamp=sent_at).status == REPLAY_STATUS
    assert _audit_rows(services) == [("customer_suggest", "ok")]
    assert _signature_claims(services) == [signature_claim_key(_signature(body, sent_at))]


def test_the_claim_key_fits_the_event_id_column():
    key = signature_claim_key("v0=" + "a" * 64)
    assert key.startswith("sig:") and len(key) == 64
    assert key != signature_claim_key("v0=" + "b" * 64)


def test_event_retries_are_re_signed_and_left_to_the_event_id_claim(deployment, slack_standin):
    """Slack re-signs each retry with a new timestamp; the event_id claim drops it, with the
    200 Slack needs to stop retrying. Events are not claimed by signature."""
    first, second, services = deployment
    body = event_body(
        {"type": "app_home_opened", "user": ALLOWED, "channel": "D1", "tab": "home"},
        event_id="EvReplayed",
    )
    sent_at = int(time.time())
    assert post_to_wsgi(first, body, SECRET, timestamp=sent_at).status == 200
    retry = post_to_wsgi(
        second,
        body,
        SECRET,
        timestamp=sent_at + 60,
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    replay = post_to_wsgi(second, body, SECRET, timestamp=sent_at)
    assert (retry.status, replay.status) == (200, 200)
    deadline = time.monotonic() + 5  # Home is published after the ack
    while slack_standin.call_count("views.publish") == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    assert slack_standin.call_count("views.publish") == 1  # handled once
    with services.session_factory() as session:
        assert list(session.scalars(select(ProcessedEvent.event_id))) == ["EvReplayed"]


def test_a_store_that_cannot_take_the_claim_fails_closed(settings, slack_standin):
    slack_standin.add_user(ALLOWED, email="ae@sales.example")
    wsgi = app_with_the_store_down(settings, slack_standin, SECRET)
    slack_standin.clear()
    command = post_to_wsgi(wsgi, slash_command_body(ids.LICENSE_COMMAND, "initech"), SECRET)
    # A command still tells the user why (Slack shows a command's response body). A lookup
    # command's claim is its transaction's, so the allowlist has asked who the user is.
    assert command.status == 200 and "unavailable" in command.json()["text"]
    slack_standin.clear()
    suggestion = interaction_body(
        block_suggestion_payload(ids.CUSTOMER_SELECT_ACTION, "umbrel", block_id=ids.CUSTOMER_BLOCK)
    )
    assert post_to_wsgi(wsgi, suggestion, SECRET).status == 503
    assert slack_standin.call_count("users.info") == 0  # no middleware after it, no listener


def test_during_an_import_a_replay_to_another_worker_is_still_refused(deployment):
    """An import write-locks a SQLite store's main file for its whole file while lookups go on;
    the claims live in the audit file, which it does not lock, so the second worker sees the
    first one's claim (each worker's own memory of signatures once let the replay through).
    On PostgreSQL an import locks no claim either."""
    first, second, services = deployment
    body = slash_command_body(ids.LICENSE_COMMAND, "initech", user_id=ALLOWED)
    sent_at = int(time.time())
    with services.session_factory() as importing:
        importing.add(Customer(key="name:in flight", name="In Flight", search_key="in flight"))
        importing.flush()  # SQLite: the store's write lock is held until this session ends
        answered = post_to_wsgi(first, body, SECRET, timestamp=sent_at)
        assert answered.status == 200 and INITECH_EMAIL in answered.text
        assert post_to_wsgi(second, body, SECRET, timestamp=sent_at).status == REPLAY_STATUS
        assert post_to_wsgi(first, body, SECRET, timestamp=sent_at).status == REPLAY_STATUS
        importing.rollback()
