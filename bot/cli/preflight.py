"""`python -m bot check`: is this deployment ready to serve? One line per check.

Run before a deploy (and after changing a setting): each check says ok, or FAIL with what to
do. It talks to the store and to Slack (auth.test) exactly as the bot will, so a wrong token or
an unmigrated database shows here rather than as a user's "unavailable" notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.cli.manifest import BOT_SCOPES
from bot.config import SYNC_KINDS, Settings, redact_url_password
from bot.freshness import FreshnessRule, KindFreshness
from bot.slack.client import TOKEN_REJECTED_ERRORS, create_web_client
from bot.store.failures import store_failure_advice, upgrade_command

SCOPES_HEADER = "x-oauth-scopes"


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


def run_checks(settings: Settings, *, now: datetime | None = None) -> list[CheckResult]:
    """Every check's result; `now` (default: this clock) judges how old the data is."""
    store = _check_store(settings)
    results = [
        _check_credentials(settings),
        _check_signing_secret(settings),
        _check_allowlist(settings),
        _check_oauth(settings),
        store,
    ]
    if store.ok:
        results += _check_data_freshness(settings, now or datetime.now(UTC))
    results += _check_slack(settings)
    return results


def _check_credentials(settings: Settings) -> CheckResult:
    problems = []
    if not settings.slack_bot_token and not settings.oauth_enabled:
        problems.append(
            "SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) from the app's "
            "OAuth & Permissions page (or set SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and "
            "SLACK_SCOPES for many workspaces)"
        )
    # A rotating bot token starts xoxe.xoxb-.
    if settings.slack_bot_token and not settings.slack_bot_token.startswith(
        ("xoxb-", "xoxe.xoxb-")
    ):
        problems.append("SLACK_BOT_TOKEN is not a bot token: it starts with xoxb-")
    if settings.slack_app_token and not settings.slack_app_token.startswith("xapp-"):
        problems.append(
            "SLACK_APP_TOKEN is not an app-level token: it starts with xapp- "
            "(Basic Information → App-Level Tokens, scope connections:write)"
        )
    if problems:
        return CheckResult("Slack credentials", False, "; ".join(problems))
    mode = "Socket Mode (SLACK_APP_TOKEN set)" if settings.slack_app_token else "HTTP mode"
    return CheckResult("Slack credentials", True, f"set for {mode}")


def _check_signing_secret(settings: Settings) -> CheckResult:
    if settings.slack_signing_secret:
        return CheckResult("signing secret", True, "SLACK_SIGNING_SECRET is set")
    return CheckResult(
        "signing secret",
        False,
        "SLACK_SIGNING_SECRET is not set: copy it from the app's Basic Information page",
    )


def _check_allowlist(settings: Settings) -> CheckResult:
    sources = {
        "ALLOWED_USER_IDS": settings.allowed_user_ids,
        "ALLOWED_EMAILS": settings.allowed_emails,
        "ALLOWED_EMAIL_DOMAINS": settings.allowed_email_domains,
        "ALLOWED_USERGROUPS": settings.allowed_usergroups,
    }
    used = [f"{name} ({len(values)})" for name, values in sources.items() if values]
    if used:
        return CheckResult("allowlist", True, ", ".join(used))
    return CheckResult(
        "allowlist",
        False,
        "empty, so everyone is refused: set ALLOWED_USERGROUPS, ALLOWED_EMAIL_DOMAINS, "
        "ALLOWED_EMAILS or ALLOWED_USER_IDS",
    )


def _check_oauth(settings: Settings) -> CheckResult:
    # Settings.from_env already refuses a partial set (id, secret, scopes) and a missing or
    # malformed encryption key; what is left is the consistency of the rest.
    if not settings.oauth_enabled:
        return CheckResult("OAuth installs", True, "not used (one workspace, SLACK_BOT_TOKEN)")
    problems = []
    missing = sorted(set(BOT_SCOPES) - set(settings.slack_scopes))
    if missing:
        problems.append(
            f"SLACK_SCOPES lacks {', '.join(missing)}: set it to {','.join(BOT_SCOPES)}"
        )
    redirect = settings.slack_redirect_uri
    if redirect and not redirect.startswith("https://"):
        problems.append("SLACK_REDIRECT_URI must be an https:// URL ending /slack/oauth_redirect")
    if settings.slack_bot_token:
        problems.append(
            "SLACK_BOT_TOKEN is set too but unused with OAuth installs: unset one of them"
        )
    if problems:
        return CheckResult("OAuth installs", False, "; ".join(problems))
    return CheckResult("OAuth installs", True, "client id, secret, scopes and encryption key set")


