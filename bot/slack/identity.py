"""Who is asking, and may they? Slack user -> email and user groups -> an `AccessDecision`.

The allowlist (docs/configuration.md) admits a user by Slack id, email, email domain or
membership of a Slack user group. Guests, external (Slack Connect) users, deactivated users and
bots are refused even when listed: being on a list does not make a guest an employee.

Whose word counts (bot.organisations): the team and enterprise a user is a member of or
external to are the installation's (bot.slack.actor), never the request body's. Email and
email-domain rules count only for users whose home workspace or Grid organisation is allowed
(ALLOWED_TEAM_IDS / ALLOWED_ENTERPRISE_IDS), since an admin elsewhere can set any email on
their members. In OAuth mode a user group is `T0123:S0456` and is read only with the bot token
of that (allowed) workspace's installation (`owner_client`), never with the requesting
workspace's: any workspace that installs the app can create a group called `sales`.

Decisions are cached per process, per (enterprise, team, user), for
`IDENTITY_CACHE_SECONDS`: a second command costs no Slack API call. The cache is not shared
between gunicorn workers or instances, and nothing invalidates it, so a user removed from the
allowlist's sources (deactivated, dropped from a user group) keeps access for at most that TTL:
a decision never outlives the group membership it was derived from. Failures to reach Slack
are never cached, and always refuse (fail closed).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.access import (
    RULE_EMAIL,
    RULE_EMAIL_DOMAIN,
    RULE_LOCAL_OPERATOR,
    RULE_USER_ID,
    RULE_USERGROUP_PREFIX,
    AccessDecision,
)
from bot.config import Settings
from bot.organisations import OrganisationAllowlist, parse_workspace_usergroup
from bot.outcomes import RefusalReason

logger = logging.getLogger(__name__)

# The request context's flag for a workspace without an installation
# (bot.slack.installation_authorization.InstalledWorkspacesAuthorize); the allowlist refuses it
# as RefusalReason.NOT_INSTALLED.
NO_INSTALLATION_CONTEXT_KEY = "no_installation"

# Slack's own assistant is neither a person nor flagged is_bot.
SLACKBOT_USER_ID = "USLACKBOT"
USER_NOT_FOUND_ERRORS = frozenset({"user_not_found", "users_not_found"})
# User group ids look like S0123ABCD; handles are lowercase words (`sales`, `deal-desk`).
USERGROUP_ID_PATTERN = re.compile(r"^S[A-Z0-9]{2,}$")

Clock = Callable[[], float]
# OAuth mode: a workspace's (or Grid organisation's) id -> a client with the bot token of its
# installation, or None when it has none or is not an allowed organisation.
OwnerClient = Callable[[str], WebClient | None]


# The person at a `python -m bot shell` terminal already holds the store.
LOCAL_OPERATOR_ACCESS = AccessDecision.allow(RULE_LOCAL_OPERATOR)


@runtime_checkable
class AccessResolver(Protocol):
    """Anything that decides access: IdentityResolver, LocalOperatorResolver, a test double."""

    def decide(
        self, user_id: str, team_id: str | None, enterprise_id: str | None = None
    ) -> AccessDecision: ...


class LocalOperatorResolver:
    """Allows everyone without asking Slack: for shell mode, where there is no Slack."""

    def decide(
        self, user_id: str, team_id: str | None, enterprise_id: str | None = None
    ) -> AccessDecision:
        return LOCAL_OPERATOR_ACCESS


class IdentityUnavailable(Exception):
    """Slack could not answer; the caller refuses and tries again next time."""


K = TypeVar("K")
V = TypeVar("V")


class _ExpiringLru(Generic[K, V]):
    """A bounded mapping whose entries expire at their own deadline. Not thread-safe by itself."""

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max(1, max_entries)
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K, now: float) -> tuple[float, V] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: K, value: V, valid_until: float) -> None:
        self._entries[key] = (valid_until, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class _Verdict:
    decision: AccessDecision
    # The earliest expiry among the cached facts the decision was derived from.
    valid_until: float


class IdentityResolver:
    """Decides access from Slack's users.info and user groups, with a per-process TTL cache.

    Thread-safe: the caches are guarded by one lock, never held across a Slack API call (two
    threads resolving the same new user may both ask Slack; both get the same answer).
    """

    def __init__(
        self,
        client: WebClient,
        settings: Settings,
        *,
        clock: Clock = time.monotonic,
        max_entries: int = 10_000,
        owner_client: OwnerClient | None = None,
    ) -> None:
        self._client = client
        # OAuth mode: user groups are `T0123:S0456`, read only with the owner's own token.
        self._owner_client = owner_client
        self._organisations: OrganisationAllowlist = settings.organisations
        self._ttl = float(settings.identity_cache_seconds)
        self._clock = clock
        self._allowed_user_ids = frozenset(settings.allowed_user_ids)
        # Settings.from_env normalises these; a Settings built in code may not have.
        self._allowed_emails = frozenset(e.strip().lower() for e in settings.allowed_emails)
        self._allowed_domains = frozenset(
            d.strip().lower().lstrip("@") for d in settings.allowed_email_domains
        )
        self._allowed_groups = tuple(
            sorted(g.strip().lstrip("@") for g in settings.allowed_usergroups)
        )
        self._lock = threading.Lock()
        self._decisions: _ExpiringLru[tuple[str | None, str | None, str], AccessDecision] = (
            _ExpiringLru(max_entries)
        )
        # Group id -> member ids; "handles" -> {handle: group id}. Few entries: one per group.
        self._group_members: _ExpiringLru[str, frozenset[str]] = _ExpiringLru(1_000)
        self._handles: _ExpiringLru[str, Mapping[str, str]] = _ExpiringLru(1)

    @property
    def allowlist_is_empty(self) -> bool:
        return not (
            self._allowed_user_ids
            or self._allowed_emails
            or self._allowed_domains
            or self._allowed_groups
        )

    def decide(
        self, user_id: str, team_id: str | None, enterprise_id: str | None = None
    ) -> AccessDecision:
        if self.allowlist_is_empty:
            return AccessDecision.refuse(RefusalReason.NOT_LISTED)
        key = (enterprise_id, team_id, user_id)
        now = self._clock()
        with self._lock:
            cached = self._decisions.get(key, now)
        if cached is not None:
            return cached[1]
        try:
            verdict = self._resolve(user_id, team_id, enterprise_id, now)
        except IdentityUnavailable:
            # Not cached: the next request asks Slack again.
            return AccessDecision.refuse(RefusalReason.IDENTITY_UNAVAILABLE)
        if self._ttl > 0:
            with self._lock:
                self._decisions.put(key, verdict.decision, verdict.valid_until)
        return verdict.decision

    def forget(self) -> None:
        """Drop every cached decision and group membership (tests, or an operator's reload)."""
        with self._lock:
            self._decisions.clear()
            self._group_members.clear()
            self._handles.clear()

    # ---- resolution -----------------------------------------------------------------------

    def _resolve(
        self, user_id: str, team_id: str | None, enterprise_id: str | None, now: float
    ) -> _Verdict:
        valid_until = now + self._ttl
        user = self._fetch_user(user_id)
        if user is None:
            return _Verdict(AccessDecision.refuse(RefusalReason.UNKNOWN_USER), valid_until)
        email = _profile_email(user)
        refusal = _refusal_for_account(user, team_id, enterprise_id)
        if refusal is not None:
            return _Verdict(AccessDecision.refuse(refusal, email), valid_until)

        if user_id in self._allowed_user_ids:
            return _Verdict(AccessDecision.allow(RULE_USER_ID, email), valid_until)
        # An email address is only as trustworthy as the admin who set it: count it only for
        # users whose home workspace or organisation is an allowed one.
        if email is not None and self._is_of_allowed_organisation(user):
            if email in self._allowed_emails:
                return _Verdict(AccessDecision.allow(RULE_EMAIL, email), valid_until)
            if email.rpartition("@")[2] in self._allowed_domains:
                return _Verdict(AccessDecision.allow(RULE_EMAIL_DOMAIN, email), valid_until)
        if not self._allowed_groups:
            return _Verdict(AccessDecision.refuse(RefusalReason.NOT_LISTED, email), valid_until)
        return self._decide_by_usergroups(user_id, email, now)

    def _is_of_allowed_organisation(self, user: Mapping[str, Any]) -> bool:
        """Is the user a member of an allowed workspace (on Grid: any of theirs) or org?"""
        enterprise_id = _user_enterprise(user)
        return any(
            self._organisations.allows(team_id, enterprise_id) for team_id in _user_teams(user)
        )

    def _decide_by_usergroups(self, user_id: str, email: str | None, now: float) -> _Verdict:
        valid_until = now + self._ttl
        unavailable = False
        handles: Mapping[str, str] = {}
        if self._owner_client is None and any(
            not USERGROUP_ID_PATTERN.match(entry) for entry in self._allowed_groups
        ):
            try:
                handles, handles_until = self._group_ids_by_handle(now)
                valid_until = min(valid_until, handles_until)
            except IdentityUnavailable:
                unavailable = True
        for entry in self._allowed_groups:
            source = self._group_source(entry, handles)
            if source is None:
                continue
            try:
                members, members_until = self._group_members_of(*source, now)
            except IdentityUnavailable:
                unavailable = True
                continue
            valid_until = min(valid_until, members_until)
            if user_id in members:
                rule = f"{RULE_USERGROUP_PREFIX}{entry}"
                return _Verdict(AccessDecision.allow(rule, email), valid_until)
        if unavailable:
            # A group we could not read might have listed this user.
            raise IdentityUnavailable("user group membership unavailable")
        return _Verdict(AccessDecision.refuse(RefusalReason.NOT_LISTED, email), valid_until)

    def _group_source(
        self, entry: str, handles: Mapping[str, str]
    ) -> tuple[str, str, Callable[[], WebClient | None]] | None:
        """(cache key, group id, the client to read it with) for an ALLOWED_USERGROUPS entry."""
        owner_client = self._owner_client
        if owner_client is None:
            group_id = entry if USERGROUP_ID_PATTERN.match(entry) else handles.get(entry.lower())
            return None if group_id is None else (group_id, group_id, lambda: self._client)
        named = parse_workspace_usergroup(entry)
        if named is None:
            # Settings.check_organisations refuses these at startup; never read a group with
            # the requesting workspace's token, whose admins chose what it is called.
            return None
        return entry, named.group_id, lambda: owner_client(named.owner_id)

    # ---- Slack calls --------------------------------------------------------------------------

    def _fetch_user(self, user_id: str) -> Mapping[str, Any] | None:
        """users.info's `user`, or None when Slack does not know the id."""
        try:
            response = self._client.users_info(user=user_id)
        except SlackApiError as error:
            code = error.response.get("error") if _is_dict_response(error) else None
            if code in USER_NOT_FOUND_ERRORS:
                return None
            logger.warning(
                "users.info failed for user %s: %s (status %s)",
                user_id,
                code or "no error code",
                error.response.status_code,
            )
            raise IdentityUnavailable(str(code)) from error
        except Exception as error:
            logger.warning("users.info failed for user %s: %s", user_id, type(error).__name__)
            raise IdentityUnavailable(type(error).__name__) from error
        user = response.get("user")
        if not isinstance(user, dict):
            raise IdentityUnavailable("users.info answered without a user")
        return user

    def _group_ids_by_handle(self, now: float) -> tuple[Mapping[str, str], float]:
        with self._lock:
            cached = self._handles.get("handles", now)
        if cached is not None:
            return cached[1], cached[0]
        try:
            response = self._client.usergroups_list(include_users=False)
        except Exception as error:
            logger.warning("usergroups.list failed: %s", _error_code(error))
            raise IdentityUnavailable("usergroups.list") from error
        handles = {
            str(group["handle"]).lower(): str(group["id"])
            for group in response.get("usergroups") or []
            if isinstance(group, dict) and group.get("handle") and group.get("id")
        }
        for entry in self._allowed_groups:
            if not USERGROUP_ID_PATTERN.match(entry) and entry.lower() not in handles:
                logger.warning("ALLOWED_USERGROUPS names @%s, which Slack does not know", entry)
        valid_until = now + self._ttl
        if self._ttl > 0:
            with self._lock:
                self._handles.put("handles", handles, valid_until)
        return handles, valid_until

    def _group_members_of(
        self, key: str, group_id: str, reader: Callable[[], WebClient | None], now: float
    ) -> tuple[frozenset[str], float]:
        with self._lock:
            cached = self._group_members.get(key, now)
        if cached is not None:
            return cached[1], cached[0]
        try:
            client = reader()
        except Exception as error:
            logger.warning("no client to read user group %s: %s", key, type(error).__name__)
            raise IdentityUnavailable("installation store") from error
        if client is None:
            # Its workspace is not installed, or not an allowed organisation: it admits nobody.
            logger.warning("ALLOWED_USERGROUPS names %s, whose workspace is not allowed", key)
            return frozenset(), now + self._ttl
        try:
            response = client.usergroups_users_list(usergroup=group_id)
        except SlackApiError as error:
            code = _error_code(error)
            if code == "no_such_subteam":
                # A deleted or disabled group admits nobody; that is an answer, not an outage.
                logger.warning("ALLOWED_USERGROUPS names %s, which Slack does not know", key)
                return frozenset(), now + self._ttl
            logger.warning("usergroups.users.list failed for %s: %s", key, code)
            raise IdentityUnavailable("usergroups.users.list") from error
        except Exception as error:
            logger.warning("usergroups.users.list failed for %s: %s", key, type(error).__name__)
            raise IdentityUnavailable("usergroups.users.list") from error
        members = frozenset(str(u) for u in response.get("users") or [])
        valid_until = now + self._ttl
        if self._ttl > 0:
            with self._lock:
                self._group_members.put(key, members, valid_until)
        return members, valid_until


def _is_dict_response(error: SlackApiError) -> bool:
    return isinstance(getattr(error.response, "data", None), dict)


def _error_code(error: Exception) -> str:
    if isinstance(error, SlackApiError) and _is_dict_response(error):
        return str(error.response.get("error") or "no error code")
    return type(error).__name__


def _profile_email(user: Mapping[str, Any]) -> str | None:
    profile = user.get("profile")
    email = profile.get("email") if isinstance(profile, dict) else None
    if not isinstance(email, str) or "@" not in email:
        return None
    return email.strip().lower()


def _user_enterprise(user: Mapping[str, Any]) -> str | None:
    """The user's Enterprise Grid organisation, from users.info; None off Grid."""
    enterprise_user = user.get("enterprise_user")
    enterprise_id = (
        enterprise_user.get("enterprise_id") if isinstance(enterprise_user, dict) else None
    )
    return enterprise_id if isinstance(enterprise_id, str) else None


def _user_teams(user: Mapping[str, Any]) -> tuple[str | None, ...]:
    """The user's workspaces: `team_id` (on Grid possibly the organisation's id) and, on Grid,
    every workspace of the organisation they belong to; (None,) when Slack names none."""
    enterprise_user = user.get("enterprise_user")
    teams = enterprise_user.get("teams") if isinstance(enterprise_user, dict) else None
    found = [user.get("team_id"), *(teams if isinstance(teams, list) else [])]
    return tuple(team for team in found if isinstance(team, str)) or (None,)


def _refusal_for_account(
    user: Mapping[str, Any], team_id: str | None, enterprise_id: str | None
) -> RefusalReason | None:
    """Why this account may never use the bot, whatever the allowlist says; None if it may."""
    if user.get("deleted"):
        return RefusalReason.DEACTIVATED
    if user.get("is_bot") or user.get("is_app_user") or user.get("id") == SLACKBOT_USER_ID:
        return RefusalReason.BOT
    if user.get("is_restricted") or user.get("is_ultra_restricted"):
        return RefusalReason.GUEST
    if _is_external(user, team_id, enterprise_id):
        return RefusalReason.EXTERNAL
    return None


def _is_external(user: Mapping[str, Any], team_id: str | None, enterprise_id: str | None) -> bool:
    if user.get("is_stranger"):
        return True
    user_team = user.get("team_id")
    if team_id is not None and user_team == team_id:
        return False
    if enterprise_id is not None:
        user_enterprise = _user_enterprise(user)
        # On Enterprise Grid a colleague's home workspace may differ from the request's.
        if user_enterprise == enterprise_id or user_team == enterprise_id:
            return False
    # Neither the same workspace nor the same organisation (or nothing to compare with).
    return True
