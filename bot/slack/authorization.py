"""Single-workspace authorization (SLACK_BOT_TOKEN) that survives a Slack outage at first use.

Workers boot without calling Slack (bot.app), so Bolt would call `auth.test` at a worker's first
request (its `SingleTeamAuthorization`), and that middleware catches only `SlackApiError`: with
Slack unreachable the request became a 500 with Bolt's traceback, on every request until Slack
answered, and a refused token got Bolt's generic "reinstall this app" text.

`SingleWorkspaceAuthorization` replaces it:
- `auth.test` answered: remembered for the life of the process (the token does not change);
- Slack unreachable (connection refused or dropped, timeout, HTTP 5xx, 429, any other failure
  that is not a refused token): one WARNING line, nothing remembered (the next request asks
  again), and the request goes on with no installation identity. The allowlist then answers it
  with its "couldn't check who you are" refusal without asking Slack about the user
  (bot.slack.allowlist: without the installation's workspace nobody can be told a member);
- the token refused (invalid_auth, token_revoked, ...): bot.slack.client's `RejectedTokenLogger`
  writes the one ERROR line naming SLACK_BOT_TOKEN and `python -m bot check`; the user gets
  `SETUP_PROBLEM_TEXT` (a slash command, in the HTTP response) and every other request an
  empty acknowledgement.

Wiring (bot.app): Bolt has no slot for a custom single-workspace middleware, so the app gets
this one as `before_authorize=` and `authorize=authorization.authorize`, which hands Bolt the
result this middleware already put in the context (Bolt then gives each request's client the
token). The App's own client carries no token, as in OAuth mode, so Bolt does not warn that
`authorize` overrides it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import Enum
from typing import Any
from urllib.error import URLError

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context import BoltContext
from slack_bolt.middleware.authorization.authorization import Authorization

# The very checks Bolt's own authorization middlewares make: Slack's url_verification and
# ssl_check need no token, and the lifecycle events (app_uninstalled, tokens_revoked) arrive
# when the token no longer works, so they must not wait for auth.test.
from slack_bolt.middleware.authorization.internals import (
    _is_no_auth_required,
    _is_no_auth_test_call_required,
)
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.slack.client import TOKEN_REJECTED_ERRORS

logger = logging.getLogger(__name__)

# Operator instructions are not the user's: the log line says what to fix.
SETUP_PROBLEM_TEXT = "CustomersDot isn't set up correctly; tell the team that runs it."


class Unconfirmed(Enum):
    """Why auth.test gave no answer to build the request's authorization from."""

    SLACK_UNREACHABLE = "slack unreachable"  # refused, dropped, timed out, 5xx, 429, ...
    TOKEN_REFUSED = "token refused"  # invalid_auth, token_revoked, ... (TOKEN_REJECTED_ERRORS)


class SingleWorkspaceAuthorization(Authorization):
    """Bolt's single-workspace authorization, minus the 500 on an outage and the generic refusal.

    `client` holds SLACK_BOT_TOKEN; its retry handlers (bot.slack.client) bound how long the
    auth.test call may take and log a refused token.
    """

    def __init__(self, client: WebClient) -> None:
        self._client = client
        # Only a success is kept: a worker that met an outage asks again at its next request.
        # Two threads may both ask on a worker's first requests; both answers are the same.
        self._auth_test: SlackResponse | None = None
        self._authorize_fields: dict[str, Any] | None = None

    def process(
        self,
        *,
        req: BoltRequest,
        resp: BoltResponse,
        next: Callable[[], BoltResponse],
    ) -> BoltResponse:
        if _is_no_auth_required(req) or _is_no_auth_test_call_required(req):
            return next()  # Bolt's authorization after this one handles them as it always has
        auth_test = self._confirmed_auth_test()
        if auth_test is Unconfirmed.SLACK_UNREACHABLE:
            # Slack could not be asked: no installation identity for this request.
            req.context.set_authorize_result(
                AuthorizeResult(
                    enterprise_id=None,
                    team_id=None,
                    user_id=req.context.user_id,
                    bot_token=self._client.token,
                )
            )
            return next()
        if auth_test is Unconfirmed.TOKEN_REFUSED:
            return _setup_problem_response(req)
        req.context.set_authorize_result(self._authorize_result(auth_test))
        return next()

    def _authorize_result(self, auth_test: SlackResponse) -> AuthorizeResult:
        """A new AuthorizeResult for each request (Bolt's to change), from fields read out of
        auth.test's answer once: reading them (and splitting the scopes) anew cost more."""
        if self._authorize_fields is None:
            read = AuthorizeResult.from_auth_test_response(
                bot_token=self._client.token,
                bot_scopes=auth_test.headers.get("x-oauth-scopes"),
                auth_test_response=auth_test,
            )
            self._authorize_fields = dict(read)
        fields = self._authorize_fields
        scopes = fields["bot_scopes"]
        return AuthorizeResult(**{**fields, "bot_scopes": None if scopes is None else [*scopes]})

    @staticmethod
    def authorize(context: BoltContext) -> AuthorizeResult | None:
        """For `App(authorize=...)`: the result `process` already put in the context."""
        return context.authorize_result

    def _confirmed_auth_test(self) -> SlackResponse | Unconfirmed:
        """auth.test's answer, or why there is none. A failure is never remembered: once Slack
        is back (or the bot's account is reactivated) the next request is answered as usual."""
        if self._auth_test is not None:
            return self._auth_test
        try:
            self._auth_test = self._client.auth_test()
        except SlackApiError as error:
            code = error.response.get("error") if isinstance(error.response.data, dict) else None
            if code in TOKEN_REJECTED_ERRORS:
                # RejectedTokenLogger (bot.slack.client) already wrote the ERROR line.
                return Unconfirmed.TOKEN_REFUSED
            _warn_unreachable(_slack_failure(error))
            return Unconfirmed.SLACK_UNREACHABLE
        except Exception as error:  # connection refused or dropped, timeout, bad answer
            _warn_unreachable(_transport_failure(error))
            return Unconfirmed.SLACK_UNREACHABLE
        return self._auth_test


def _warn_unreachable(cause: str) -> None:
    logger.warning(
        "Slack auth.test failed (%s): this request is answered without checking access; "
        "the next one asks Slack again",
        cause,
    )


def _slack_failure(error: SlackApiError) -> str:
    status = error.response.status_code
    if status != 200:
        # Not Slack's JSON (slack_sdk puts an HTML error page's text in "error"): the status.
        return f"HTTP {status}"
    code = error.response.get("error") if isinstance(error.response.data, dict) else None
    return str(code or "no answer")


def _transport_failure(error: Exception) -> str:
    reason = error.reason if isinstance(error, URLError) else None
    return type(reason).__name__ if isinstance(reason, BaseException) else type(error).__name__


def _setup_problem_response(req: BoltRequest) -> BoltResponse:
    body = req.body or {}
    if body.get("command"):
        return BoltResponse(
            status=200, body={"response_type": "ephemeral", "text": SETUP_PROBLEM_TEXT}
        )
    # Anything else: acknowledged, so Slack does not retry it; nothing can be done without a
    # token Slack accepts.
    return BoltResponse(status=200, body="")
