"""SYNC_ALERT_CHANNEL as an operator meets it: `python -m bot sync` against exports served on
loopback and the Slack Web API stand-in, on both engines. One message when a kind starts
failing, one when it recovers, none while nothing changes; Slack failing never fails the sync."""

from __future__ import annotations

import functools
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from slack_sdk.models.blocks import Block
from slack_sdk.oauth.installation_store import Installation

from bot.cli.sync_alerts import AlertTarget, SyncAlerts, alert_target
from bot.config import ConfigError, Settings
from bot.slack.installation_store import build_installation_store
from bot.store.db import create_store_engine
from bot.store.importing import ImportKind
from bot.sync.run import KindResult
from tests.helpers.export_server import Export, ExportServer
from tests.helpers.installations import clear_installation_tables
from tests.helpers.paths import ROOT
from tests.helpers.processes import run_main
from tests.helpers.slack_standin import RecordedCall, SlackStandIn

pytestmark = pytest.mark.usefixtures("sync_command_environment")

LICENSES = (ROOT / "tests" / "data" / "customersdot_licenses.csv").read_bytes()
AUTHORIZATION = "Bearer alert-s3cret-value"
URL_PASSWORD = "url-pa55word"
CHANNEL = "C0ALERTS"
BOT_TOKEN = "xoxb-alerts-test"


PATH = "/exports/licenses.csv"


@pytest.fixture
def exports() -> Iterator[ExportServer]:
    with ExportServer({PATH: Export(LICENSES, '"lic-1"')}) as running:
        yield running


def with_password(url: str) -> str:
    return url.replace("http://", f"http://reader:{URL_PASSWORD}@", 1)


