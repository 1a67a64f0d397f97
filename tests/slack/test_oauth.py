"""Many workspaces end to end: install, redirect, commands per workspace, rotation, uninstall.

Drives the WSGI app as browsers and Slack do, on both engines, against the loopback stand-in
(SLACK_API_URL): Slack's authorize URL is only generated, never fetched.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.sqlalchemy_utils import normalize_datetime_for_db
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import MetaData, select, text

from bot.app import SlackWsgiApp, create_app
from bot.config import Settings
from bot.services import build_services
from bot.slack.install_guard import (
    INSTALLS_PER_CLIENT_PER_MINUTE,
    MAX_STATES_IN_FLIGHT,
    InstallGuard,
    client_of,
)
from bot.store.db import create_store_engine
from bot.store.models import AuditEvent
from tests.helpers.e2e_dataset import ALL_CONTACT_EMAILS, load_dataset
from tests.helpers.installations import clear_installation_tables, raw_rows
from tests.helpers.slack_requests import event_body, post_to_wsgi, slash_command_body
from tests.helpers.slack_standin import RecordedCall, SlackStandIn
from tests.helpers.store_down import DOWN_STORE_URL

SECRET = "oauth-signing-secret"
CLIENT_ID = "111.222"
CLIENT_SECRET = "oauth-client-secret"
KEY = Fernet.generate_key().decode()
STATE_COOKIE = "slack-app-oauth-state"
# The organisations the app serves; T7 and T9 are other organisations' workspaces.
ALLOWED_TEAMS = ("T1", "T2")
ALLOWED_ENTERPRISES = ("E1",)
_event_ids = itertools.count(1)


def client_credentials(call: RecordedCall) -> tuple[str, str]:
    """slack_sdk sends oauth.v2.access's client id and secret as HTTP Basic auth."""
    scheme, _, encoded = (call.authorization or "").partition(" ")
    assert scheme == "Basic"
    client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
    return client_id, client_secret


@dataclass
class Got:
    status: int
    headers: dict[str, str]
    body: str


