"""What the app decided for the request being served, for its request line (bot/logs.py).

Slack gets a 200 for a refusal or a rate limit too (the answer is the refusal), so the HTTP
status alone cannot say it. The Slack adapter and the use cases note it as they decide; the
store, search and the views never do (tests/project/test_layers.py).
"""

from __future__ import annotations

import contextvars

from bot.outcomes import Outcome

# A holder per request, set by the request log around the app; None outside a request.
REQUEST_OUTCOME: contextvars.ContextVar[dict[str, Outcome] | None] = contextvars.ContextVar(
    "customersdot_request_outcome", default=None
)


def note_request_outcome(outcome: Outcome) -> None:
    """Record the outcome the app decided (denied, rate_limited, not_found, …) for the request
    being served. Outside a request (Socket Mode, the shell, a lazy listener's thread) there is
    no request line, and this does nothing."""
    holder = REQUEST_OUTCOME.get()
    if holder is not None:
        holder["outcome"] = outcome
