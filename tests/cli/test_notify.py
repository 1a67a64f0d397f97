"""`python -m bot notify` as an operator runs it, against the Slack stand-in, on both engines."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import select

from bot import logs
from bot.config import Settings
from bot.logs import QUIET_HTTP_LOGGERS, configure_logging
from bot.slack.installation_store import build_installation_store
from bot.store import follows
from bot.store.db import create_store_engine, session_scope
from bot.store.importing import ImportKind, import_file
from bot.store.models import License
from tests.helpers.import_files import license_row, write_csv
from tests.helpers.installations import clear_installation_tables
from tests.helpers.processes import run_main
from tests.helpers.slack_standin import SlackStandIn


@pytest.fixture(autouse=True)
def logging_kept(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A command configures the bot's logging; the suite's handlers stay, levels come back."""
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", *QUIET_HTTP_LOGGERS)}

    def configure_keeping_handlers(settings: Settings) -> None:
        kept = list(root.handlers)
        configure_logging(settings)
        root.handlers[:] = kept

    monkeypatch.setattr(logs, "configure_logging", configure_keeping_handlers)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _followed_and_renewed(session_factory, tmp_path, channel_id: str = "C1") -> None:
    """Acme followed in `channel_id` by UALLOWED, then renewed."""
    now = datetime.now(UTC)
    rows = [license_row(1, user_count=250)]
    import_file(session_factory, ImportKind.LICENSES, write_csv(tmp_path / "a.csv", rows))
    with session_scope(session_factory) as session:
        key = session.scalars(select(License.customer_key)).one()
        follows.add_follow(
            session, team_id="T0TEAM", channel_id=channel_id, thread_ts=None, customer_key=key,
            customer_name="Acme Inc.", owner_user_id="UALLOWED", now=now - timedelta(minutes=5),
        )  # fmt: skip
    renewal = license_row(
        2, user_count=300, issued_at=now.isoformat(), starts_at="2027-01-10",
        expires_at="2028-01-10",
    )  # fmt: skip
    import_file(
        session_factory, ImportKind.LICENSES, write_csv(tmp_path / "b.csv", [*rows, renewal])
    )


def test_notify_posts_a_renewal_once_and_then_nothing(
    monkeypatch, capsys, tmp_path, store_url, session_factory
):
    _followed_and_renewed(session_factory, tmp_path)
    with SlackStandIn() as slack:
        slack.add_user("UALLOWED")
        slack.add_channel("C1")
        env = {
            "DATABASE_URL": store_url, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": slack.api_url,
            "SLACK_SIGNING_SECRET": "secret", "ALLOWED_USER_IDS": "UALLOWED",
        }  # fmt: skip
        first = run_main(monkeypatch, capsys, tmp_path, "notify", **env)
        assert first.returncode == 0, first.stderr
        assert "notify: 1 posted (1 events)" in first.stdout
        second = run_main(monkeypatch, capsys, tmp_path, "notify", **env)
        assert "notify: 0 posted" in second.stdout
        assert len(slack.calls_to("chat.postMessage")) == 1


def test_notify_without_a_slack_token_says_what_to_set(monkeypatch, capsys, tmp_path, store_url):
    result = run_main(monkeypatch, capsys, tmp_path, "notify", DATABASE_URL=store_url)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN" in result.stderr


def test_in_oauth_mode_an_expiring_rotating_token_is_refreshed_before_posting(
    monkeypatch, capsys, tmp_path, store_url, session_factory
):
    _followed_and_renewed(session_factory, tmp_path, channel_id="C0DEALS")
    oauth = {
        "SLACK_BOT_TOKEN": "", "SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "client-secret",
        "SLACK_SCOPES": "commands,chat:write",
        "SLACK_TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "ALLOWED_TEAM_IDS": "T0TEAM", "ALLOWED_USER_IDS": "UALLOWED",
    }  # fmt: skip
    engine = create_store_engine(store_url)
    clear_installation_tables(engine)
    store = build_installation_store(Settings.from_env(oauth, dotenv_path=None), engine)
    # Slack's rotating tokens last 12 hours; this one is due (inside Bolt's 2-hour margin).
    store.save(
        Installation(
            app_id="A0APP", team_id="T0TEAM", bot_token="xoxe.xoxb-1-original",
            bot_refresh_token="xoxe-1-original-refresh", bot_token_expires_in=60,
            bot_id="BBOT", bot_user_id="UBOT", bot_scopes="commands,chat:write",
            user_id="UINSTALLER",
        )
    )  # fmt: skip
    try:
        with SlackStandIn() as slack:
            # The stand-in knows the token and its refresh token as the workspace's bot's.
            slack.add_oauth_grant(
                "unused", team_id="T0TEAM", bot_token="xoxe.xoxb-1-original",
                refresh_token="xoxe-1-original-refresh",
            )  # fmt: skip
            slack.add_user("UALLOWED", team_id="T0TEAM")
            slack.add_channel("C0DEALS")
            result = run_main(
                monkeypatch, capsys, tmp_path, "notify", DATABASE_URL=store_url,
                SLACK_API_URL=slack.api_url, **oauth,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            assert "notify: 1 posted (1 events)" in result.stdout
            (refresh,) = slack.calls_to("oauth.v2.access")
            assert refresh.params["grant_type"] == "refresh_token"
            (post,) = slack.calls_to("chat.postMessage")
            assert post.params["channel"] == "C0DEALS"
            assert post.token == "xoxe.xoxb-1-rotated-1"  # the fresh token, not the stored one
            assert {call.token for call in slack.calls} - {None} <= {"xoxe.xoxb-1-rotated-1"}
    finally:
        clear_installation_tables(engine)
        engine.dispose()
