from __future__ import annotations

from dataclasses import dataclass
from datetime import time

import pytest

from bot.config import ConfigError, Settings, redact_url_password
from bot.store.db import create_store_engine


def test_defaults_follow_the_design():
    settings = Settings.from_env({}, dotenv_path=None)
    assert settings.database_url == "sqlite:///customersdot.sqlite3"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.identity_cache_seconds == 300
    assert settings.show_contact_emails_in_channels is False
    assert not settings.allowed_user_ids and not settings.allowed_emails


def test_lists_are_split_trimmed_and_normalised():
    settings = Settings.from_env(
        {
            "ALLOWED_USER_IDS": "U1, U2,,",
            "ALLOWED_EMAILS": "Jane@Example.com",
            "ALLOWED_EMAIL_DOMAINS": "@Example.COM, gitlab.com",
            "ALLOWED_USERGROUPS": "@sales,S0123",
            "SLACK_API_URL": "http://127.0.0.1:9/api",
            "PUBLIC_EMAIL_DOMAINS": "@BigMail.example, mail.example.",
        },
        dotenv_path=None,
    )
    assert settings.public_email_domains == {"bigmail.example", "mail.example"}
    assert settings.allowed_user_ids == {"U1", "U2"}
    assert settings.allowed_emails == {"jane@example.com"}
    assert settings.allowed_email_domains == {"example.com", "gitlab.com"}
    assert settings.allowed_usergroups == {"sales", "S0123"}
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"


def test_environment_wins_over_dotenv(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("DATABASE_URL=sqlite:///from-dotenv.sqlite3\nIDENTITY_CACHE_SECONDS=60\n")
    settings = Settings.from_env(
        {"DATABASE_URL": "sqlite:///from-env.sqlite3"}, dotenv_path=str(dotenv)
    )
    assert settings.database_url == "sqlite:///from-env.sqlite3"
    assert settings.identity_cache_seconds == 60


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IDENTITY_CACHE_SECONDS", "soon"),
        ("IDENTITY_CACHE_SECONDS", "-1"),
        ("ANSWER_CACHE_SIZE", "-1"),
        ("ANSWER_CACHE_SIZE", "lots"),
        ("SHOW_CONTACT_EMAILS_IN_CHANNELS", "maybe"),
    ],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value}, dotenv_path=None)


def test_secrets_never_appear_in_repr():
    settings = Settings.from_env(
        {
            "SYNC_LICENSES_AUTHORIZATION": "Bearer sync-authorization-value",
            "SYNC_HOSTS": "postgresql://reader:source-db-password@replica/version",
            "SYNC_SUBSCRIPTIONS": "https://exports.example.test/s.csv?X-Amz-Signature=sig-value",
            "ZUORA_CLIENT_SECRET": "zuora-client-secret-value",
            "SLACK_BOT_TOKEN": "xoxb-secret-token",
            "SLACK_SIGNING_SECRET": "signing-secret-value",
            "DATABASE_URL": "postgresql+psycopg://bot:db-password@db/customersdot",
        },
        dotenv_path=None,
    )
    shown = repr(settings)
    for secret in (
        "xoxb-secret-token",
        "signing-secret-value",
        "db-password",
        "sync-authorization-value",
        "source-db-password",
        "sig-value",
        "zuora-client-secret-value",
    ):
        assert secret not in shown
    assert "sync_hosts='postgresql://***@replica/version'" in shown
    assert redact_url_password("postgresql://u:p@h/d") == "postgresql://u:***@h/d"
    assert redact_url_password("sqlite:///x.sqlite3") == "sqlite:///x.sqlite3"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://app:s%40cret@db:5432/store",
            "postgresql+psycopg://app:***@db:5432/store",
        ),
        ("postgresql://u@h/d", "postgresql://u@h/d"),
        # Unparsable, or a password with a raw '@': nothing past the scheme is shown.
        ("postgresql://u:p@ss-word@h/d", "postgresql://[unparsable URL]"),
        ("postgresql://u:secret@h:port/d", "postgresql://[unparsable URL]"),
        ("secret-not-a-url", "[unparsable URL]"),
        ("", "[unparsable URL]"),
    ],
)
def test_database_url_passwords_are_hidden_the_way_sqlalchemy_renders_them(url, shown):
    assert redact_url_password(url) == shown


def test_from_env_reads_the_dataclass_defaults():
    """One home for every default: an unset variable gets the field's default, so tests built
    on `Settings()` run with what production runs with."""
    assert Settings.from_env({}, dotenv_path=None) == Settings()

    @dataclass(frozen=True)
    class OtherDefaults(Settings):
        database_url: str = "sqlite:///other.sqlite3"
        slack_api_url: str = "https://slack.example.test/api/"
        show_contact_emails_in_channels: bool = True
        identity_cache_seconds: int = 7
        answer_cache_size: int = 3
        customersdot_url: str = "https://customers.example.test"
        log_level: str = "WARNING"
        log_format: str = "json"
        database_statement_timeout_ms: int = 1234
        database_connect_timeout_seconds: int = 9
        lookup_rate_limit_per_hour: int = 11
        audit_retention_days: int = 13
        sync_max_bytes: int = 17
        sync_timeout_seconds: int = 19

    from_env = OtherDefaults.from_env({}, dotenv_path=None)
    for name in Settings.__dataclass_fields__:
        assert getattr(from_env, name) == getattr(OtherDefaults(), name), name