def get(
    wsgi: Callable[..., Any],
    path: str,
    query: str = "",
    cookie: str | None = None,
    *,
    client: str = "198.51.100.7",
    forwarded_for: str | None = None,
) -> Got:
    """A browser's GET, in-process, from the address `client` (through a proxy that says it
    forwards `forwarded_for`)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": client,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if cookie is not None:
        environ["HTTP_COOKIE"] = cookie
    if forwarded_for is not None:
        environ["HTTP_X_FORWARDED_FOR"] = forwarded_for
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
        captured["status"] = int(status.split(" ", 1)[0])
        captured["headers"] = {name.lower(): value for name, value in headers}
        return lambda _data: None

    body = b"".join(wsgi(environ, start_response))
    return Got(captured["status"], captured["headers"], body.decode("utf-8"))


@dataclass
class OAuthBot:
    wsgi: SlackWsgiApp
    slack: SlackStandIn
    settings: Settings

    @property
    def engine(self):
        return self.wsgi._services.engine

    def start_install(self) -> tuple[str, str]:
        """GET /slack/install: (state, cookie header to send back)."""
        response = get(self.wsgi, "/slack/install")
        assert response.status == 302
        state = parse_qs(urlsplit(response.headers["location"]).query)["state"][0]
        cookie = response.headers["set-cookie"].split(";", 1)[0]
        return state, cookie

    def install(self, code: str, **grant: Any) -> Got:
        self.slack.add_oauth_grant(code, **grant)
        state, cookie = self.start_install()
        return get(
            self.wsgi, "/slack/oauth_redirect", urlencode({"code": code, "state": state}), cookie
        )

    def command(
        self, team_id: str, user_id: str, *, enterprise_id: str | None = None, text: str = "acme"
    ):
        body = slash_command_body(
            "/license",
            text,
            user_id=user_id,
            team_id=team_id,
            enterprise_id=enterprise_id,
            response_url=self.slack.response_url("cmd"),
        )
        return post_to_wsgi(self.wsgi, body, SECRET)

    def event(self, event: dict[str, Any], team_id: str, enterprise_id: str | None = None):
        body = event_body(
            event,
            team_id=team_id,
            enterprise_id=enterprise_id,
            event_id=f"EvLIFECYCLE{next(_event_ids):04d}",
        )
        return post_to_wsgi(self.wsgi, body, SECRET)

    def audit_rows(self) -> list[AuditEvent]:
        with self.wsgi._services.session_factory() as session:
            return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


@pytest.fixture
def oauth_bot(settings: Settings, slack_standin: SlackStandIn, engine) -> OAuthBot:
    return make_oauth_bot(settings, slack_standin, engine)


def make_oauth_bot(
    settings: Settings,
    slack_standin: SlackStandIn,
    engine,
    *,
    dataset: Path | None = None,
    oauth_parts_prebuilt: bool = True,
    **overrides: Any,
) -> OAuthBot:
    """The WSGI app in OAuth mode; `overrides` replace settings, `dataset` loads the e2e data."""
    clear_installation_tables(engine)
    settings = replace(
        settings,
        slack_bot_token=None,
        slack_signing_secret=SECRET,
        slack_api_url=slack_standin.api_url,
        slack_client_id=CLIENT_ID,
        slack_client_secret=CLIENT_SECRET,
        slack_scopes=("commands", "users:read"),
        slack_token_encryption_key=KEY,
        allowed_user_ids=frozenset({"UALLOWED", "UCOLLEAGUE", "UPARTNER"}),
        allowed_team_ids=frozenset(ALLOWED_TEAMS),
        allowed_enterprise_ids=frozenset(ALLOWED_ENTERPRISES),
    )
    settings = replace(settings, **overrides)
    services = build_services(settings)
    if not oauth_parts_prebuilt:
        services = replace(services, installation_store=None, workspace_resolvers=None)
    if dataset is not None:
        load_dataset(services.session_factory, dataset, datetime.now(UTC).date())
    wsgi = SlackWsgiApp(create_app(settings, services=services), services)
    return OAuthBot(wsgi, slack_standin, settings)


def test_install_sends_the_browser_to_slack_with_a_state_it_remembers(oauth_bot):
    response = get(oauth_bot.wsgi, "/slack/install")
    assert response.status == 302
    location = urlsplit(response.headers["location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        "slack.com",
        "/oauth/v2/authorize",
    )
    query = parse_qs(location.query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["scope"] == ["commands,users:read"]
    state = query["state"][0]
    assert response.headers["set-cookie"].startswith(f"{STATE_COOKIE}={state};")
    assert [row["state"] for row in raw_rows(oauth_bot.engine, "slack_oauth_states")] == [state]
    assert oauth_bot.slack.calls == []  # nothing was fetched


def test_one_client_starts_a_bounded_number_of_installs_a_minute(oauth_bot):
    """Each GET /slack/install stores a state: one client cannot fill the table."""
    started = [
        get(oauth_bot.wsgi, "/slack/install", client="203.0.113.66").status
        for _ in range(INSTALLS_PER_CLIENT_PER_MINUTE + 5)
    ]
    assert started == [302] * INSTALLS_PER_CLIENT_PER_MINUTE + [429] * 5
    refused = get(oauth_bot.wsgi, "/slack/install", client="203.0.113.66")
    assert refused.headers["retry-after"] == "60" and "Try again in a minute" in refused.body
    assert len(raw_rows(oauth_bot.engine, "slack_oauth_states")) == INSTALLS_PER_CLIENT_PER_MINUTE
    # Someone else is not held up by it.
    assert get(oauth_bot.wsgi, "/slack/install", client="198.51.100.20").status == 302


def test_behind_a_proxy_each_installer_is_counted_apart(oauth_bot):
    """Behind nginx or Heroku's router every request comes from the proxy's address: the
    installer is the address the proxy put last in X-Forwarded-For, never one the client
    wrote before it."""
    proxy = "10.0.0.5"
    for _ in range(INSTALLS_PER_CLIENT_PER_MINUTE):
        # The client forged a first entry each time: the proxy's own entry is what counts.
        forged = f"192.0.2.{_}, 203.0.113.66"
        assert (
            get(oauth_bot.wsgi, "/slack/install", client=proxy, forwarded_for=forged).status == 302
        )
    again = get(oauth_bot.wsgi, "/slack/install", client=proxy, forwarded_for="203.0.113.66")
    assert again.status == 429
    other = get(oauth_bot.wsgi, "/slack/install", client=proxy, forwarded_for="203.0.113.99")
    assert other.status == 302


@pytest.mark.parametrize(
    ("environ", "client"),
    [
        ({"REMOTE_ADDR": "198.51.100.7", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, "198.51.100.7"),
        ({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 5.6.7.8"}, "5.6.7.8"),
        ({"REMOTE_ADDR": "2001:db8:1:2:3:4:5:6"}, "2001:db8:1:2::/64"),
        ({"REMOTE_ADDR": "10.1.2.3"}, "10.1.2.3"),
    ],
)
def test_who_counts_as_one_installer(environ, client):
    assert client_of(environ) == client


def test_a_store_that_cannot_count_the_installs_refuses_for_now(oauth_bot):
    guard = InstallGuard(create_store_engine(DOWN_STORE_URL), "slack_oauth_states")
    refusal = guard.refusal({"REMOTE_ADDR": "198.51.100.7"})
    assert refusal is not None and refusal.status.startswith("503")


def test_expired_states_are_removed_and_states_in_flight_are_capped(oauth_bot):
    """slack_sdk removes a state only when its redirect comes back; the bot removes the expired
    ones when an install starts, and starts none while MAX_STATES_IN_FLIGHT wait."""
    states = SQLAlchemyOAuthStateStore.build_oauth_states_table(MetaData(), "slack_oauth_states")
    past = normalize_datetime_for_db(datetime.now(UTC) - timedelta(minutes=1))
    future = normalize_datetime_for_db(datetime.now(UTC) + timedelta(minutes=5))
    with oauth_bot.engine.begin() as connection:
        connection.execute(
            states.insert(), [{"state": f"old-{n}", "expire_at": past} for n in range(500)]
        )
    assert get(oauth_bot.wsgi, "/slack/install").status == 302
    assert len(raw_rows(oauth_bot.engine, "slack_oauth_states")) == 1  # the new one only
    with oauth_bot.engine.begin() as connection:
        connection.execute(
            states.insert(),
            [{"state": f"live-{n}", "expire_at": future} for n in range(MAX_STATES_IN_FLIGHT)],
        )
    busy = get(oauth_bot.wsgi, "/slack/install", client="198.51.100.30")
    assert busy.status == 503 and busy.headers["retry-after"] == "300"
    assert len(raw_rows(oauth_bot.engine, "slack_oauth_states")) == MAX_STATES_IN_FLIGHT + 1


def test_oauth_redirect_exchanges_the_code_and_stores_encrypted_tokens(oauth_bot):
    response = oauth_bot.install("code-1", team_id="T1", bot_token="xoxb-t1-plaintext-secret")
    assert response.status == 200, response.body
    [exchange] = oauth_bot.slack.calls_to("oauth.v2.access")
    assert exchange.params["code"] == "code-1"
    assert client_credentials(exchange) == (CLIENT_ID, CLIENT_SECRET)
    for table in ("slack_installations", "slack_bots"):
        [row] = raw_rows(oauth_bot.engine, table)
        assert row["team_id"] == "T1"
        assert str(row["bot_token"]).startswith("fernet:")
        assert "xoxb-t1-plaintext-secret" not in " ".join(str(v) for v in row.values())
    # The state was single-use.
    assert raw_rows(oauth_bot.engine, "slack_oauth_states") == []


def test_a_redirect_without_the_browsers_state_or_a_replayed_state_installs_nothing(oauth_bot):
    oauth_bot.slack.add_oauth_grant("code-2", team_id="T1", bot_token="xoxb-t1")
    state, cookie = oauth_bot.start_install()
    query = urlencode({"code": "code-2", "state": state})
    forged = get(oauth_bot.wsgi, "/slack/oauth_redirect", query)  # no cookie
    assert forged.status == 400
    assert get(oauth_bot.wsgi, "/slack/oauth_redirect", query, cookie).status == 200
    replayed = get(oauth_bot.wsgi, "/slack/oauth_redirect", query, cookie)
    assert replayed.status == 401  # Bolt: invalid_state
    assert oauth_bot.slack.call_count("oauth.v2.access") == 1
    assert len(raw_rows(oauth_bot.engine, "slack_bots")) == 1


def test_each_workspace_is_answered_with_its_own_token_and_audited_with_its_ids(oauth_bot):
    oauth_bot.install("code-a", team_id="T1", bot_token="xoxb-team-one")
    oauth_bot.install("code-b", team_id="T2", enterprise_id="E1", bot_token="xoxb-team-two")
    oauth_bot.slack.add_user("UALLOWED", email="ae@one.example", team_id="T1")
    oauth_bot.slack.add_user("UCOLLEAGUE", email="ae@two.example", team_id="T2", enterprise_id="E1")
    oauth_bot.slack.clear()

    first = oauth_bot.command("T1", "UALLOWED")
    second = oauth_bot.command("T2", "UCOLLEAGUE", enterprise_id="E1")
    assert first.status == second.status == 200
    assert first.json()["response_type"] == second.json()["response_type"] == "ephemeral"
    users_info = {
        call.params["user"]: call.token for call in oauth_bot.slack.calls_to("users.info")
    }
    assert users_info == {"UALLOWED": "xoxb-team-one", "UCOLLEAGUE": "xoxb-team-two"}
    audited = {(row.user_id, row.team_id, row.enterprise_id) for row in oauth_bot.audit_rows()}
    assert audited == {("UALLOWED", "T1", None), ("UCOLLEAGUE", "T2", "E1")}


def test_on_enterprise_grid_external_means_another_enterprise(oauth_bot):
    oauth_bot.install("code-g", team_id="T2", enterprise_id="E1", bot_token="xoxb-grid")
    # A colleague whose home workspace is another one of the same organisation.
    oauth_bot.slack.add_user("UCOLLEAGUE", email="c@acme.example", team_id="T3", enterprise_id="E1")
    # Someone from another organisation in a shared channel, even though listed by id.
    oauth_bot.slack.add_user(
        "UPARTNER", email="p@partner.example", team_id="T9", enterprise_id="E9"
    )

    assert oauth_bot.command("T2", "UCOLLEAGUE", enterprise_id="E1").status == 200
    assert oauth_bot.command("T2", "UPARTNER", enterprise_id="E1").status == 200
    reasons = {row.user_id: (row.outcome, row.reason) for row in oauth_bot.audit_rows()}
    assert reasons["UPARTNER"] == ("denied", "external")
    assert reasons["UCOLLEAGUE"][0] != "denied"


def test_a_workspace_that_never_installed_gets_no_answer_and_no_lookup(oauth_bot, caplog):
    """Refused like any other refusal: a polite answer, an audit row, one INFO line (Bolt
    logged an ERROR for each such request and audited nothing), no Slack call."""
    caplog.set_level(logging.INFO)
    oauth_bot.slack.add_user("UALLOWED", email="ae@one.example", team_id="T7")
    response = oauth_bot.command("T7", "UALLOWED")
    assert response.status == 200
    assert "isn't available in this workspace" in response.text
    assert "acme" not in response.text.lower()
    assert oauth_bot.slack.calls == []
    [row] = oauth_bot.audit_rows()
    assert (row.user_id, row.team_id, row.outcome, row.reason) == (
        "UALLOWED",
        "T7",
        "denied",
        "not_installed",
    )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    [line] = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert "reason=not_installed" in line


def test_an_expiring_rotating_token_is_refreshed_and_stored_encrypted(oauth_bot):
    # Slack's rotating tokens last 12 hours; this one is due (inside the 2-hour margin).
    oauth_bot.install(
        "code-r",
        team_id="T1",
        bot_token="xoxe.xoxb-1-original",
        refresh_token="xoxe-1-original-refresh",
        expires_in=60,
    )
    oauth_bot.slack.add_user("UALLOWED", email="ae@one.example", team_id="T1")
    oauth_bot.slack.clear()

    assert oauth_bot.command("T1", "UALLOWED").status == 200
    [refresh] = oauth_bot.slack.calls_to("oauth.v2.access")
    assert refresh.params["grant_type"] == "refresh_token"
    assert refresh.params["refresh_token"] == "xoxe-1-original-refresh"
    assert client_credentials(refresh) == (CLIENT_ID, CLIENT_SECRET)
    [users_info] = oauth_bot.slack.calls_to("users.info")
    assert users_info.token == "xoxe.xoxb-1-rotated-1"
    [bot_row] = raw_rows(oauth_bot.engine, "slack_bots")
    stored = " ".join(str(v) for v in bot_row.values())
    assert "xoxe.xoxb-1-rotated-1" not in stored
    assert "xoxe-1-refresh-1" not in stored
    store = oauth_bot.wsgi._services.installation_store
    bot = store.find_bot(enterprise_id=None, team_id="T1")
    assert (bot.bot_token, bot.bot_refresh_token) == ("xoxe.xoxb-1-rotated-1", "xoxe-1-refresh-1")

    # The fresh token lasts 12 hours: the next request does not refresh again.
    oauth_bot.command("T1", "UALLOWED")
    assert oauth_bot.slack.call_count("oauth.v2.access") == 1


def test_app_uninstalled_deletes_the_workspace_at_once(oauth_bot):
    oauth_bot.install("code-u1", team_id="T1", bot_token="xoxb-one")
    oauth_bot.install("code-u2", team_id="T2", bot_token="xoxb-two")
    oauth_bot.slack.add_user("UALLOWED", email="ae@one.example", team_id="T1")

    response = oauth_bot.event({"type": "app_uninstalled"}, team_id="T1")
    assert response.status == 200
    for table in ("slack_installations", "slack_bots"):
        assert {row["team_id"] for row in raw_rows(oauth_bot.engine, table)} == {"T2"}
    oauth_bot.slack.clear()
    oauth_bot.command("T1", "UALLOWED")
    assert oauth_bot.slack.calls_to("users.info") == []


def test_an_uninstalled_workspace_forgets_its_identity_cache(oauth_bot):
    """The uninstall cleanup also drops the workspace's resolver and its cached decisions:
    a reinstalled workspace asks Slack again who its users are."""
    resolvers = oauth_bot.wsgi._services.workspace_resolvers
    oauth_bot.install("code-r1", team_id="T1", bot_token="xoxb-one")
    oauth_bot.slack.add_user("UALLOWED", email="ae@one.example", team_id="T1")
    oauth_bot.command("T1", "UALLOWED")
    assert len(oauth_bot.slack.calls_to("users.info")) == 1
    assert len(resolvers) == 1

    assert oauth_bot.event({"type": "app_uninstalled"}, team_id="T1").status == 200
    assert len(resolvers) == 0
    oauth_bot.install("code-r2", team_id="T1", bot_token="xoxb-one-again")
    oauth_bot.slack.clear()
    oauth_bot.slack.add_user("UALLOWED", email="ae@one.example", team_id="T1")
    oauth_bot.command("T1", "UALLOWED")
    assert len(oauth_bot.slack.calls_to("users.info")) == 1  # not answered from a stale cache


def test_an_app_given_services_without_its_oauth_parts_still_forgets_an_uninstall(
    settings, slack_standin, engine
):
    """create_app builds the installation store and workspace resolvers when the services it
    is given lack them, and keeps them where the lifecycle handlers find them."""
    oauth_bot = make_oauth_bot(settings, slack_standin, engine, oauth_parts_prebuilt=False)
    oauth_bot.install("code-p1", team_id="T1", bot_token="xoxb-one")
    oauth_bot.slack.add_user("UALLOWED", email="ae@one.example", team_id="T1")
    oauth_bot.command("T1", "UALLOWED")
    assert len(oauth_bot.slack.calls_to("users.info")) == 1

    assert oauth_bot.event({"type": "app_uninstalled"}, team_id="T1").status == 200
    assert raw_rows(oauth_bot.engine, "slack_bots") == []
    oauth_bot.install("code-p2", team_id="T1", bot_token="xoxb-one-again")
    oauth_bot.slack.clear()
    oauth_bot.slack.add_user("UALLOWED", email="ae@one.example", team_id="T1")
    oauth_bot.command("T1", "UALLOWED")
    assert len(oauth_bot.slack.calls_to("users.info")) == 1  # not answered from a stale cache


def test_a_revoked_bot_token_forgets_the_workspaces_identity_cache(oauth_bot):
    resolvers = oauth_bot.wsgi._services.workspace_resolvers
    oauth_bot.install("code-w", team_id="T1", bot_token="xoxb-revoked")
    oauth_bot.slack.add_user("UALLOWED", email="ae@one.example", team_id="T1")
    oauth_bot.command("T1", "UALLOWED")
    assert len(resolvers) == 1
    event = {"type": "tokens_revoked", "tokens": {"oauth": ["UALLOWED"], "bot": []}}
    assert oauth_bot.event(event, team_id="T1").status == 200
    assert len(resolvers) == 1  # only a user token: the bot still works
    event = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOT"]}}
    assert oauth_bot.event(event, team_id="T1").status == 200
    assert len(resolvers) == 0


def test_tokens_revoked_deletes_the_installation_and_its_tokens(oauth_bot):
    oauth_bot.install("code-v", team_id="T1", enterprise_id="E1", bot_token="xoxb-revoked")
    event = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOT"]}}
    assert oauth_bot.event(event, team_id="T1", enterprise_id="E1").status == 200
    assert raw_rows(oauth_bot.engine, "slack_installations") == []
    assert raw_rows(oauth_bot.engine, "slack_bots") == []


def test_single_token_mode_acknowledges_lifecycle_events_and_keeps_working(
    settings, slack_standin, engine
):
    settings = replace(settings, slack_signing_secret=SECRET, slack_api_url=slack_standin.api_url)
    services = build_services(settings)
    assert services.installation_store is None
    wsgi = SlackWsgiApp(create_app(settings, services=services), services)
    for number, event in enumerate(
        [{"type": "tokens_revoked", "tokens": {"bot": ["UBOT"]}}, {"type": "app_uninstalled"}]
    ):
        body = event_body(event, event_id=f"EvSINGLE{number}")
        assert post_to_wsgi(wsgi, body, SECRET).status == 200
    # No OAuth routes without OAuth settings.
    assert get(wsgi, "/slack/install").status == 404
    assert json.loads(get(wsgi, "/healthz").body) == {"status": "ok"}


def test_oauth_mode_needs_no_bot_token_but_does_need_the_key(settings, engine):
    from bot.config import ConfigError

    oauth = replace(
        settings,
        slack_bot_token=None,
        slack_client_id=CLIENT_ID,
        slack_client_secret=CLIENT_SECRET,
        slack_scopes=("commands",),
        allowed_team_ids=frozenset(ALLOWED_TEAMS),
    )
    with pytest.raises(ConfigError, match="SLACK_TOKEN_ENCRYPTION_KEY"):
        create_app(oauth)
    # With nothing to authenticate as, the app refuses to start.
    with pytest.raises(ValueError, match="SLACK_BOT_TOKEN"):
        create_app(replace(settings, slack_bot_token=None))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM slack_bots")).scalar_one() == 0


# ---- only the organisations the app serves (ALLOWED_TEAM_IDS / ALLOWED_ENTERPRISE_IDS) ---------


def store_outside_installation(bot: OAuthBot, team_id: str, token: str) -> None:
    """An installation that got into the store anyway (e.g. made before the allowlist existed);
    the stand-in answers auth.test for its token as that workspace's bot."""
    bot.slack.add_oauth_grant(f"unused-{team_id}", team_id=team_id, bot_token=token)
    store = bot.wsgi._services.installation_store
    assert store is not None
    store.save(
        Installation(
            app_id="A0APP",
            enterprise_id=None,
            team_id=team_id,
            bot_token=token,
            bot_id="BBOT",
            bot_user_id="UBOT",
            bot_scopes="commands,users:read",
            user_id="UINSTALLER",
        )
    )