def _check_store(settings: Settings) -> CheckResult:
    from bot.store.db import create_store_engine
    from bot.store.schema import current_revision, head_revision, missing_audit_tables

    where = redact_url_password(settings.database_url)
    missing_file = _missing_sqlite_file(settings.database_url)
    if missing_file is not None:
        # Opening it would create it (and its audit file): a check changes nothing.
        return CheckResult("store", False, missing_file)
    try:
        engine = create_store_engine(
            settings.database_url,
            connect_timeout_seconds=settings.database_connect_timeout_seconds,
        )
    except Exception as error:  # a malformed DATABASE_URL
        return CheckResult("store", False, store_failure_advice(error))
    try:
        current = current_revision(engine)
        lacking = missing_audit_tables(engine) if current == head_revision() else []
    except Exception as error:  # whatever keeps us from the store, said in one line
        return CheckResult("store", False, f"{store_failure_advice(error)} ({where})")
    finally:
        engine.dispose()
    if lacking:
        return CheckResult(
            "store",
            False,
            f"migrated, but the audit store lacks {', '.join(lacking)} (a SQLite store copied "
            f"without its .audit.sqlite3?): run {upgrade_command()} to make them, or restore "
            "the audit file beside the store",
        )
    if current != head_revision():
        return CheckResult(
            "store",
            False,
            f"reachable but not migrated (schema {current or 'empty'}, latest "
            f"{head_revision()}): run {upgrade_command()}",
        )
    return CheckResult("store", True, f"reachable and migrated ({where})")


def _check_data_freshness(settings: Settings, now: datetime) -> list[CheckResult]:
    """One line per synced kind (SYNC_<KIND> set): FAIL when its data is older than
    STALE_AFTER_HOURS (its sync has been failing, or is not running). A kind imported by hand
    is never failed for its age: check cannot tell whether someone meant to import it; the
    cards say its age. A synced kind never loaded has no data yet, which is not stale."""
    from bot.store.db import create_store_engine, make_session_factory
    from bot.store.queries import data_times

    rule = FreshnessRule.from_settings(settings)
    synced = [kind for kind in SYNC_KINDS if kind in rule.synced_kinds]
    if not synced:
        return [
            CheckResult(
                "data age",
                True,
                "not checked: no kind has a sync source (SYNC_<KIND>); cards say the age of "
                "data imported by hand",
            )
        ]
    engine = create_store_engine(
        settings.database_url,
        connect_timeout_seconds=settings.database_connect_timeout_seconds,
    )
    try:
        with make_session_factory(engine)() as session:
            times = data_times(session)
    except Exception as error:  # the store answered the check above: say this one in a line
        return [CheckResult("data age", False, store_failure_advice(error))]
    finally:
        engine.dispose()
    freshness = rule.judge(times, synced, now=now)
    return [_data_age_result(kind, rule) for kind in freshness.kinds]


def _data_age_result(kind: KindFreshness, rule: FreshnessRule) -> CheckResult:
    from bot.views.freshness import age_words, threshold_words

    name = f"{kind.kind} data"
    if kind.age is None:
        return CheckResult(name, True, "no data yet: the first python -m bot sync loads it")
    age = age_words(kind.age)
    if not kind.stale:
        return CheckResult(
            name, True, f"{age} old (stale after {threshold_words(rule.stale_after)})"
        )
    return CheckResult(
        name,
        False,
        f"stale: {age} old, older than STALE_AFTER_HOURS ({threshold_words(rule.stale_after)}); "
        "cards say so. See why its sync has not loaded newer data: python -m bot sync status",
    )