def sync(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    store_url: str,
    exports: ExportServer,
    slack: SlackStandIn,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    for name in ("SYNC_SUBSCRIPTIONS", "SYNC_LICENSES", "SYNC_HOSTS", "SYNC_RECONCILIATIONS"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_AUTHORIZATION", raising=False)
    settings = {
        "SYNC_LICENSES": exports.url(PATH),
        "SYNC_LICENSES_AUTHORIZATION": AUTHORIZATION,
        "SYNC_ALERT_CHANNEL": CHANNEL,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": slack.api_url,
        **env,
    }
    return run_main(monkeypatch, capsys, tmp_path, "sync", DATABASE_URL=store_url, **settings)


def posted_text(call: RecordedCall) -> str:
    blocks = call.json_param("blocks")
    return f"{call.params['text']}\n{blocks}"


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


def test_a_failing_kind_alerts_once_and_once_more_when_it_recovers(
    exports, slack_standin, store_url, tmp_path, monkeypatch, capsys, caplog
):
    caplog.set_level(logging.INFO)
    run = functools.partial(sync, monkeypatch, capsys, tmp_path, store_url, exports, slack_standin)
    assert run().returncode == 0
    assert run().returncode == 0  # a 304 this time
    # Succeeding from the start, and going on succeeding: nothing to say.
    assert slack_standin.calls_to("chat.postMessage") == []

    exports.exports[PATH] = Export(status=500)
    first, second = run(), run()
    assert first.returncode == second.returncode == 1
    posts = slack_standin.calls_to("chat.postMessage")
    assert len(posts) == 1, [posted_text(post) for post in posts]
    failing = posts[0]
    assert failing.params["channel"] == CHANNEL and failing.token == BOT_TOKEN
    assert failing.params["text"].startswith(":warning: *Sync failing*: licenses: failed")
    assert "HTTP 500" in failing.params["text"]
    # Block Kit with the text as its fallback, the source named but masked.
    assert failing.json_param("blocks")[0]["type"] == "section"
    Block.parse_all(failing.json_param("blocks"))
    assert f"{exports.url(PATH)}: " in failing.params["text"]

    exports.exports[PATH] = Export(LICENSES, '"lic-2"')
    assert run().returncode == 0
    assert run().returncode == 0
    posts = slack_standin.calls_to("chat.postMessage")
    assert len(posts) == 2
    recovered = posts[1].params["text"]
    assert recovered.startswith(":white_check_mark: *Sync recovered*: licenses: ")
    assert "rows from http://127.0.0.1:" in recovered

    # Each alert is logged as well, once; nothing carries a credential.
    log = logged(caplog)
    assert log.count("sync alert (started_failing)") == 1
    assert log.count("sync alert (recovered)") == 1
    for text in (*(posted_text(post) for post in posts), log):
        assert "alert-s3cret" not in text and URL_PASSWORD not in text
        assert BOT_TOKEN not in text


def test_a_url_password_never_reaches_the_alert(
    exports, slack_standin, store_url, tmp_path, monkeypatch, capsys, caplog
):
    exports.exports[PATH] = Export(status=404)
    url = with_password(exports.url(PATH))
    result = sync(
        monkeypatch,
        capsys,
        tmp_path,
        store_url,
        exports,
        slack_standin,
        SYNC_LICENSES=url,
        SYNC_LICENSES_AUTHORIZATION="",
    )
    assert result.returncode == 1
    (post,) = slack_standin.calls_to("chat.postMessage")
    assert "http://***@127.0.0.1:" in post.params["text"]
    for text in (posted_text(post), logged(caplog), result.stdout + result.stderr):
        assert URL_PASSWORD not in text


@pytest.mark.parametrize("failure", ["server_error", "rate_limited", "channel_not_found"])
def test_slack_refusing_the_alert_changes_nothing_but_the_log(
    failure, exports, slack_standin, store_url, tmp_path, monkeypatch, capsys, caplog
):
    if failure == "channel_not_found":
        slack_standin.fail("chat.postMessage", "error", error="channel_not_found")
    else:
        # More failures than the client's bounded retries.
        slack_standin.fail("chat.postMessage", failure, times=5, retry_after=0)
    exports.exports[PATH] = Export(status=404)
    failed = sync(monkeypatch, capsys, tmp_path, store_url, exports, slack_standin)
    # The sync's own outcome: licenses failed (nothing served), not Slack.
    assert failed.returncode == 1
    assert "licenses: failed" in failed.stderr
    problems = [r for r in caplog.records if "not posted to SYNC_ALERT_CHANNEL" in r.getMessage()]
    assert len(problems) == 1
    expected = {
        "server_error": "HTTP 500",
        "rate_limited": "HTTP 429",
        "channel_not_found": "channel_not_found",
    }[failure]
    assert expected in problems[0].getMessage() and "not retried" in problems[0].getMessage()
    assert problems[0].levelno == logging.ERROR
    assert "sync alert (started_failing)" in logged(caplog)
    # The alert is not repeated by the next run: the kind is still failing, the same state.
    slack_standin.clear()
    assert sync(monkeypatch, capsys, tmp_path, store_url, exports, slack_standin).returncode == 1
    assert slack_standin.calls_to("chat.postMessage") == []


def test_without_a_channel_nothing_is_posted(
    exports, slack_standin, store_url, tmp_path, monkeypatch, capsys
):
    exports.exports[PATH] = Export(status=404)
    result = sync(
        monkeypatch, capsys, tmp_path, store_url, exports, slack_standin, SYNC_ALERT_CHANNEL=""
    )
    assert result.returncode == 1
    assert slack_standin.calls == []


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"SLACK_BOT_TOKEN": ""}, "SYNC_ALERT_CHANNEL needs SLACK_BOT_TOKEN"),
        ({"SYNC_ALERT_CHANNEL": "#sales-ops"}, "SYNC_ALERT_CHANNEL is a channel id"),
        (
            {
                "SLACK_BOT_TOKEN": "",
                "SLACK_CLIENT_ID": "1.2",
                "SLACK_CLIENT_SECRET": "client-secret",
                "SLACK_SCOPES": "commands,chat:write",
                "SLACK_TOKEN_ENCRYPTION_KEY": "a" * 43 + "=",
                "ALLOWED_TEAM_IDS": "T0TEAM",
            },
            "In OAuth mode SYNC_ALERT_CHANNEL names the channel with the workspace",
        ),
    ],
)
def test_an_alert_channel_that_cannot_be_posted_to_is_refused_at_start(
    env, said, exports, slack_standin, store_url, tmp_path, monkeypatch, capsys
):
    result = sync(monkeypatch, capsys, tmp_path, store_url, exports, slack_standin, **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0], result.stderr
    assert exports.seen == [] and slack_standin.calls == []