def test_oauth_mode_refuses_to_start_without_the_organisations_it_serves(settings, engine):
    from bot.config import ConfigError

    oauth = replace(
        settings,
        slack_bot_token=None,
        slack_signing_secret=SECRET,
        slack_client_id=CLIENT_ID,
        slack_client_secret=CLIENT_SECRET,
        slack_scopes=("commands",),
        slack_token_encryption_key=KEY,
    )
    with pytest.raises(ConfigError, match="ALLOWED_TEAM_IDS or ALLOWED_ENTERPRISE_IDS"):
        create_app(oauth)
    # A user group by handle means any installing workspace's `sales`: refused too.
    with pytest.raises(ConfigError, match="T0123:S0456"):
        create_app(
            replace(
                oauth,
                allowed_team_ids=frozenset({"T1"}),
                allowed_usergroups=frozenset({"sales"}),
            )
        )


def test_an_install_into_another_organisation_is_refused_with_a_page_and_nothing_stored(
    oauth_bot,
):
    refused = oauth_bot.install("code-out", team_id="T9", bot_token="xoxb-outside")
    assert refused.status == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "CustomersDot was not installed" in refused.body
    assert "T9" in refused.body and "ALLOWED_TEAM_IDS" in refused.body
    assert "xoxb-outside" not in refused.body
    # The app does not linger in that workspace: it is uninstalled again with the granted token.
    [uninstall] = oauth_bot.slack.calls_to("apps.uninstall")
    assert uninstall.token == "xoxb-outside"
    assert (uninstall.params["client_id"], uninstall.params["client_secret"]) == (
        CLIENT_ID,
        CLIENT_SECRET,
    )
    # Another organisation's org-wide install, and a workspace of another Grid organisation.
    org_wide = oauth_bot.install(
        "code-org",
        team_id="T8",
        enterprise_id="E9",
        is_enterprise_install=True,
        bot_token="xoxb-e9",
    )
    assert org_wide.status == 403
    assert (
        oauth_bot.install("code-e9", team_id="T6", enterprise_id="E9", bot_token="x").status == 403
    )
    for table in ("slack_installations", "slack_bots"):
        assert raw_rows(oauth_bot.engine, table) == []
    # A listed workspace, and any workspace of a listed Grid organisation, install as before.
    assert oauth_bot.install("code-in", team_id="T1", bot_token="xoxb-one").status == 200
    assert (
        oauth_bot.install("code-grid", team_id="T5", enterprise_id="E1", bot_token="b").status
        == 200
    )
    assert {row["team_id"] for row in raw_rows(oauth_bot.engine, "slack_bots")} == {"T1", "T5"}


