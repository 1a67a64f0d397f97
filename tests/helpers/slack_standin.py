"""A loopback stand-in for Slack's Web API, for tests that must never reach slack.com.

`SlackStandIn` is a small HTTP server on 127.0.0.1 (an ephemeral port, one daemon thread) that
speaks enough of the Web API for the app's `slack_sdk.WebClient` to run unchanged against it:

    with SlackStandIn() as slack:
        slack.add_user("U1", email="jane@acme.io")
        client = WebClient(token="xoxb-test", base_url=slack.api_url)
        ...
        assert slack.calls_to("users.info")[0].params == {"user": "U1"}

It records every call (method, parsed parameters from the query string and a form or JSON
body, Authorization header), answers with realistic `{"ok": true, ...}` shapes, injects
failures per method (HTTP 429 with Retry-After, HTTP 500, `ok: false`, a delay), and also
serves `response_url` endpoints (`slack.response_url("cmd")`), recording the JSON Bolt's
`respond()` posts there.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from tests.helpers.log_guard import remember

API_PREFIX = "/api/"
RESPOND_PREFIX = "/respond/"

FailureKind = Literal["rate_limited", "server_error", "error", "delay", "disconnect"]


@dataclass(frozen=True)
class RecordedCall:
    """One Web API call as the stand-in received it."""

    method: str  # "chat.postMessage"
    params: dict[
        str, Any
    ]  # query string, then form or JSON body; JSON-looking form values stay strings
    authorization: str | None  # "Bearer xoxb-..."
    http_method: str  # "GET" or "POST"
    content_type: str | None

    @property
    def token(self) -> str | None:
        if self.authorization and self.authorization.startswith("Bearer "):
            return self.authorization.removeprefix("Bearer ")
        token = self.params.get("token")
        return token if isinstance(token, str) else None

    def json_param(self, name: str) -> Any:
        """A parameter slack_sdk may send JSON-encoded inside a form (blocks, view, unfurls)."""
        value = self.params.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value


@dataclass(frozen=True)
class ResponseUrlPost:
    """One POST to a response_url (what Bolt's `respond()` sends)."""

    name: str
    body: dict[str, Any]


@dataclass
class _Failure:
    kind: FailureKind
    remaining: int
    error: str = "internal_error"
    retry_after: int = 1
    delay_seconds: float = 0.0


@dataclass
class _State:
    calls: list[RecordedCall] = field(default_factory=list)
    response_posts: list[ResponseUrlPost] = field(default_factory=list)
    failures: dict[str, deque[_Failure]] = field(default_factory=dict)


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes"}


class SlackStandIn:
    """The Web API of one workspace, on loopback. Thread-safe; start/stop or use `with`."""

    def __init__(
        self,
        *,
        team_id: str = "T0TEAM",
        team_domain: str = "acme-sales",
        team_name: str = "Acme Sales",
        enterprise_id: str | None = None,
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        app_id: str = "A0APP",
    ) -> None:
        self.team_id = team_id
        self.team_domain = team_domain
        self.team_name = team_name
        self.enterprise_id = enterprise_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        # conversations.members per channel; a channel not listed has every known user in it.
        self.channel_members: dict[str, list[str]] = {}
        self._state = _State()
        self._lock = threading.Lock()
        self._ts_counter = itertools.count(1)
        self._id_counter = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        # OAuth (many workspaces): codes Slack would hand out, and the tokens they grant.
        self.oauth_grants: dict[str, dict[str, Any]] = {}
        self.installed_tokens: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self._rotation_counter = itertools.count(1)
        self._thread: threading.Thread | None = None
        # What auth.test reports in its x-oauth-scopes header (as Slack does); None: no header.
        self.granted_scopes: tuple[str, ...] | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> SlackStandIn:
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            # A short poll keeps stop() (every test's teardown) quick.
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="slack-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the Slack stand-in is not running: call start() or use `with`")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        """What to pass as `WebClient(base_url=...)` or SLACK_API_URL."""
        return f"{self.base_url}{API_PREFIX}"

    def response_url(self, name: str = "default") -> str:
        return f"{self.base_url}{RESPOND_PREFIX}{name}"

    # ---- fixtures: the workspace's users, groups and channels ------------------------------

    def add_user(
        self,
        user_id: str,
        *,
        email: str | None = None,
        team_id: str | None = None,
        name: str | None = None,
        deleted: bool = False,
        is_bot: bool = False,
        is_restricted: bool = False,
        is_ultra_restricted: bool = False,
        is_stranger: bool | None = None,
        enterprise_id: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A users.info `user` object. Defaults: a full member of this workspace."""
        handle = name or user_id.lower()
        profile: dict[str, Any] = {
            "real_name": handle.title(),
            "display_name": handle,
            "team": team_id or self.team_id,
        }
        if email is not None:
            profile["email"] = email
            remember(email)
        user: dict[str, Any] = {
            "id": user_id,
            "team_id": team_id or self.team_id,
            "name": handle,
            "real_name": handle.title(),
            "deleted": deleted,
            "is_admin": False,
            "is_owner": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "is_restricted": is_restricted,
            "is_ultra_restricted": is_ultra_restricted,
            "tz": "Europe/Amsterdam",
            "updated": 1_700_000_000,
            "profile": profile,
        }
        if is_stranger is not None:
            user["is_stranger"] = is_stranger
        if enterprise_id is not None:
            user["enterprise_user"] = {
                "id": user_id,
                "enterprise_id": enterprise_id,
                "enterprise_name": "Acme Org",
                "is_admin": False,
                "is_owner": False,
                "teams": [team_id or self.team_id],
            }
        user.update(extra)
        with self._lock:
            self.users[user_id] = user
        return user

    def remove_user(self, user_id: str) -> None:
        with self._lock:
            self.users.pop(user_id, None)

    def add_usergroup(
        self,
        group_id: str,
        handle: str,
        users: Iterable[str] = (),
        *,
        name: str | None = None,
        disabled: bool = False,
    ) -> dict[str, Any]:
        group: dict[str, Any] = {
            "id": group_id,
            "team_id": self.team_id,
            "is_usergroup": True,
            "is_subteam": True,
            "name": name or handle.title(),
            "description": "",
            "handle": handle,
            "is_external": False,
            "date_create": 1_700_000_000,
            "date_update": 1_700_000_000,
            "date_delete": 1_700_000_500 if disabled else 0,
            "auto_type": None,
            "created_by": "UADMIN",
            "users": list(users),
        }
        group["user_count"] = len(group["users"])
        with self._lock:
            self.usergroups[group_id] = group
        return group

    def set_usergroup_members(self, group_id: str, users: Iterable[str]) -> None:
        with self._lock:
            group = self.usergroups[group_id]
            group["users"] = list(users)
            group["user_count"] = len(group["users"])

    def add_channel(
        self, channel_id: str, *, members: Iterable[str] | None = None, **fields: Any
    ) -> dict[str, Any]:
        """A conversations.info `channel` object; pass is_ext_shared, is_private, is_im ...

        `members`: who conversations.members lists (default: every user added)."""
        if members is not None:
            with self._lock:
                self.channel_members[channel_id] = list(members)
        is_im = bool(fields.get("is_im", channel_id.startswith("D")))
        channel: dict[str, Any] = {
            "id": channel_id,
            "name": fields.pop("name", None) or ("" if is_im else channel_id.lower()),
            "is_channel": not is_im,
            "is_group": False,
            "is_im": is_im,
            "is_mpim": False,
            "is_private": is_im,
            "is_archived": False,
            "is_general": False,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_pending_ext_shared": False,
            "is_member": True,
            "context_team_id": self.team_id,
            "created": 1_700_000_000,
        }
        channel.update(fields)
        with self._lock:
            self.channels[channel_id] = channel
        return channel

    # ---- OAuth: installs into many workspaces ------------------------------------------------

    def add_oauth_grant(
        self,
        code: str,
        *,
        team_id: str,
        bot_token: str,
        team_name: str | None = None,
        enterprise_id: str | None = None,
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        installer_id: str = "UINSTALLER",
        scope: str = "commands,users:read,users:read.email,usergroups:read",
        refresh_token: str | None = None,
        expires_in: int = 43_200,
        is_enterprise_install: bool = False,
    ) -> dict[str, Any]:
        """What oauth.v2.access answers for `code`; with `refresh_token`, a rotating token.

        The bot token then answers auth.test as that workspace's bot.
        """
        grant: dict[str, Any] = {
            "ok": True,
            "app_id": self.app_id,
            "authed_user": {"id": installer_id},
            "scope": scope,
            "token_type": "bot",
            "access_token": bot_token,
            "bot_user_id": bot_user_id,
            "team": {"id": team_id, "name": team_name or team_id},
            "enterprise": (
                {"id": enterprise_id, "name": f"{enterprise_id} Org"} if enterprise_id else None
            ),
            "is_enterprise_install": is_enterprise_install,
        }
        if refresh_token is not None:
            grant["refresh_token"] = refresh_token
            grant["expires_in"] = expires_in
        identity = {
            "team_id": team_id,
            "team_name": team_name or team_id,
            "enterprise_id": enterprise_id,
            "bot_user_id": bot_user_id,
            "bot_id": bot_id,
            "is_enterprise_install": is_enterprise_install,
        }
        with self._lock:
            self.oauth_grants[code] = grant
            self.installed_tokens[bot_token] = identity
            if refresh_token is not None:
                self.refresh_tokens[refresh_token] = identity
        return grant

    def revoke_token(self, token: str) -> None:
        """auth.test with `token` answers invalid_auth from now on."""
        with self._lock:
            self.installed_tokens[token] = {"revoked": True}

    # ---- failure injection ------------------------------------------------------------------

    def fail(
        self,
        method: str,
        kind: FailureKind = "error",
        *,
        times: int = 1,
        error: str = "internal_error",
        retry_after: int = 1,
    ) -> None:
        """The next `times` calls to `method` fail: "rate_limited" (HTTP 429 + Retry-After),
        "server_error" (HTTP 500, not JSON), "error" (HTTP 200, `{"ok": false, "error": error}`),
        or "disconnect" (the request is read, then the connection closes with no answer at all).
        """
        self._queue_failure(
            method, _Failure(kind=kind, remaining=times, error=error, retry_after=retry_after)
        )

    def delay(self, method: str, seconds: float, *, times: int = 1) -> None:
        """The next `times` calls to `method` answer normally after `seconds`."""
        self._queue_failure(method, _Failure(kind="delay", remaining=times, delay_seconds=seconds))

    def _queue_failure(self, method: str, failure: _Failure) -> None:
        with self._lock:
            self._state.failures.setdefault(method, deque()).append(failure)

    def _take_failure(self, method: str) -> _Failure | None:
        with self._lock:
            queue = self._state.failures.get(method)
            if not queue:
                return None
            failure = queue[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                queue.popleft()
            return failure

    # ---- what was called --------------------------------------------------------------------

    @property
    def calls(self) -> list[RecordedCall]:
        with self._lock:
            return list(self._state.calls)

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.method == method]

    def call_count(self, method: str | None = None) -> int:
        return len(self.calls if method is None else self.calls_to(method))

    @property
    def response_posts(self) -> list[ResponseUrlPost]:
        with self._lock:
            return list(self._state.response_posts)

    def responses_to(self, name: str = "default") -> list[dict[str, Any]]:
        """The JSON bodies posted to `response_url(name)`, oldest first."""
        return [post.body for post in self.response_posts if post.name == name]

    def clear(self) -> None:
        """Forget recorded calls and response_url posts (users, groups, failures stay)."""
        with self._lock:
            self._state.calls.clear()
            self._state.response_posts.clear()

    # ---- request handling (called from the server's threads) --------------------------------

    def _record(self, call: RecordedCall) -> None:
        with self._lock:
            self._state.calls.append(call)

    def _record_response_post(self, post: ResponseUrlPost) -> None:
        with self._lock:
            self._state.response_posts.append(post)

    def _fresh_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts_counter)}.{next(self._ts_counter):06d}"

    def _fresh_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._id_counter):08d}"

    def answer(
        self, method: str, params: dict[str, Any], token: str | None = None
    ) -> dict[str, Any]:
        """The JSON answer to one Web API call (no failure injection here)."""
        if method == "auth.test":
            # Which workspace a token belongs to is the whole point of auth.test.
            with self._lock:
                return copy.deepcopy(self._answer_auth_test(params, token))
        answerer = getattr(self, "_answer_" + method.replace(".", "_"), None)
        if answerer is None:
            return {"ok": True}
        with self._lock:
            result: dict[str, Any] = answerer(params)
        return copy.deepcopy(result)

    def _answer_oauth_v2_access(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("grant_type") == "refresh_token":
            identity = self.refresh_tokens.pop(str(params.get("refresh_token", "")), None)
            if identity is None:
                return {"ok": False, "error": "invalid_refresh_token"}
            n = next(self._rotation_counter)
            token = f"xoxe.xoxb-1-rotated-{n}"
            refresh = f"xoxe-1-refresh-{n}"
            self.installed_tokens[token] = identity
            self.refresh_tokens[refresh] = identity
            return {
                "ok": True,
                "app_id": self.app_id,
                "token_type": "bot",
                "access_token": token,
                "refresh_token": refresh,
                "expires_in": 43_200,
                "scope": "commands,users:read",
                "bot_user_id": identity["bot_user_id"],
                "team": {"id": identity["team_id"], "name": identity["team_name"]},
                "enterprise": None,
            }
        grant = self.oauth_grants.pop(str(params.get("code", "")), None)
        if grant is None:
            return {"ok": False, "error": "invalid_code"}
        return grant

    def _answer_auth_test(self, params: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        installed = self.installed_tokens.get(token) if token else None
        if installed is not None:
            if installed.get("revoked"):
                return {"ok": False, "error": "invalid_auth"}
            answer: dict[str, Any] = {
                "ok": True,
                "url": f"https://{installed['team_id'].lower()}.slack.com/",
                "team": installed["team_name"],
                "user": "customersdot",
                "team_id": installed["team_id"],
                "user_id": installed["bot_user_id"],
                "bot_id": installed["bot_id"],
                "is_enterprise_install": installed["is_enterprise_install"],
            }
            if installed["enterprise_id"]:
                answer["enterprise_id"] = installed["enterprise_id"]
            return answer
        result: dict[str, Any] = {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": "customersdot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }
        if self.enterprise_id:
            result["enterprise_id"] = self.enterprise_id
        return result

    def _answer_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(params.get("user", "")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    def _answer_usergroups_list(self, params: dict[str, Any]) -> dict[str, Any]:
        include_users = _truthy(params.get("include_users", False))
        include_disabled = _truthy(params.get("include_disabled", False))
        groups = []
        for group in self.usergroups.values():
            if group["date_delete"] and not include_disabled:
                continue
            shown = dict(group)
            if not include_users:
                shown.pop("users")
            groups.append(shown)
        return {"ok": True, "usergroups": groups}

    def _answer_usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = self.usergroups.get(str(params.get("usergroup", "")))
        include_disabled = _truthy(params.get("include_disabled", False))
        if group is None or (group["date_delete"] and not include_disabled):
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(group["users"])}

    def _message(self, params: dict[str, Any], ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": params.get("text", ""),
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "ts": ts,
        }
        blocks = _decoded(params.get("blocks"))
        if blocks:
            message["blocks"] = blocks
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        return message

    def _answer_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        ts = self._fresh_ts()
        return {
            "ok": True,
            "channel": params.get("channel"),
            "ts": ts,
            "message": self._message(params, ts),
        }

    def _answer_chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._fresh_ts()}

    def _answer_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        ts = str(params.get("ts", ""))
        return {
            "ok": True,
            "channel": params.get("channel"),
            "ts": ts,
            "text": params.get("text", ""),
            "message": self._message(params, ts),
        }

    def _answer_chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")}

    def _answer_view(self, params: dict[str, Any]) -> dict[str, Any]:
        view = _decoded(params.get("view"))
        shown = dict(view) if isinstance(view, dict) else {}
        view_id = params.get("view_id") or self._fresh_id("V")
        shown.update(
            {
                "id": view_id,
                "team_id": self.team_id,
                "app_id": self.app_id,
                "bot_id": self.bot_id,
                "hash": self._fresh_ts(),
                "state": {"values": {}},
                "root_view_id": view_id,
                "previous_view_id": None,
            }
        )
        return {"ok": True, "view": shown}

    _answer_views_open = _answer_view
    _answer_views_update = _answer_view
    _answer_views_push = _answer_view
    _answer_views_publish = _answer_view

    def _answer_conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(params.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": channel}

    def _answer_conversations_members(self, params: dict[str, Any]) -> dict[str, Any]:
        channel_id = str(params.get("channel", ""))
        if channel_id not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        members = self.channel_members.get(channel_id, list(self.users))
        limit = int(params.get("limit") or 100)
        start = int(params.get("cursor") or 0)
        page = members[start : start + limit]
        more = start + limit < len(members)
        return {
            "ok": True,
            "members": page,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _answer_conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("channel"):
            return {"ok": True, "channel": {"id": params["channel"]}}
        users = str(params.get("users", "")).replace(",", "_")
        return {"ok": True, "channel": {"id": f"D{users}"}, "already_open": False}


def _decoded(value: Any) -> Any:
    """slack_sdk sends structured arguments JSON-encoded when it sends a form."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _parse_body(raw: bytes, content_type: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    text = raw.decode("utf-8")
    if content_type and "json" in content_type:
        parsed = json.loads(text)
        return parsed if isinstance(parsed, dict) else {"_body": parsed}
    return dict(parse_qsl(text, keep_blank_values=True))


def _make_handler(standin: SlackStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            # Quiet: pytest shows the recorded calls when an assertion needs them.
            return

        def do_GET(self) -> None:
            self._handle_quietly()

        def do_POST(self) -> None:
            self._handle_quietly()

        def _handle_quietly(self) -> None:
            try:
                self._handle()
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up first (a timeout test); nobody is left to answer.
                self.close_connection = True

        def _read_body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(
            self,
            status: int,
            body: bytes,
            content_type: str = "application/json; charset=utf-8",
            headers: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _send_json(self, status: int, payload: dict[str, Any], **kwargs: Any) -> None:
            self._send(status, json.dumps(payload).encode("utf-8"), **kwargs)

        def _handle(self) -> None:
            url = urlsplit(self.path)
            raw = self._read_body()
            content_type = self.headers.get("Content-Type")
            if url.path.startswith(RESPOND_PREFIX):
                name = url.path.removeprefix(RESPOND_PREFIX)
                # `fail("respond/<name>", ...)` makes this response_url answer as Slack does
                # when one has expired or Slack is down; nothing is posted then.
                failure = standin._take_failure(f"respond/{name}")
                if failure is not None and failure.kind != "delay":
                    status = 429 if failure.kind == "rate_limited" else 500
                    if failure.kind == "error":
                        status = 404  # Slack: "expired_url" / "used_url"
                    self._send(status, b"expired_url", content_type="text/plain")
                    return
                body = _parse_body(raw, content_type or "application/json")
                standin._record_response_post(ResponseUrlPost(name=name, body=body))
                self._send(200, b"ok", content_type="text/plain")
                return
            if not url.path.startswith(API_PREFIX):
                self._send_json(404, {"ok": False, "error": "unknown_path"})
                return
            method = url.path.removeprefix(API_PREFIX)
            params: dict[str, Any] = dict(parse_qsl(url.query, keep_blank_values=True))
            params.update(_parse_body(raw, content_type))
            call = RecordedCall(
                method=method,
                params=params,
                authorization=self.headers.get("Authorization"),
                http_method=self.command,
                content_type=content_type,
            )
            standin._record(call)
            failure = standin._take_failure(method)
            if failure is not None:
                if failure.kind == "rate_limited":
                    self._send_json(
                        429,
                        {"ok": False, "error": "ratelimited"},
                        headers={"Retry-After": str(failure.retry_after)},
                    )
                    return
                if failure.kind == "server_error":
                    self._send(500, b"<html>Internal Server Error</html>", "text/html")
                    return
                if failure.kind == "error":
                    self._send_json(200, {"ok": False, "error": failure.error})
                    return
                if failure.kind == "disconnect":
                    # As a load balancer dropping the connection: no status line, no body.
                    self.close_connection = True
                    return
                time.sleep(failure.delay_seconds)
            answer = standin.answer(method, params, call.token)
            headers = {}
            if method == "auth.test" and answer.get("ok") and standin.granted_scopes is not None:
                headers["x-oauth-scopes"] = ",".join(standin.granted_scopes)
            self._send_json(200, answer, headers=headers)

    return Handler
