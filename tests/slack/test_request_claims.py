"""Events API de-duplication: the claim in the store, the middleware, purging; both engines."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from bot.app import SlackWsgiApp, create_app
from bot.services import build_services
from bot.slack.request_claims import (
    RETENTION,
    RequestClaimMiddleware,
    claim_event,
    purge_processed_events,
)
from bot.store.db import create_store_engine, make_session_factory
from bot.store.models import AuditEvent, ProcessedEvent
from tests.helpers.slack_requests import event_body, post_to_wsgi, slash_command_body

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "dedupe-signing-secret"


def test_an_event_id_is_claimed_once(session_factory):
    assert claim_event(session_factory, "Ev1", NOW) is True
    assert claim_event(session_factory, "Ev1", NOW + timedelta(seconds=60)) is False
    assert claim_event(session_factory, "Ev2", NOW) is True
    with session_factory() as session:
        assert sorted(session.scalars(select(ProcessedEvent.event_id))) == ["Ev1", "Ev2"]


def test_a_factory_bound_to_a_connection_still_claims_once(session_factory):
    # The claim takes the engine a factory is bound to; one bound otherwise claims through a
    # session rather than raise outside the store's errors (which would fail every request).
    engine = session_factory.kw["bind"]
    with engine.connect() as connection:
        on_connection = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
        assert claim_event(on_connection, "Ev1", NOW) is True
        assert claim_event(on_connection, "Ev1", NOW) is False
        connection.commit()
    with session_factory() as session:
        assert list(session.scalars(select(ProcessedEvent.event_id))) == ["Ev1"]


def test_old_claims_are_purged_and_recent_ones_kept(session_factory):
    claim_event(session_factory, "EvOld", NOW - RETENTION - timedelta(minutes=1))
    claim_event(session_factory, "EvNew", NOW - timedelta(minutes=5))
    assert purge_processed_events(session_factory, NOW) == 1
    with session_factory() as session:
        assert list(session.scalars(select(ProcessedEvent.event_id))) == ["EvNew"]


def _event_request(event_id: str, retry_num: str | None = None) -> BoltRequest:
    body = event_body(
        {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"},
        event_id=event_id,
    )
    headers = {"content-type": "application/json"}
    if retry_num is not None:
        headers["x-slack-retry-num"] = retry_num
        headers["x-slack-retry-reason"] = "http_timeout"
    return BoltRequest(body=body, headers=headers)


def _run(middleware: RequestClaimMiddleware, req: BoltRequest) -> tuple[BoltResponse, int]:
    handled: list[int] = []

    def next_() -> BoltResponse:
        handled.append(1)
        return BoltResponse(status=200, body="handled")

    response = middleware.process(req=req, resp=BoltResponse(status=200), next=next_)
    assert response is not None
    return response, len(handled)


def test_the_middleware_drops_a_retried_delivery(session_factory):
    middleware = RequestClaimMiddleware(session_factory, clock=lambda: NOW)
    first, handled_first = _run(middleware, _event_request("EvA"))
    retry, handled_retry = _run(middleware, _event_request("EvA", retry_num="1"))
    assert (first.body, handled_first) == ("handled", 1)
    assert (retry.status, retry.body, handled_retry) == (200, "", 0)


def test_commands_and_interactions_pass_unclaimed(session_factory):
    middleware = RequestClaimMiddleware(session_factory, clock=lambda: NOW)
    command = BoltRequest(body=slash_command_body("/license", "initech"))
    for _ in range(2):
        _response, handled = _run(middleware, command)
        assert handled == 1
    with session_factory() as session:
        assert list(session.scalars(select(ProcessedEvent))) == []


def test_store_down_means_not_handled_and_redelivered(session_factory, tmp_path):
    # A store that cannot be opened: a SQLite file in a directory that does not exist.
    broken = create_store_engine(f"sqlite:///{tmp_path / 'missing' / 'store.sqlite3'}")
    middleware = RequestClaimMiddleware(make_session_factory(broken), clock=lambda: NOW)
    response, handled = _run(middleware, _event_request("EvDown"))
    # Not handled (a duplicate post is worse than a late one); 503 makes Slack redeliver.
    assert (response.status, handled) == (503, 0)
    # The redelivery, once the store is back, is claimed and handled exactly once.
    middleware = RequestClaimMiddleware(session_factory, clock=lambda: NOW)
    assert _run(middleware, _event_request("EvDown", retry_num="1"))[1] == 1
    assert _run(middleware, _event_request("EvDown", retry_num="2"))[1] == 0


def test_purging_runs_at_most_once_per_interval(session_factory):
    ticks = iter([0.0, 10.0, 4000.0])
    clock_now = [NOW - RETENTION - timedelta(hours=2)]
    middleware = RequestClaimMiddleware(
        session_factory,
        clock=lambda: clock_now[0],
        monotonic=lambda: next(ticks),
        purge_every_seconds=3600,
    )
    _run(middleware, _event_request("EvAncient"))  # purges (nothing old yet), claims
    clock_now[0] = NOW
    _run(middleware, _event_request("EvB"))  # 10 s later: no purge
    with session_factory() as session:
        assert session.get(ProcessedEvent, "EvAncient") is not None
    _run(middleware, _event_request("EvC"))  # an hour later: purges
    with session_factory() as session:
        assert session.get(ProcessedEvent, "EvAncient") is None
        assert session.get(ProcessedEvent, "EvC") is not None


@pytest.fixture
def wsgi(settings, slack_standin):
    slack_standin.add_user("UNOTLISTED", email="someone@sales.example")
    settings = replace(settings, slack_signing_secret=SECRET, slack_api_url=slack_standin.api_url)
    services = build_services(settings)
    app = SlackWsgiApp(create_app(settings, services=services), services)
    slack_standin.clear()
    return app


def test_a_retried_event_through_the_app_acts_once(wsgi, slack_standin):
    body = event_body(
        {"type": "app_home_opened", "user": "UNOTLISTED", "channel": "D1", "tab": "home"},
        event_id="EvRetried",
    )
    first = post_to_wsgi(wsgi, body, SECRET)
    retries = [
        post_to_wsgi(
            wsgi,
            body,
            SECRET,
            headers={"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"},
        )
        for n in (1, 2, 3)
    ]
    assert first.status == 200 and all(r.status == 200 for r in retries)
    # The refusal (an audit row and a users.info call) happened once, not four times.
    with wsgi._services.session_factory() as session:
        rows = list(session.scalars(select(AuditEvent)))
    assert [(row.user_id, row.outcome) for row in rows] == [("UNOTLISTED", "denied")]
    assert slack_standin.call_count("users.info") == 1
