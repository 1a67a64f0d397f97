"""The Web API client's bounded retries, against the loopback Slack stand-in.

Waits are recorded through an injected `sleep` (no real waiting) except in the end-to-end
checks at the bottom, which assert the product requirement itself: the user hears back (a card
or a refusal that says the identity could not be checked) inside Slack's 3 seconds.
"""

from __future__ import annotations

import socket
import time
from dataclasses import replace
from datetime import UTC, datetime
from urllib.error import URLError

import pytest
from slack_sdk.errors import SlackApiError

from bot.app import SlackWsgiApp, create_app
from bot.config import Settings
from bot.outcomes import RefusalReason
from bot.services import build_services
from bot.slack.client import (
    ATTEMPT_TIMEOUT_SECONDS,
    MAX_RATE_LIMIT_WAIT_SECONDS,
    RETRY_BUDGET_SECONDS,
    create_web_client,
)
from bot.slack.identity import IdentityResolver
from tests.helpers.e2e_dataset import load_dataset
from tests.helpers.slack_requests import post_to_wsgi, slash_command_body

SLACK_DEADLINE_SECONDS = 3.0


class FakeTime:
    """A clock that only moves when the client sleeps: records every wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def client(slack_standin, fake_time):
    slack_standin.add_user("U1", email="jane@sales.example")
    settings = Settings(slack_bot_token="xoxb-test", slack_api_url=slack_standin.api_url)
    return create_web_client(settings, sleep=fake_time.sleep, clock=fake_time.clock)


def test_the_worst_case_fits_in_slacks_three_seconds():
    assert MAX_RATE_LIMIT_WAIT_SECONDS <= RETRY_BUDGET_SECONDS
    assert RETRY_BUDGET_SECONDS + ATTEMPT_TIMEOUT_SECONDS < SLACK_DEADLINE_SECONDS


def test_a_short_retry_after_is_waited_for_and_retried(client, slack_standin, fake_time):
    slack_standin.fail("users.info", "rate_limited", retry_after=1)
    assert client.users_info(user="U1")["user"]["id"] == "U1"
    assert fake_time.sleeps == [1.0]
    assert slack_standin.call_count("users.info") == 2


def test_a_long_retry_after_is_not_waited_for(client, slack_standin, fake_time):
    # slack_sdk's own RateLimitErrorRetryHandler would sleep all 30 s here.
    slack_standin.fail("users.info", "rate_limited", retry_after=30)
    with pytest.raises(SlackApiError) as raised:
        client.users_info(user="U1")
    assert raised.value.response.status_code == 429
    assert fake_time.sleeps == []
    assert slack_standin.call_count("users.info") == 1


def test_a_server_error_is_retried_once_after_a_short_wait(client, slack_standin, fake_time):
    slack_standin.fail("users.info", "server_error")
    assert client.users_info(user="U1")["ok"] is True
    assert len(fake_time.sleeps) == 1 and fake_time.sleeps[0] < 0.5
    assert slack_standin.call_count("users.info") == 2


def test_server_errors_give_up_after_one_retry(client, slack_standin, fake_time):
    slack_standin.fail("users.info", "server_error", times=5)
    with pytest.raises(SlackApiError):
        client.users_info(user="U1")
    assert slack_standin.call_count("users.info") == 2
    assert len(fake_time.sleeps) == 1


def test_an_ok_false_answer_is_not_retried(client, slack_standin, fake_time):
    slack_standin.fail("users.info", "error", error="user_not_found")
    with pytest.raises(SlackApiError):
        client.users_info(user="U1")
    assert slack_standin.call_count("users.info") == 1
    assert fake_time.sleeps == []


def test_no_retry_starts_once_the_budget_is_spent(slack_standin):
    class SlowClock(FakeTime):
        # Every look at the clock costs 0.7 s: the second attempt would end too late.
        def clock(self) -> float:
            self.now += 0.7
            return self.now

    slow = SlowClock()
    settings = Settings(slack_bot_token="xoxb-test", slack_api_url=slack_standin.api_url)
    client = create_web_client(settings, sleep=slow.sleep, clock=slow.clock)
    slack_standin.add_user("U1")
    slack_standin.fail("users.info", "rate_limited", retry_after=1)
    with pytest.raises(SlackApiError):
        client.users_info(user="U1")
    assert slow.sleeps == []


def test_a_refused_connection_is_retried_once(fake_time):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    settings = Settings(slack_bot_token="xoxb-test", slack_api_url=f"http://127.0.0.1:{port}/api/")
    client = create_web_client(settings, sleep=fake_time.sleep, clock=fake_time.clock)
    with pytest.raises(URLError) as raised:
        client.users_info(user="U1")
    assert "refused" in str(raised.value).lower()
    assert len(fake_time.sleeps) == 1


def test_a_connection_closed_without_an_answer_is_retried_once(client, slack_standin, fake_time):
    slack_standin.fail("users.info", "disconnect")
    assert client.users_info(user="U1")["ok"] is True
    assert slack_standin.call_count("users.info") == 2
    assert len(fake_time.sleeps) == 1


def test_connections_closed_every_time_give_up_after_one_retry(client, slack_standin, fake_time):
    slack_standin.fail("users.info", "disconnect", times=5)
    with pytest.raises((URLError, ConnectionError)):
        client.users_info(user="U1")
    assert slack_standin.call_count("users.info") == 2


def test_the_client_uses_the_configured_api_url_and_bounds(slack_standin):
    settings = Settings(slack_bot_token="xoxb-test", slack_api_url=slack_standin.api_url)
    client = create_web_client(settings)
    assert client.base_url == slack_standin.api_url
    assert client.timeout == ATTEMPT_TIMEOUT_SECONDS
    assert len(client.retry_handlers) == 4


def test_a_refused_token_is_logged_in_one_line_naming_the_setting(slack_standin, caplog):
    client = create_web_client(
        Settings(slack_bot_token="xoxb-wrong", slack_api_url=slack_standin.api_url)
    )
    slack_standin.fail("auth.test", "error", error="invalid_auth")
    with caplog.at_level("ERROR", logger="bot.slack.client"), pytest.raises(SlackApiError):
        client.auth_test()
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.slack.client"]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "invalid_auth" in lines[0] and "SLACK_BOT_TOKEN" in lines[0]
    assert "xoxb-wrong" not in lines[0]
    assert slack_standin.call_count("auth.test") == 1  # never retried


# ---- identity lookups fail closed, in time ---------------------------------------------------


def test_identity_fails_closed_when_slack_keeps_failing(slack_standin, fake_time):
    slack_standin.add_user("UALLOWED", email="ae@sales.example")
    settings = Settings(
        slack_bot_token="xoxb-test",
        slack_api_url=slack_standin.api_url,
        allowed_user_ids=frozenset({"UALLOWED"}),
    )
    client = create_web_client(settings, sleep=fake_time.sleep, clock=fake_time.clock)
    resolver = IdentityResolver(client, settings)
    slack_standin.fail("users.info", "server_error", times=2)
    decision = resolver.decide("UALLOWED", "T0TEAM")
    assert (decision.allowed, decision.reason) == (False, RefusalReason.IDENTITY_UNAVAILABLE)
    # Not cached: once Slack answers again, the same user is allowed.
    assert resolver.decide("UALLOWED", "T0TEAM").allowed


@pytest.fixture
def live_bot(settings, slack_standin, tmp_path):
    """The real WSGI app with the real client (real sleeps), on both engines."""
    slack_standin.add_user("UALLOWED", email="ae@sales.example")
    settings = replace(settings, slack_api_url=slack_standin.api_url)
    services = build_services(settings)
    load_dataset(services.session_factory, tmp_path, datetime.now(UTC).date())
    return SlackWsgiApp(create_app(settings, services=services), services), settings


def _timed_command(wsgi: SlackWsgiApp, settings: Settings) -> tuple[float, str, int]:
    started = time.monotonic()
    body = slash_command_body("/license", "initech", user_id="UALLOWED")
    response = post_to_wsgi(wsgi, body, settings.slack_signing_secret or "")
    return time.monotonic() - started, response.text, response.status


@pytest.mark.parametrize(
    ("kind", "times", "retry_after"),
    [("server_error", 5, 1), ("rate_limited", 5, 1), ("rate_limited", 1, 60), ("disconnect", 5, 1)],
)
def test_slack_failing_during_identity_lookup_refuses_inside_three_seconds(
    live_bot, slack_standin, kind, times, retry_after
):
    wsgi, settings = live_bot
    slack_standin.fail("users.info", kind, times=times, retry_after=retry_after)
    elapsed, text, status = _timed_command(wsgi, settings)
    assert status == 200
    assert "couldn't check who you are" in text
    assert "Initech" not in text  # fail closed: no customer data
    assert elapsed < SLACK_DEADLINE_SECONDS


def test_slow_identity_lookup_times_out_and_refuses_inside_three_seconds(live_bot, slack_standin):
    wsgi, settings = live_bot
    slack_standin.delay("users.info", ATTEMPT_TIMEOUT_SECONDS + 1.5)
    elapsed, text, _status = _timed_command(wsgi, settings)
    assert "couldn't check who you are" in text
    assert elapsed < SLACK_DEADLINE_SECONDS


def test_one_rate_limited_identity_lookup_still_answers_in_time(live_bot, slack_standin):
    wsgi, settings = live_bot
    slack_standin.fail("users.info", "rate_limited", retry_after=1)
    elapsed, text, _status = _timed_command(wsgi, settings)
    assert "Initech" in text
    assert elapsed < SLACK_DEADLINE_SECONDS
