"""`python -m bot notify` as an operator runs it, against the Slack stand-in, on both engines."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot import logs
from bot.config import Settings
from bot.logs import QUIET_HTTP_LOGGERS, configure_logging
from bot.store import follows
from bot.store.db import session_scope
from bot.store.importing import ImportKind, import_file
from bot.store.models import License
from tests.helpers.import_files import license_row, write_csv
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


def test_notify_posts_a_renewal_once_and_then_nothing(
    monkeypatch, capsys, tmp_path, store_url, session_factory
):
    now = datetime.now(UTC)
    rows = [license_row(1, user_count=250)]
    import_file(session_factory, ImportKind.LICENSES, write_csv(tmp_path / "a.csv", rows))
    with session_scope(session_factory) as session:
        key = session.scalars(select(License.customer_key)).one()
        follows.add_follow(
            session, team_id="T0TEAM", channel_id="C1", thread_ts=None, customer_key=key,
            customer_name="Acme Inc.", owner_user_id="UALLOWED", now=now - timedelta(minutes=5),
        )  # fmt: skip
    renewal = license_row(
        2, user_count=300, issued_at=now.isoformat(), starts_at="2027-01-10",
        expires_at="2028-01-10",
    )  # fmt: skip
    import_file(
        session_factory, ImportKind.LICENSES, write_csv(tmp_path / "b.csv", [*rows, renewal])
    )
    with SlackStandIn() as slack:
        slack.add_user("UALLOWED")
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