def test_in_oauth_mode_the_alert_goes_with_the_named_workspaces_installation(
    exports, slack_standin, store_url, tmp_path, monkeypatch, capsys, caplog
):
    key = Fernet.generate_key().decode()
    oauth = {
        "SLACK_BOT_TOKEN": "",
        "SLACK_CLIENT_ID": "1.2",
        "SLACK_CLIENT_SECRET": "client-secret",
        "SLACK_SCOPES": "commands,chat:write",
        "SLACK_TOKEN_ENCRYPTION_KEY": key,
        "ALLOWED_TEAM_IDS": "T0TEAM",
    }
    engine = create_store_engine(store_url)
    clear_installation_tables(engine)
    store = build_installation_store(Settings.from_env(oauth, dotenv_path=None), engine)
    for team, token in (("T0TEAM", "xoxb-installed-team"), ("T0OTHER", "xoxb-other-team")):
        store.save(
            Installation(
                app_id="A0APP",
                team_id=team,
                bot_token=token,
                bot_id="BBOT",
                bot_user_id="UBOT",
                bot_scopes="commands,chat:write",
                user_id="UINSTALLER",
            )
        )
    exports.exports[PATH] = Export(status=404)
    try:
        result = sync(
            monkeypatch,
            capsys,
            tmp_path,
            store_url,
            exports,
            slack_standin,
            SYNC_ALERT_CHANNEL="T0TEAM:C0ALERTS",
            **oauth,
        )
        assert result.returncode == 1, result.stderr
        (post,) = slack_standin.calls_to("chat.postMessage")
        assert post.token == "xoxb-installed-team" and post.params["channel"] == "C0ALERTS"

        # A workspace the bot does not serve gets nothing, though it is installed: logged.
        exports.exports[PATH] = Export(LICENSES)
        slack_standin.clear()
        other = sync(
            monkeypatch,
            capsys,
            tmp_path,
            store_url,
            exports,
            slack_standin,
            SYNC_ALERT_CHANNEL="T0OTHER:C0ALERTS",
            **oauth,
        )
        assert other.returncode == 0, other.stderr
        assert slack_standin.calls_to("chat.postMessage") == []
        assert "no installation of T0OTHER that the bot serves" in logged(caplog)
    finally:
        clear_installation_tables(engine)
        engine.dispose()


def test_in_oauth_mode_the_channel_is_named_with_its_workspace():
    oauth = Settings(
        slack_client_id="1.2",
        slack_client_secret="client-secret",
        slack_scopes=("chat:write",),
        allowed_team_ids=frozenset({"T0TEAM"}),
        sync_alert_channel=" T0TEAM:C0ALERTS ",
    )
    assert alert_target(oauth) == AlertTarget(channel="C0ALERTS", owner_id="T0TEAM")
    with pytest.raises(ConfigError):
        alert_target(Settings(slack_bot_token=BOT_TOKEN, sync_alert_channel="T0TEAM:C0ALERTS"))


def test_a_workspace_without_an_installation_is_said_in_the_log(caplog):
    """OAuth mode when the named workspace has no installation the bot may use."""
    alerts = SyncAlerts(AlertTarget(channel="C0ALERTS", owner_id="T0GONE"), lambda: None)
    alerts.on_result(
        KindResult(ImportKind.HOSTS, False, "hosts: failed, …", alert="started_failing")
    )
    problem = next(r for r in caplog.records if "not posted" in r.getMessage())
    assert "no installation of T0GONE that the bot serves" in problem.getMessage()


def test_a_result_without_an_alert_calls_nothing():
    def never() -> None:
        raise AssertionError("no client needed")

    SyncAlerts(AlertTarget(channel="C0ALERTS"), never).on_result(
        KindResult(ImportKind.HOSTS, True, "hosts: 3 rows")
    )