def test_an_outside_workspace_with_its_own_sales_group_gets_a_refusal_not_customer_data(
    settings, slack_standin, engine, tmp_path
):
    bot = make_oauth_bot(
        settings,
        slack_standin,
        engine,
        dataset=tmp_path,
        allowed_user_ids=frozenset(),
        allowed_usergroups=frozenset({"T1:S0SALES"}),
        allowed_email_domains=frozenset({"one.example"}),
    )
    bot.install("code-1", team_id="T1", bot_token="xoxb-team-one")
    # The outside workspace makes its own `sales` group, and gives its member our domain.
    slack_standin.add_usergroup("S9SALES", "sales", ["UOUTSIDER"])
    slack_standin.add_user("UOUTSIDER", email="eve@one.example", team_id="T9")
    assert bot.install("code-9", team_id="T9", bot_token="xoxb-outside").status == 403
    slack_standin.clear()
    turned_away = bot.command("T9", "UOUTSIDER", text="Initech")  # no installation: no answer
    assert "initech" not in turned_away.text.lower()
    assert slack_standin.calls_to("users.info") == []

    # Even an installation that is in the store (made before the allowlist) gets nowhere.
    store_outside_installation(bot, "T9", "xoxb-outside")
    slack_standin.clear()
    response = bot.command("T9", "UOUTSIDER", text="Initech")
    assert response.status == 200
    answer = response.text
    assert "isn't available in this workspace" in answer
    assert "initech" not in answer.lower()
    assert not [email for email in ALL_CONTACT_EMAILS if email in answer]
    # Refused before anything else: not one Slack call made with the outside token.
    assert slack_standin.calls_to("users.info") == []
    assert slack_standin.calls_to("usergroups.list") == []
    not_installed, row = bot.audit_rows()
    assert (not_installed.team_id, not_installed.reason) == ("T9", "not_installed")
    assert (row.user_id, row.team_id, row.outcome, row.reason, row.query) == (
        "UOUTSIDER",
        "T9",
        "denied",
        "outside_organisation",
        "Initech",
    )


