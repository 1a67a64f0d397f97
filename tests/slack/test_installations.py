"""OAuth installs in the store: encrypted tokens, the migration's tables, lifecycle deletions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from cryptography.fernet import Fernet
from slack_bolt import BoltContext
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import Engine

from bot.config import ConfigError, Settings
from bot.slack.installation_store import (
    EncryptedInstallationStore,
    build_installation_store,
    forget_revoked_tokens,
    forget_uninstalled,
)
from bot.slack.slack_sdk_tables import SLACK_SDK_TABLES, slack_sdk_metadata
from bot.slack.token_encryption import TokenCipher
from bot.slack.workspace_resolvers import WorkspaceResolvers
from tests.helpers.installations import clear_installation_tables, raw_rows

KEY = Fernet.generate_key().decode()
OLD_KEY = Fernet.generate_key().decode()
BOT_TOKEN = "xoxe.xoxb-1-MTIzNDU2Nzg5MC1ib3QtdG9rZW4tdGhhdC1pcy1sb25nZXItdGhhbi1hLWxlZ2FjeS1vbmUtYW5kLWhvbGRzLW1vcmUtYnl0ZXM"
REFRESH_TOKEN = "xoxe-1-My0xLTEyMzQ1Njc4OTAtcmVmcmVzaC10b2tlbi1sb25nZXItdGhhbi1hLWxlZ2FjeS1vbmU"
USER_TOKEN = "xoxp-1234-user-token"


@pytest.fixture
def store(engine: Engine) -> Iterator[EncryptedInstallationStore]:
    clear_installation_tables(engine)
    yield EncryptedInstallationStore("111.222", engine, TokenCipher([KEY]))


def installation(
    team_id: str | None = "T1",
    *,
    enterprise_id: str | None = None,
    user_id: str = "UINSTALLER",
    user_token: str | None = None,
    is_enterprise_install: bool = False,
) -> Installation:
    return Installation(
        app_id="A0APP",
        enterprise_id=enterprise_id,
        team_id=team_id,
        bot_token=BOT_TOKEN,
        bot_id="BBOT",
        bot_user_id="UBOT",
        bot_scopes="commands,users:read",
        bot_refresh_token=REFRESH_TOKEN,
        bot_token_expires_in=43_200,
        user_id=user_id,
        user_token=user_token,
        is_enterprise_install=is_enterprise_install,
    )


# ---- the cipher and its key ---------------------------------------------------------------------


def test_tokens_round_trip_and_the_ciphertext_does_not_contain_them():
    cipher = TokenCipher([KEY])
    stored = cipher.encrypt(BOT_TOKEN)
    assert BOT_TOKEN not in stored
    assert stored.startswith("fernet:")
    assert cipher.decrypt(stored) == BOT_TOKEN


def test_an_old_key_still_decrypts_after_a_new_one_is_put_first():
    stored = TokenCipher([OLD_KEY]).encrypt(BOT_TOKEN)
    assert TokenCipher([KEY, OLD_KEY]).decrypt(stored) == BOT_TOKEN
    with pytest.raises(ValueError, match="cannot be decrypted") as raised:
        TokenCipher([KEY]).decrypt(stored)
    assert BOT_TOKEN not in str(raised.value)


def test_a_plaintext_token_planted_in_the_store_is_never_used():
    with pytest.raises(ValueError, match="not encrypted"):
        TokenCipher([KEY]).decrypt(BOT_TOKEN)


@pytest.mark.parametrize("raw", [None, "", " , "])
def test_oauth_mode_refuses_to_start_without_a_key(raw):
    with pytest.raises(ConfigError, match="SLACK_TOKEN_ENCRYPTION_KEY must be set"):
        TokenCipher.from_setting(raw)


def test_a_malformed_key_is_refused_without_repeating_it():
    with pytest.raises(ConfigError, match="not a valid key") as raised:
        TokenCipher.from_setting("not-a-fernet-key-but-a-secret")
    assert "not-a-fernet-key-but-a-secret" not in str(raised.value)


OAUTH_ENV = {
    "SLACK_SIGNING_SECRET": "s",
    "SLACK_CLIENT_ID": "111.222",
    "SLACK_CLIENT_SECRET": "client-secret-value",
    "SLACK_SCOPES": "users:read, commands",
    "ALLOWED_TEAM_IDS": "T1",
}


def test_settings_turn_on_oauth_with_id_secret_scopes_and_a_key():
    settings = Settings.from_env({**OAUTH_ENV, "SLACK_TOKEN_ENCRYPTION_KEY": KEY}, dotenv_path=None)
    assert settings.oauth_enabled
    assert settings.slack_scopes == ("commands", "users:read")
    shown = repr(settings)
    assert "client-secret-value" not in shown
    assert KEY not in shown


def test_settings_refuse_oauth_without_a_key_or_with_half_the_credentials():
    with pytest.raises(ConfigError, match="SLACK_TOKEN_ENCRYPTION_KEY"):
        Settings.from_env(OAUTH_ENV, dotenv_path=None)
    with pytest.raises(ConfigError, match="SLACK_SCOPES not set"):
        Settings.from_env({"SLACK_CLIENT_ID": "1", "SLACK_CLIENT_SECRET": "2"}, dotenv_path=None)
    assert not Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1"}, dotenv_path=None).oauth_enabled


def test_oauth_mode_refuses_to_start_without_the_organisations_it_serves():
    env = {**OAUTH_ENV, "SLACK_TOKEN_ENCRYPTION_KEY": KEY}
    del env["ALLOWED_TEAM_IDS"]
    with pytest.raises(ConfigError, match="ALLOWED_TEAM_IDS or ALLOWED_ENTERPRISE_IDS"):
        Settings.from_env(env, dotenv_path=None)
    by_team = Settings.from_env({**env, "ALLOWED_TEAM_IDS": "T1, T2"}, dotenv_path=None)
    assert by_team.allowed_team_ids == {"T1", "T2"}
    by_org = Settings.from_env({**env, "ALLOWED_ENTERPRISE_IDS": "E1"}, dotenv_path=None)
    assert by_org.allowed_enterprise_ids == {"E1"}
    assert by_org.organisations.allows("T5", "E1")
    assert not by_org.organisations.allows("T5", "E9")
    # Single-workspace mode: optional, and read when given.
    single = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1"}, dotenv_path=None)
    assert not single.organisations.is_restricted
    assert single.organisations.allows("T9", None)


@pytest.mark.parametrize("groups", ["sales", "@sales", "S0123SALES", "T1:sales", "T1:S1,sales"])
def test_oauth_mode_refuses_user_groups_not_named_with_their_workspace(groups: str):
    env = {**OAUTH_ENV, "SLACK_TOKEN_ENCRYPTION_KEY": KEY, "ALLOWED_USERGROUPS": groups}
    with pytest.raises(ConfigError, match="T0123:S0456"):
        Settings.from_env(env, dotenv_path=None)


def test_oauth_mode_takes_user_groups_named_with_their_workspace_and_single_mode_keeps_handles():
    env = {**OAUTH_ENV, "SLACK_TOKEN_ENCRYPTION_KEY": KEY, "ALLOWED_USERGROUPS": "T1:S01, E1:S02"}
    assert Settings.from_env(env, dotenv_path=None).allowed_usergroups == {"T1:S01", "E1:S02"}
    single = {"SLACK_BOT_TOKEN": "xoxb-1", "ALLOWED_USERGROUPS": "@sales,S0123"}
    assert Settings.from_env(single, dotenv_path=None).allowed_usergroups == {"sales", "S0123"}


def test_building_the_store_checks_the_key(engine):
    settings = Settings(slack_client_id="1", slack_client_secret="2", slack_scopes=("commands",))
    with pytest.raises(ConfigError, match="SLACK_TOKEN_ENCRYPTION_KEY"):
        build_installation_store(settings, engine)
    store = build_installation_store(replace(settings, slack_token_encryption_key=KEY), engine)
    assert store.client_id == "1"


# ---- the store ---------------------------------------------------------------------------------


def test_migration_creates_exactly_the_tables_slack_sdk_describes(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    def only_slack_sdk_tables(obj, name, type_, reflected, compare_to):
        table = getattr(obj, "table", obj)
        table_name = getattr(table, "name", name)
        return bool(table_name and table_name.startswith(SLACK_SDK_TABLES))

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": only_slack_sdk_tables}
        )
        assert compare_metadata(context, slack_sdk_metadata()) == []


def test_saved_tokens_are_encrypted_in_every_row_and_decrypted_on_find(store, engine):
    store.save(installation(user_token=USER_TOKEN))
    for table in ("slack_installations", "slack_bots"):
        [row] = raw_rows(engine, table)
        everything = " ".join(str(value) for value in row.values())
        for token in (BOT_TOKEN, REFRESH_TOKEN, USER_TOKEN):
            assert token not in everything
        assert str(row["bot_token"]).startswith("fernet:")
    found = store.find_installation(enterprise_id=None, team_id="T1")
    assert found is not None
    assert (found.bot_token, found.bot_refresh_token, found.user_token) == (
        BOT_TOKEN,
        REFRESH_TOKEN,
        USER_TOKEN,
    )
    bot = store.find_bot(enterprise_id=None, team_id="T1")
    assert bot is not None
    assert bot.bot_token == BOT_TOKEN
    assert bot.bot_token_expires_at is not None


def test_a_store_with_another_key_cannot_read_the_tokens(store, engine):
    store.save(installation())
    stranger = EncryptedInstallationStore("111.222", engine, TokenCipher([OLD_KEY]))
    with pytest.raises(ValueError, match="cannot be decrypted"):
        stranger.find_bot(enterprise_id=None, team_id="T1")


def test_uninstall_deletes_only_that_workspace(store, engine):
    store.save(installation("T1"))
    store.save(installation("T2"))
    forget_uninstalled(store, enterprise_id=None, team_id="T1")
    assert store.find_bot(enterprise_id=None, team_id="T1") is None
    assert store.find_installation(enterprise_id=None, team_id="T1") is None
    assert store.find_bot(enterprise_id=None, team_id="T2") is not None
    assert {row["team_id"] for row in raw_rows(engine, "slack_installations")} == {"T2"}


def test_uninstalling_an_org_wide_install_deletes_the_org_rows(store, engine):
    store.save(installation(None, enterprise_id="E1", is_enterprise_install=True))
    # The event names the workspace it was delivered for; the install is stored org-wide.
    forget_uninstalled(store, enterprise_id="E1", team_id="T1", is_enterprise_install=True)
    assert raw_rows(engine, "slack_installations") == []
    assert raw_rows(engine, "slack_bots") == []


def test_revoked_bot_token_deletes_the_installation(store, engine):
    store.save(installation("T1", enterprise_id="E1"))
    forget_revoked_tokens(store, {"bot": ["UBOT"]}, enterprise_id="E1", team_id="T1")
    assert raw_rows(engine, "slack_installations") == []
    assert raw_rows(engine, "slack_bots") == []


def test_revoked_user_token_forgets_that_token_and_keeps_the_bot(store, engine):
    store.save(installation("T1", user_token=USER_TOKEN))
    forget_revoked_tokens(store, {"oauth": ["UINSTALLER"]}, enterprise_id=None, team_id="T1")
    [row] = raw_rows(engine, "slack_installations")
    assert row["user_token"] is None
    assert row["bot_token"] is not None
    found = store.find_bot(enterprise_id=None, team_id="T1")
    assert found is not None
    assert found.bot_token == BOT_TOKEN


# ---- one identity resolver per workspace ---------------------------------------------------------


def test_each_workspace_gets_its_own_resolver_following_its_current_token():
    made: list[WebClient] = []

    def client_factory(token: str | None) -> WebClient:
        made.append(WebClient(token=token, base_url="http://127.0.0.1:9/api/"))
        return made[-1]

    resolvers = WorkspaceResolvers(Settings(allowed_user_ids=frozenset({"U1"})), client_factory)
    first = resolvers(authorized("T1", "xoxb-t1"))
    second = resolvers(authorized("T2", "xoxb-t2"))
    assert first is not second
    assert [client.token for client in made] == ["xoxb-t1", "xoxb-t2"]
    # Token rotation: the same workspace, a new token; same resolver (and cache), new token.
    again = resolvers(authorized("T1", "xoxb-t1-rotated"))
    assert again is first
    assert made[0].token == "xoxb-t1-rotated"
    # The installation decides, not what the body says (context["team_id"] is the body's).
    assert resolvers(authorized("T1", "xoxb-t1-rotated", body_team="T2")) is first
    resolvers.forget(None, "T1")
    assert resolvers(authorized("T1", "xoxb-t1-rotated")) is not first


def authorized(team_id: str, token: str, *, body_team: str | None = None) -> BoltContext:
    """A request's context after Bolt's authorize: the installation's ids and token."""
    result = AuthorizeResult(enterprise_id=None, team_id=team_id, bot_token=token)
    return BoltContext(
        {"team_id": body_team or team_id, "bot_token": token, "authorize_result": result}
    )


