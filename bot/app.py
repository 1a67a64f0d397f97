"""The one wiring module: the Bolt app, its middleware in order, the listeners registered on it."""

from __future__ import annotations

import gc
import html
import io
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, cast

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from bot.config import ConfigError, Settings

# Re-exported: the entry points (bot.asgi, python -m bot serve) configure logging through here.
from bot.logs import configure_logging as configure_logging
from bot.logs import quiet_bolt_logs
from bot.request_body import MAX_BODY_BYTES as MAX_BODY_BYTES
from bot.request_body import buffer_bounded_body, buffered_body, keep_parsed_body
from bot.services import Services, build_services, with_oauth_parts
from bot.slack.allowlist import allowlist_middleware, local_operator_middleware
from bot.slack.authorization import SingleWorkspaceAuthorization
from bot.slack.bolt_request import SlackWsgiHandler
from bot.slack.client import create_web_client
from bot.slack.identity import AccessResolver, IdentityResolver
from bot.slack.install_guard import InstallGuard, InstallRefusal
from bot.slack.installation_authorization import InstalledWorkspacesAuthorize, build_authorize
from bot.slack.installation_clients import InstallationClients
from bot.slack.oauth import build_oauth_flow, build_oauth_settings
from bot.slack.request_claims import INVALID_REQUEST, ClaimSettlingApp, RequestClaimMiddleware
from bot.slack.request_shape import read_slack_body
from bot.slack.slack_sdk_tables import OAUTH_STATES_TABLE
from bot.slack.workspace_resolvers import WorkspaceResolvers
from bot.store.failures import store_failure_cause, upgrade_command
from bot.store.schema import is_up_to_date
from bot.views.notices import build_refusal

SLACK_EVENTS_PATH = "/slack/events"
# What Bolt answers a request whose signature does not verify.
MALFORMED_REQUEST = {"error": "malformed request"}
# Slack's largest request bodies (a modal's submitted state, a message shortcut carrying a long
# message) are tens of KB; 1 MiB leaves ample room and bounds what one unsigned request can
# make a worker read and hold before its signature is checked.
BODY_TOO_LARGE = {"error": "request body too large"}
LOCAL_TEAM_ID = "T0LOCAL"
LOCAL_USER_ID = "U0LOCAL"


def create_app(
    settings: Settings,
    *,
    services: Services | None = None,
    client: WebClient | None = None,
    identity_resolver: AccessResolver | None = None,
) -> App:
    """The Bolt app for Slack (HTTP or Socket Mode): signed requests, the allowlist enforced.

    One workspace with SLACK_BOT_TOKEN; many (OAuth installs, tokens from the store) with
    SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_SCOPES.
    """
    if problem := settings.slack_credentials_problem():
        raise ConfigError(problem)
    # OAuth mode: no start without the organisations it serves (ALLOWED_TEAM_IDS ...).
    settings.check_organisations()
    services = services or build_services(settings)
    # Before Bolt can log an unsigned request's body (UnverifiedRequestFilter), or warn about
    # the token it read from the environment itself (DeliberateClientFilter).
    quiet_bolt_logs()
    resolver: AccessResolver | WorkspaceResolvers
    if settings.oauth_enabled:
        services = with_oauth_parts(settings, services)
        app, installation_clients = _create_oauth_app(settings, services, client)
        # Each workspace's users are looked up with that workspace's own token, user groups
        # with the token of the allowed workspace that owns them.
        workspaces = services.workspace_resolvers
        assert workspaces is not None  # _with_oauth_parts
        workspaces.read_user_groups_with(installation_clients)
        resolver = identity_resolver or workspaces
    else:
        client = client or create_web_client(settings)
        # No auth.test while a worker boots: with Slack unreachable or a bad token every
        # gunicorn worker would fail to boot (a crash loop). It is called at the first request
        # instead, where an outage or a refused token gets an answer rather than a 500
        # (bot.slack.authorization); `python -m bot check` tests the token before a deploy.
        authorization = SingleWorkspaceAuthorization(client)
        app = ClaimSettlingApp(
            name="customersdot",
            # Bolt gives each request's client the token `authorize` returns.
            client=_without_token(client),
            signing_secret=settings.slack_signing_secret,
            # Answer in the HTTP response itself: Bolt's threaded runner adds ~10 ms to every ack.
            process_before_response=True,
            before_authorize=authorization,
            # Bolt annotates `authorize` as returning an AuthorizeResult but takes a None too
            # (its CallableAuthorize passes it on, and the request is refused).
            authorize=cast(Callable[..., AuthorizeResult], authorization.authorize),
        )
        resolver = identity_resolver or IdentityResolver(client, settings)
    # The first of the app's middleware (Bolt has checked the signature and authorized): a
    # retried Events API delivery or a replayed request is dropped before anything else acts on it.
    # A lookup command's claim is made in the lookup's own audited transaction (one commit
    # fewer), and the app settles it after the dispatch; handlers/commands.py knows which
    # commands those are.
    from handlers.commands import claims_in_its_transaction

    app.request_claims = RequestClaimMiddleware(
        services.session_factory, claimed_by_its_listener=claims_in_its_transaction
    )
    app.use(app.request_claims)
    app.use(
        allowlist_middleware(
            resolver,
            session_factory=services.session_factory,
            access_request_url=settings.access_request_url,
            refusal_builder=build_refusal,
            organisations=settings.organisations,
        )
    )
    _register_handlers(app, services)
    return app


