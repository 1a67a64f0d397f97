"""handlers/lifecycle.py through signed requests, with a single SLACK_BOT_TOKEN (no OAuth).

tests/slack/test_oauth.py covers these listeners with OAuth installs (rows and tokens deleted, the
identity cache forgotten); what is left is the single-token mode: nothing is stored, so the
operator is told in the logs, and only a revoked *bot* token is worth a warning.
"""

from __future__ import annotations

import logging

import pytest

from tests.helpers.events_harness import EventsBot, make_events_bot

TOKEN_GONE = "SLACK_BOT_TOKEN no longer works"


@pytest.fixture
def bot(settings, slack_standin, tmp_path) -> EventsBot:
    bot = make_events_bot(settings, slack_standin, tmp_path)
    assert bot.services.installation_store is None  # the single-token mode under test
    return bot


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "handlers.lifecycle" and record.levelno >= logging.WARNING
    ]


def test_app_uninstalled_tells_the_operator_the_token_is_gone(bot, caplog):
    with caplog.at_level(logging.INFO, logger="handlers.lifecycle"):
        response = bot.event({"type": "app_uninstalled"})
    assert response.status == 200
    assert any(TOKEN_GONE in line for line in _warnings(caplog))
    assert bot.calls() == []  # nothing to ask Slack: the app is gone


@pytest.mark.parametrize(
    ("tokens", "warned"),
    [({"oauth": ["UALLOWED"], "bot": []}, False), ({"oauth": [], "bot": ["UBOT"]}, True)],
    ids=["user-token", "bot-token"],
)
def test_tokens_revoked_warns_only_for_the_bot_token(bot, caplog, tokens, warned):
    with caplog.at_level(logging.INFO, logger="handlers.lifecycle"):
        response = bot.event({"type": "tokens_revoked", "tokens": tokens})
    assert response.status == 200
    assert any(TOKEN_GONE in line for line in _warnings(caplog)) is warned
    assert bot.calls() == []
