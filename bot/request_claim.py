"""A request's replay claim, when its listener makes it inside its own audited transaction.

Every signed request is claimed in the store once (bot/slack/request_claims.py). A lookup
command's claim is instead one more statement of the lookup's own transaction
(bot/answers/audited.py), not a transaction of its own before it: one commit fewer on the path
every lookup takes. Bolt's global middleware cannot wrap a listener (its `next()` only lets the
dispatch go on), so the app opens a scope around each dispatch; the claim middleware defers the
claim into it, the audited transaction makes it before any other write and says whether it was
made or the request is a replay, and once the dispatch is done the app refuses a replay and
claims what no transaction took before the answer leaves.
"""

from __future__ import annotations

import contextvars
import enum
from collections.abc import Iterator
from contextlib import contextmanager


class ClaimState(enum.Enum):
    WAITING = "waiting"  # no transaction has made it yet (or its transaction rolled back)
    MADE = "made"  # committed with the lookup's audit row
    REPLAYED = "replayed"  # the key was claimed before: the request is refused


class DeferredClaim:
    """The claim key of the request being served, and what became of it."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.state = ClaimState.WAITING

    def made(self) -> None:
        self.state = ClaimState.MADE

    def replayed(self) -> None:
        self.state = ClaimState.REPLAYED


class ClaimScope:
    """One dispatch's deferred claim, if its middleware deferred one."""

    def __init__(self) -> None:
        self.claim: DeferredClaim | None = None


_SCOPE: contextvars.ContextVar[ClaimScope | None] = contextvars.ContextVar(
    "customersdot_claim_scope", default=None
)


@contextmanager
def claim_scope() -> Iterator[ClaimScope]:
    """Open a scope for the dispatch run inside the block (on this thread)."""
    scope = ClaimScope()
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def defer_claim(key: str) -> bool:
    """Leave `key`'s claim to the dispatch's audited transaction; False (claim it now) when no
    scope is open: nothing would settle it after the dispatch."""
    scope = _SCOPE.get()
    if scope is None:
        return False
    scope.claim = DeferredClaim(key)
    return True


def waiting_claim() -> DeferredClaim | None:
    """The request's deferred claim while no transaction has made it; None for every other
    request (claimed before its listeners run) and once it is made or refused."""
    scope = _SCOPE.get()
    claim = scope.claim if scope is not None else None
    return claim if claim is not None and claim.state is ClaimState.WAITING else None