def _without_token(client: WebClient) -> WebClient:
    """A copy of `client` with no token: Bolt's per-request clients copy its base URL, timeout
    and retry handlers, and warn when an App given `authorize=` also has a token."""
    return WebClient(
        token=None,
        base_url=client.base_url,
        timeout=client.timeout,
        retry_handlers=client.retry_handlers,
    )


def _create_oauth_app(
    settings: Settings, services: Services, client: WebClient | None
) -> tuple[ClaimSettlingApp, InstallationClients]:
    store = services.installation_store
    assert store is not None  # _with_oauth_parts
    # No token of its own: every request is authorized with its installation's token.
    client = client or create_web_client(replace(settings, slack_bot_token=None))
    oauth_settings = build_oauth_settings(settings, services.engine, store)
    authorize = build_authorize(oauth_settings, client)
    app = ClaimSettlingApp(
        name="customersdot",
        client=client,
        signing_secret=settings.slack_signing_secret,
        # Installs into another organisation are refused before anything is stored.
        oauth_flow=build_oauth_flow(settings, oauth_settings, client),
        # None for a workspace with no installation: Bolt refuses the request, though its
        # annotation promises an AuthorizeResult (as in create_app).
        authorize=cast(Callable[..., AuthorizeResult], InstalledWorkspacesAuthorize(authorize)),
        process_before_response=True,
    )
    installation_clients = InstallationClients(
        store,
        settings.organisations,
        lambda token: create_web_client(settings, token),
        authorize=authorize,
        client=client,
    )
    return app, installation_clients


def create_local_app(settings: Settings, *, services: Services | None = None) -> App:
    """Shell mode: no Slack, no token, no signatures; the person at the terminal is trusted."""
    services = services or build_services(settings)
    quiet_bolt_logs()

    def authorize_local_operator(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=None, team_id=LOCAL_TEAM_ID, bot_user_id="B0LOCAL", bot_id="B0LOCAL"
        )

    app = App(
        name="customersdot-shell",
        client=WebClient(token=None, base_url=settings.slack_api_url),
        authorize=authorize_local_operator,
        request_verification_enabled=False,
        process_before_response=True,
    )
    app.use(local_operator_middleware())
    _register_handlers(app, services)
    return app


def _register_handlers(app: App, services: Services) -> None:
    import handlers  # imported when an app is built, not when bot.app is: no import-time work

    handlers.register(app, services)


