"""The Slack Web API client: bounded retries sized for Slack's 3-second window.

slack_sdk's `RateLimitErrorRetryHandler` sleeps the whole `Retry-After` (plus jitter) with no
cap: a 429 with `Retry-After: 30` would hold the request thread for 30 s, long after Slack gave
up on the answer. Every handler here shares one budget per API call: a retry starts only if its
wait ends within `RETRY_BUDGET_SECONDS` of the call's first attempt, so the identity check that
precedes every reply (users.info) either gets its answer or fails closed in time.

Worst case for one call: the budget (1.25 s) plus one attempt's timeout (1.5 s) = 2.75 s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from http.client import RemoteDisconnected
from typing import TypedDict, Unpack
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.config import Settings

logger = logging.getLogger(__name__)

# One attempt may take this long; lazy posts (chat.postMessage, views.publish) share the
# client, and Slack answers them in well under a second when it is healthy.
ATTEMPT_TIMEOUT_SECONDS = 1.5
# A retry is only started if its wait ends this soon after the call's first attempt began.
RETRY_BUDGET_SECONDS = 1.25
# Slack's Retry-After is whole seconds; anything above this cap is not worth waiting for.
MAX_RATE_LIMIT_WAIT_SECONDS = 1.0
SERVER_ERROR_WAIT_SECONDS = 0.2
CONNECTION_ERROR_WAIT_SECONDS = 0.1
RETRIED_SERVER_STATUSES = frozenset({500, 502, 503, 504})

Sleep = Callable[[float], None]
Clock = Callable[[], float]

_STARTED_AT = "customersdot_started_at"


class BudgetArgs(TypedDict, total=False):
    """`BoundedRetryHandler`'s keyword arguments, which each handler below passes on."""

    max_retry_count: int
    budget_seconds: float
    sleep: Sleep
    clock: Clock


class BoundedRetryHandler(RetryHandler):
    """A slack_sdk `RetryHandler` whose waits come out of one per-call time budget.

    `sleep` and `clock` are injectable so tests check the waits without waiting.
    """

    def __init__(
        self,
        *,
        max_retry_count: int = 1,
        budget_seconds: float = RETRY_BUDGET_SECONDS,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.budget_seconds = budget_seconds
        self._sleep = sleep
        self._clock = clock

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not self._is_retryable(response=response, error=error):
            return False
        wait = self.wait_seconds(response=response, error=error)
        if wait is None:
            logger.warning("Slack API %s: not retried (wait too long)", _method(request))
            return False
        if self._elapsed(state) + wait > self.budget_seconds:
            logger.warning("Slack API %s: not retried (out of time)", _method(request))
            return False
        return True

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = self.wait_seconds(response=response, error=error) or 0.0
        logger.info(
            "Slack API %s: retrying in %.2f s (%s)",
            _method(request),
            wait,
            response.status_code if response is not None else type(error).__name__,
        )
        state.next_attempt_requested = True
        if wait > 0:
            self._sleep(wait)
        state.increment_current_attempt()

    def _elapsed(self, state: RetryState) -> float:
        # slack_sdk makes one RetryState per API call, shared by all handlers: the first
        # handler to look at a failed attempt stamps it (the first attempt's own duration is
        # not counted, which the attempt timeout bounds).
        if state.custom_values is None:
            state.custom_values = {}
        started = state.custom_values.setdefault(_STARTED_AT, self._clock())
        return self._clock() - float(started)

    def _is_retryable(self, *, response: HttpResponse | None, error: Exception | None) -> bool:
        raise NotImplementedError

    def wait_seconds(
        self, *, response: HttpResponse | None, error: Exception | None
    ) -> float | None:
        """How long to wait before the retry; None: never retry this one."""
        raise NotImplementedError


class BoundedRateLimitRetryHandler(BoundedRetryHandler):
    """HTTP 429: wait `Retry-After` if it is at most `max_wait_seconds`, else give up."""

    def __init__(
        self, *, max_wait_seconds: float = MAX_RATE_LIMIT_WAIT_SECONDS, **kwargs: Unpack[BudgetArgs]
    ) -> None:
        super().__init__(**kwargs)
        self.max_wait_seconds = max_wait_seconds

    def _is_retryable(self, *, response: HttpResponse | None, error: Exception | None) -> bool:
        return response is not None and response.status_code == 429

    def wait_seconds(
        self, *, response: HttpResponse | None, error: Exception | None
    ) -> float | None:
        retry_after = _retry_after(response)
        if retry_after is None:
            retry_after = self.max_wait_seconds  # Slack always sends it; be safe anyway
        return retry_after if retry_after <= self.max_wait_seconds else None


class BoundedServerErrorRetryHandler(BoundedRetryHandler):
    """HTTP 500/502/503/504: one quick retry (Slack's transient errors clear fast)."""

    def __init__(
        self, *, wait: float = SERVER_ERROR_WAIT_SECONDS, **kwargs: Unpack[BudgetArgs]
    ) -> None:
        super().__init__(**kwargs)
        self.wait = wait

    def _is_retryable(self, *, response: HttpResponse | None, error: Exception | None) -> bool:
        return response is not None and response.status_code in RETRIED_SERVER_STATUSES

    def wait_seconds(
        self, *, response: HttpResponse | None, error: Exception | None
    ) -> float | None:
        return self.wait


class BoundedConnectionErrorRetryHandler(BoundedRetryHandler):
    """Connection reset / refused / dropped before an answer: one quick retry; timeouts none."""

    def __init__(
        self, *, wait: float = CONNECTION_ERROR_WAIT_SECONDS, **kwargs: Unpack[BudgetArgs]
    ) -> None:
        super().__init__(**kwargs)
        self.wait = wait

    def _is_retryable(self, *, response: HttpResponse | None, error: Exception | None) -> bool:
        if error is None:
            return False
        if isinstance(error, URLError) and response is not None:
            return False  # an HTTP error status, handled by the handlers above
        if isinstance(error, TimeoutError) or isinstance(
            getattr(error, "reason", None), TimeoutError
        ):
            # The attempt already used its whole timeout: a second one would end after Slack
            # stopped waiting for our answer.
            return False
        return isinstance(error, URLError | ConnectionError | RemoteDisconnected)

    def wait_seconds(
        self, *, response: HttpResponse | None, error: Exception | None
    ) -> float | None:
        return self.wait


# What Slack answers when the token itself is wrong (not a missing scope or a bad argument).
TOKEN_REJECTED_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)