def test_find_bot_of_owner_finds_a_workspace_in_or_out_of_an_org_and_an_org_wide_install(store):
    store.save(installation("T1"))
    store.save(installation("T2", enterprise_id="E1"))
    store.save(installation(None, enterprise_id="E2", is_enterprise_install=True))
    assert (store.find_bot_of_owner("T1").team_id, store.find_bot_of_owner("T1").enterprise_id) == (
        "T1",
        None,
    )
    assert store.find_bot_of_owner("T2").enterprise_id == "E1"
    assert store.find_bot_of_owner("E2").bot_token == BOT_TOKEN
    assert store.find_bot_of_owner("E1") is None  # E1 has no org-wide install
    assert store.find_bot_of_owner("T9") is None


def test_an_org_wide_uninstall_forgets_every_workspace_of_its_enterprise():
    def client_factory(token: str | None) -> WebClient:
        return WebClient(token=token, base_url="http://127.0.0.1:9/api/")

    resolvers = WorkspaceResolvers(Settings(allowed_user_ids=frozenset({"U1"})), client_factory)
    for enterprise_id, team_id in (("E1", "T1"), ("E1", "T2"), (None, "T3")):
        resolvers(installed_in(enterprise_id, team_id))
    assert len(resolvers) == 3
    resolvers.forget_workspace_of(installed_in("E1", "T1"))
    assert len(resolvers) == 2  # one workspace of the grid
    resolvers.forget_workspace_of(installed_in("E1", None, is_enterprise_install=True))
    assert len(resolvers) == 1  # the whole org's install: T3 stays


def test_an_uninstall_whose_installation_is_gone_forgets_by_the_events_ids():
    def client_factory(token: str | None) -> WebClient:
        return WebClient(token=token, base_url="http://127.0.0.1:9/api/")

    resolvers = WorkspaceResolvers(Settings(allowed_user_ids=frozenset({"U1"})), client_factory)
    resolvers(installed_in(None, "T1"))
    resolvers.forget_workspace_of(BoltContext({"enterprise_id": None, "team_id": "T1"}))
    assert len(resolvers) == 0


def installed_in(
    enterprise_id: str | None, team_id: str | None, *, is_enterprise_install: bool = False
) -> BoltContext:
    result = AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-x")
    return BoltContext(
        {
            "enterprise_id": enterprise_id,
            "team_id": team_id,
            "is_enterprise_install": is_enterprise_install,
            "authorize_result": result,
        }
    )