@pytest.mark.parametrize(
    "given",
    [
        "postgres://bot:db-password@db.example.test:5432/customersdot",  # Heroku's form
        "postgresql://bot:db-password@db.example.test:5432/customersdot",  # driverless
    ],
)
def test_heroku_and_driverless_postgres_urls_get_the_psycopg_driver(given):
    settings = Settings.from_env({"DATABASE_URL": given}, dotenv_path=None)
    assert settings.database_url == (
        "postgresql+psycopg://bot:db-password@db.example.test:5432/customersdot"
    )
    assert "db-password" not in repr(settings)
    # psycopg 3 is the driver the store's statement and connect timeouts are written for.
    engine = create_store_engine(settings.database_url, statement_timeout_ms=2000)
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


@pytest.mark.parametrize(
    "given",
    [
        "sqlite:///customersdot.sqlite3",
        "sqlite:////var/lib/bot/store.sqlite3",
        "postgresql+psycopg://bot:pw@db/customersdot",
        "postgresql+psycopg2://bot:pw@db/customersdot",
    ],
)
def test_sqlite_urls_and_explicit_drivers_are_kept_as_given(given):
    assert Settings.from_env({"DATABASE_URL": given}, dotenv_path=None).database_url == given


def test_a_database_the_bot_does_not_support_is_a_configuration_error():
    with pytest.raises(ConfigError, match="DATABASE_URL must be a PostgreSQL or SQLite URL"):
        Settings.from_env({"DATABASE_URL": "mysql://bot:pw@db/customersdot"}, dotenv_path=None)


def test_sync_settings_are_read_per_kind():
    settings = Settings.from_env(
        {
            "SYNC_LICENSES": "https://exports.example.test/licenses.csv",
            "SYNC_LICENSES_AUTHORIZATION": "Bearer abc123",
            "SYNC_HOSTS": "/var/exports/hosts.jsonl",
            "SYNC_MAX_BYTES": "1048576",
            "SYNC_TIMEOUT_SECONDS": "5",
        },
        dotenv_path=None,
    )
    assert settings.sync_source("licenses") == (
        "https://exports.example.test/licenses.csv",
        "Bearer abc123",
    )
    assert settings.sync_source("hosts") == ("/var/exports/hosts.jsonl", None)
    assert settings.sync_source("subscriptions") == (None, None)
    assert settings.sync_max_bytes == 1048576 and settings.sync_timeout_seconds == 5
    assert Settings().sync_max_bytes == 2 * 1024**3
    for name in ("SYNC_MAX_BYTES", "SYNC_TIMEOUT_SECONDS"):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: "0"}, dotenv_path=None)


def test_stale_after_hours_takes_fractions_and_refuses_what_is_no_positive_number():
    assert Settings().stale_after_hours == 26
    settings = Settings.from_env({"STALE_AFTER_HOURS": " 1.5 "}, dotenv_path=None)
    assert settings.stale_after_hours == 1.5
    for raw in ("0", "-2", "soon", "nan", "inf"):
        with pytest.raises(ConfigError, match="STALE_AFTER_HOURS"):
            Settings.from_env({"STALE_AFTER_HOURS": raw}, dotenv_path=None)


def test_synced_kinds_are_those_with_a_source():
    settings = Settings.from_env(
        {"SYNC_LICENSES": "/var/exports/licenses.csv", "SYNC_HOSTS": ""}, dotenv_path=None
    )
    assert settings.synced_kinds == frozenset({"licenses"})


def test_the_database_and_zuora_source_settings():
    settings = Settings.from_env(
        {
            "SYNC_LICENSES_QUERY": "SELECT * FROM licenses WHERE updated_at >= :since",
            "SYNC_QUERY_TIMEOUT_SECONDS": "120",
            "ZUORA_REST_URL": "https://rest.eu.zuora.com",
            "ZUORA_CLIENT_ID": "client-id",
            "ZUORA_CLIENT_SECRET": "client-secret",
        },
        dotenv_path=None,
    )
    assert settings.sync_query("licenses") == "SELECT * FROM licenses WHERE updated_at >= :since"
    assert settings.sync_query("hosts") is None
    assert settings.sync_query_timeout_seconds == 120
    assert Settings().sync_query_timeout_seconds == 600
    assert (settings.zuora_rest_url, settings.zuora_client_id, settings.zuora_client_secret) == (
        "https://rest.eu.zuora.com",
        "client-id",
        "client-secret",
    )
    # The Zuora UI the cards link to is another setting.
    assert settings.zuora_url == "https://www.zuora.com"
    with pytest.raises(ConfigError, match="SYNC_QUERY_TIMEOUT_SECONDS"):
        Settings.from_env({"SYNC_QUERY_TIMEOUT_SECONDS": "0"}, dotenv_path=None)


def test_follow_digest_at_is_a_time_of_day():
    assert Settings.from_env({}, dotenv_path=None).follow_digest_at == time(9, 0)
    assert Settings.from_env(
        {"FOLLOW_DIGEST_AT": "7:30"}, dotenv_path=None
    ).follow_digest_at == time(7, 30)
    for bad in ("25:00", "9", "09:5", "noon"):
        with pytest.raises(ConfigError, match="FOLLOW_DIGEST_AT"):
            Settings.from_env({"FOLLOW_DIGEST_AT": bad}, dotenv_path=None)