class RejectedTokenLogger(RetryHandler):
    """Never retries: writes one line naming the cause when Slack refuses the token.

    Workers boot without calling Slack (bot.app), so a wrong SLACK_BOT_TOKEN first shows at
    the first request; this says so in one line an operator can act on. slack_sdk consults its
    retry handlers on every answer, which makes this the one place that sees them all.
    """

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        body = response.body if response is not None else None
        if isinstance(body, dict) and body.get("error") in TOKEN_REJECTED_ERRORS:
            logger.error(
                "Slack refused the token (%s) on %s: check SLACK_BOT_TOKEN, "
                "then run: python -m bot check",
                body["error"],
                _method(request),
            )
        return False


def default_retry_handlers(
    *, sleep: Sleep = time.sleep, clock: Clock = time.monotonic
) -> list[RetryHandler]:
    return [
        BoundedConnectionErrorRetryHandler(sleep=sleep, clock=clock),
        BoundedRateLimitRetryHandler(sleep=sleep, clock=clock),
        BoundedServerErrorRetryHandler(sleep=sleep, clock=clock),
        RejectedTokenLogger(),
    ]


def create_web_client(
    settings: Settings,
    token: str | None = None,
    *,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> WebClient:
    """The app's WebClient. Bolt copies its base_url, timeout and retry handlers into the
    per-request clients it builds, so every Web API call gets the same bounds."""
    return WebClient(
        token=token or settings.slack_bot_token,
        base_url=settings.slack_api_url,
        # slack_sdk annotates `timeout` as int, but hands it to urllib's urlopen, which takes
        # the float seconds this bound needs.
        timeout=ATTEMPT_TIMEOUT_SECONDS,  # type: ignore[arg-type]
        retry_handlers=default_retry_handlers(sleep=sleep, clock=clock),
    )


# A bot token's client (create_web_client with the settings bound): OAuth mode builds one per
# installation, with that installation's token.
ClientFactory = Callable[[str | None], WebClient]


def _retry_after(response: HttpResponse | None) -> float | None:
    if response is None:
        return None
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return max(0.0, float(values[0]))
            except ValueError:
                return None
    return None


def _method(request: HttpRequest) -> str:
    # The URL is base_url + method; never log the body (it may carry a token).
    return request.url.rsplit("/", 1)[-1].split("?", 1)[0]