class SlackWsgiApp:
    """WSGI entry: Slack at POST /slack/events, probes at GET /healthz and /readyz."""

    def __init__(self, bolt_app: App, services: Services) -> None:
        self._slack = SlackWsgiHandler(bolt_app, path=SLACK_EVENTS_PATH)
        self._services = services
        flow = bolt_app.oauth_flow
        # OAuth mode: the install link and Slack's redirect back after consent.
        self._oauth_paths = (
            frozenset({flow.install_path, flow.redirect_uri_path}) if flow else frozenset()
        )
        self._install_path = flow.install_path if flow else None
        self._install_guard = (
            InstallGuard(services.engine, OAUTH_STATES_TABLE) if flow is not None else None
        )

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method in {"GET", "HEAD"}:
            return _json_response(start_response, "200 OK", {"status": "ok"}, method=method)
        if path == "/readyz" and method in {"GET", "HEAD"}:
            ready, detail = self._readiness()
            status = "200 OK" if ready else "503 Service Unavailable"
            return _json_response(
                start_response, status, {"ready": ready, "store": detail}, method=method
            )
        if path == SLACK_EVENTS_PATH:
            if not _timestamp_is_well_formed(environ):
                # slack_sdk's verifier raises on a non-integer timestamp (a 500): refuse as
                # Bolt refuses any other unverifiable request.
                return _json_response(start_response, "401 Unauthorized", INVALID_REQUEST)
            if not buffer_bounded_body(environ):
                return _json_response(start_response, "413 Content Too Large", BODY_TOO_LARGE)
            if _body_is_malformed(environ):
                return _json_response(start_response, "400 Bad Request", MALFORMED_REQUEST)
            return self._slack(environ, start_response)
        if path in self._oauth_paths and method == "GET":
            if path == self._install_path and self._install_guard is not None:
                refusal = self._install_guard.refusal(environ)
                if refusal is not None:
                    return _install_refused(start_response, refusal)
            return self._slack(environ, start_response)
        return _json_response(start_response, "404 Not Found", {"error": "not_found"})

    def _readiness(self) -> tuple[bool, str]:
        try:
            migrated = is_up_to_date(self._services.engine)
        except Exception as error:  # any failure to reach the store means not ready
            # The cause (refused, timed out, authentication failed, …), never the URL.
            logging.getLogger(__name__).warning(
                "readiness: store unreachable (%s)", store_failure_cause(error)
            )
            return False, "unreachable"
        if not migrated:
            logging.getLogger(__name__).warning(
                "readiness: store not migrated: run %s", upgrade_command()
            )
            return False, "not migrated"
        return True, "ok"


def _install_refused(start_response: Callable[..., Any], refusal: InstallRefusal) -> list[bytes]:
    logging.getLogger(__name__).info("install not started: %s", refusal.message)
    body = f"<!doctype html><title>CustomersDot</title><p>{html.escape(refusal.message)}</p>"
    encoded = body.encode("utf-8")
    start_response(
        refusal.status,
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(encoded))),
            ("Retry-After", str(refusal.retry_after_seconds)),
        ],
    )
    return [encoded]


def freeze_startup_objects() -> None:
    """Leave what a serving process built before its first request (modules, the app, its
    prebuilt statements: about 124,000 objects) out of the garbage collector's full collections
    (`gc.freeze`). A full collection of them took 29-37 ms, and came at an arbitrary request,
    every so many thousand. Called once the app is built, by each process that serves."""
    gc.collect()  # nothing already unreachable is kept for ever
    gc.freeze()


def _timestamp_is_well_formed(environ: dict[str, Any]) -> bool:
    """Absent (Bolt refuses it as too old) or what Slack sends: Unix seconds, ASCII digits."""
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
    return timestamp is None or (timestamp.isascii() and timestamp.isdigit())


def _body_is_malformed(environ: dict[str, Any]) -> bool:
    """Check the buffered body's shape (bot.slack.request_shape); Bolt reads the same buffer."""
    try:
        int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    raw = buffered_body(environ)
    if raw is None:  # no length and no end to read to: Bolt gets no body either
        raw = b""
        environ["wsgi.input"] = io.BytesIO(raw)
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    payload, reason = read_slack_body(body, environ.get("CONTENT_TYPE"))
    if reason is not None:
        logging.getLogger(__name__).info("refused a malformed Slack request: %s", reason)
        return True
    if isinstance(payload, dict):
        # Parsed once: the request Bolt dispatches is built from it (bot/slack/bolt_request.py).
        keep_parsed_body(environ, body, payload)
    return False


def _json_response(
    start_response: Callable[..., Any],
    status: str,
    body: dict[str, Any],
    *,
    method: str = "GET",
) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    # HEAD gets GET's headers and no body (RFC 9110): gunicorn warns about body bytes it drops.
    return [] if method == "HEAD" else [data]


def create_wsgi_app(settings: Settings) -> SlackWsgiApp:
    # Built in each gunicorn worker (no preload): the checkpoint thread is the worker's own.
    services = build_services(settings, checkpoint_in_background=True)
    return SlackWsgiApp(create_app(settings, services=services), services)