def test_a_user_group_is_read_with_the_token_of_the_workspace_that_owns_it(
    settings, slack_standin, engine
):
    bot = make_oauth_bot(
        settings,
        slack_standin,
        engine,
        allowed_user_ids=frozenset(),
        allowed_usergroups=frozenset({"T1:S0SALES", "T9:S9SALES"}),
    )
    bot.install("code-1", team_id="T1", enterprise_id="E1", bot_token="xoxb-team-one")
    bot.install("code-2", team_id="T2", enterprise_id="E1", bot_token="xoxb-team-two")
    store_outside_installation(bot, "T9", "xoxb-outside")
    slack_standin.add_usergroup("S0SALES", "sales", ["UCOLLEAGUE"])
    slack_standin.add_usergroup("S9SALES", "sales", ["USTRANGER"])
    slack_standin.add_user("UCOLLEAGUE", email="c@two.example", team_id="T2", enterprise_id="E1")
    slack_standin.add_user("USTRANGER", email="s@two.example", team_id="T2", enterprise_id="E1")
    slack_standin.clear()

    assert bot.command("T2", "UCOLLEAGUE", enterprise_id="E1").status == 200
    assert bot.command("T2", "USTRANGER", enterprise_id="E1").status == 200
    [users_info, _] = slack_standin.calls_to("users.info")
    assert users_info.token == "xoxb-team-two"  # the requester, with the requesting workspace's
    group_reads = {
        (call.params["usergroup"], call.token)
        for call in slack_standin.calls_to("usergroups.users.list")
    }
    # The allowed owner's group with the owner's token; a group of a workspace that is not
    # allowed is never read at all, whatever its members.
    assert group_reads == {("S0SALES", "xoxb-team-one")}
    assert slack_standin.calls_to("usergroups.list") == []
    outcomes = {row.user_id: (row.outcome, row.reason) for row in bot.audit_rows()}
    assert outcomes["USTRANGER"] == ("denied", "not_listed")
    assert outcomes["UCOLLEAGUE"][0] != "denied"


def test_url_verification_and_lifecycle_events_act_for_no_user_and_stay_exempt(oauth_bot):
    challenge = json.dumps({"type": "url_verification", "token": "t", "challenge": "c-123"})
    response = post_to_wsgi(oauth_bot.wsgi, challenge, SECRET)
    assert (response.status, response.json()) == (200, {"challenge": "c-123"})
    # An outside workspace's lifecycle events are heard (and delete what it has here).
    store_outside_installation(oauth_bot, "T9", "xoxb-outside")
    assert oauth_bot.event({"type": "app_uninstalled"}, team_id="T9").status == 200
    assert raw_rows(oauth_bot.engine, "slack_bots") == []
    assert oauth_bot.audit_rows() == []