def _missing_sqlite_file(database_url: str) -> str | None:
    """What is missing of a SQLite store (its file, or its audit file beside it), or None."""
    from sqlalchemy.engine import make_url

    from bot.store.db import is_sqlite, sqlite_audit_path

    if not is_sqlite(database_url):
        return None
    database = make_url(database_url).database
    if not database or database == ":memory:":
        return None
    if not Path(database).exists():
        return (
            f"no SQLite store at {database}: run {upgrade_command()} to create it (or set "
            "DATABASE_URL to the store the bot uses)"
        )
    audit = sqlite_audit_path(database)
    if not Path(audit).exists():
        return (
            f"the audit file {audit} is missing beside the store: restore it, or run "
            f"{upgrade_command()} to start an empty one"
        )
    return None


def _check_slack(settings: Settings) -> list[CheckResult]:
    if settings.oauth_enabled:
        # Each workspace's token comes with its install: there is no one token to test, and
        # each group (T0123:S0456) is read with its owner's.
        return [CheckResult("Slack token", True, "OAuth installs: each workspace's own token")]
    if not settings.slack_bot_token:
        return [CheckResult("Slack token", False, "not tested: SLACK_BOT_TOKEN is not set")]
    client = create_web_client(settings)
    try:
        response = client.auth_test()
    except SlackApiError as error:
        code = error.response.get("error") if error.response is not None else None
        if code in TOKEN_REJECTED_ERRORS:
            advice = (
                "copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page"
            )
        else:
            advice = "see https://api.slack.com/methods/auth.test"
        return [CheckResult("Slack token", False, f"Slack refused it ({code}): {advice}")]
    except Exception as error:  # no route to Slack, a timeout, a proxy answering HTML
        return [
            CheckResult(
                "Slack token",
                False,
                f"Slack could not be reached at {settings.slack_api_url} "
                f"({type(error).__name__}): check SLACK_API_URL and the network",
            )
        ]
    token = CheckResult(
        "Slack token",
        True,
        f"valid: workspace {response.get('team')} ({response.get('team_id')}), "
        f"bot user {response.get('user_id')}",
    )
    headers = {name.lower(): value for name, value in (response.headers or {}).items()}
    raw = headers.get(SCOPES_HEADER)
    if isinstance(raw, list):
        raw = ",".join(raw)
    if raw is None:
        return [token, CheckResult("scopes", False, "Slack did not say which scopes it granted")]
    granted = {scope.strip() for scope in raw.split(",") if scope.strip()}
    missing = [scope for scope in BOT_SCOPES if scope not in granted]
    if missing:
        return [
            token,
            CheckResult(
                "scopes",
                False,
                f"the token lacks {', '.join(missing)}: update the app's manifest "
                "(python -m bot manifest) and reinstall the app to the workspace",
            ),
        ]
    scopes = CheckResult("scopes", True, f"all {len(BOT_SCOPES)} of the manifest granted")
    return [token, scopes, *_check_user_groups(settings, client)]


def _check_user_groups(settings: Settings, client: WebClient) -> list[CheckResult]:
    """Each ALLOWED_USERGROUPS entry names a group Slack knows: a misspelt one lets nobody in
    through it, and the bot would only say so in a log line at the first request."""
    if not settings.allowed_usergroups:
        return []
    try:
        response = client.usergroups_list(include_users=False)
    except Exception as error:  # the scopes check above names a missing usergroups:read
        return [
            CheckResult(
                "user groups",
                False,
                f"usergroups.list failed ({_slack_error_code(error)}): the groups are not checked",
            )
        ]
    known = set()
    for group in response.get("usergroups") or []:
        if isinstance(group, dict):
            known.add(str(group.get("id")))
            known.add(str(group.get("handle", "")).lower())
    unknown = sorted(
        entry
        for entry in settings.allowed_usergroups
        if entry.lower() not in known and entry not in known
    )
    if unknown:
        names = ", ".join(f"@{entry}" for entry in unknown)
        return [
            CheckResult(
                "user groups",
                False,
                f"ALLOWED_USERGROUPS names {names}, which Slack does not know (or are disabled): "
                "use each group's handle as Slack shows it, or its id (S…)",
            )
        ]
    return [
        CheckResult("user groups", True, f"all {len(settings.allowed_usergroups)} known to Slack")
    ]


def _slack_error_code(error: Exception) -> str:
    if isinstance(error, SlackApiError) and error.response is not None:
        return str(error.response.get("error") or "error")
    return type(error).__name__
