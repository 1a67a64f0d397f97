"""How fast installs may start (OAuth mode).

Each `GET /slack/install` stores an OAuth state (slack_sdk's `slack_oauth_states`) that only
its redirect back from Slack removes, and anyone may send one: 2,000 took 1.4 s, and nothing
removed them. Before an install starts, the guard removes the expired states, refuses a client
that started INSTALLS_PER_CLIENT_PER_MINUTE in the last minute (429), and refuses any install
while MAX_STATES_IN_FLIGHT are waiting for their redirect (503): the table stays small whatever
is sent, and a real installer is told to try again shortly.

The per-client count is each process's own (a client spread over workers gets that many per
worker); the cap on states in flight is the store's, shared by every worker and instance. A
client is its address, an IPv6 one by its /64 (one host holds a whole /64); behind a proxy on
a private or loopback address (nginx beside the bot, Heroku's router, an ingress) the address
the proxy put last in X-Forwarded-For, the one it saw. A store that cannot be asked refuses the
install for now (503), as one that is down refuses everything.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_sdk.oauth.sqlalchemy_utils import normalize_datetime_for_db
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Engine, MetaData, delete, func, select
from sqlalchemy.exc import SQLAlchemyError

from bot.store.failures import store_failure_cause

logger = logging.getLogger(__name__)

INSTALLS_PER_CLIENT_PER_MINUTE = 10
# States live OAUTH_STATE_SECONDS (10 minutes): a thousand installs in flight at once is far
# beyond any organisation's, and reading so few rows costs nothing.
MAX_STATES_IN_FLIGHT = 1000
# Clients whose recent installs a process remembers; the least recent are forgotten first.
CLIENTS_REMEMBERED = 10_000
_WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class InstallRefusal:
    status: str
    retry_after_seconds: int
    message: str


TOO_MANY_FROM_CLIENT = InstallRefusal(
    "429 Too Many Requests", 60, "Too many installs were started from here. Try again in a minute."
)
STORE_UNAVAILABLE = InstallRefusal(
    "503 Service Unavailable", 60, "Installs cannot start right now. Try again in a minute."
)
TOO_MANY_IN_FLIGHT = InstallRefusal(
    "503 Service Unavailable",
    300,
    "Too many installs are in progress right now. Try again in a few minutes.",
)


class InstallGuard:
    def __init__(
        self,
        engine: Engine,
        table_name: str,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        per_client_per_minute: int = INSTALLS_PER_CLIENT_PER_MINUTE,
        max_in_flight: int = MAX_STATES_IN_FLIGHT,
    ) -> None:
        self._engine = engine
        self._states = SQLAlchemyOAuthStateStore.build_oauth_states_table(MetaData(), table_name)
        self._monotonic = monotonic
        self._now = now
        self._per_client = per_client_per_minute
        self._max_in_flight = max_in_flight
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, deque[float]] = OrderedDict()

    def refusal(self, environ: Mapping[str, Any]) -> InstallRefusal | None:
        """None if the request's client may start an install now (the caller then stores its
        state)."""
        if not self._counted(client_of(environ)):
            return TOO_MANY_FROM_CLIENT
        try:
            in_flight = self._in_flight_after_purge()
        except SQLAlchemyError as error:
            logger.warning("install not started: store %s", store_failure_cause(error))
            return STORE_UNAVAILABLE
        if in_flight >= self._max_in_flight:
            return TOO_MANY_IN_FLIGHT
        return None

    def _counted(self, client: str) -> bool:
        tick = self._monotonic()
        with self._lock:
            started = self._recent.pop(client, None) or deque()
            while started and tick - started[0] >= _WINDOW_SECONDS:
                started.popleft()
            allowed = len(started) < self._per_client
            if allowed:
                started.append(tick)
            self._recent[client] = started  # now the most recent
            while len(self._recent) > CLIENTS_REMEMBERED:
                self._recent.popitem(last=False)
            return allowed

    def _in_flight_after_purge(self) -> int:
        """Remove the expired states (slack_sdk removes a state only when its redirect uses
        it), then count those left."""
        now = normalize_datetime_for_db(self._now())
        with self._engine.begin() as connection:
            connection.execute(delete(self._states).where(self._states.c.expire_at <= now))
            return int(connection.scalar(select(func.count()).select_from(self._states)) or 0)


def client_of(environ: Mapping[str, Any]) -> str:
    """Who is installing, as the rate limit counts them (see the module's docstring)."""
    peer = str(environ.get("REMOTE_ADDR") or "")
    forwarded = str(environ.get("HTTP_X_FORWARDED_FOR") or "")
    if forwarded and _is_internal(peer):
        # The nearest proxy appends the address it saw: the last entry is the one it vouches
        # for; the ones before it are whatever the client sent.
        peer = forwarded.rsplit(",", 1)[-1].strip()
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


# Where a proxy in front of the bot connects from: loopback, RFC 1918, carrier-grade NAT
# (some platforms' routers), IPv6 unique local. Not ipaddress's `is_private`, which also counts
# the documentation ranges and others a client on the Internet can have.
_INTERNAL_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "::1/128",
        "fc00::/7",
    )
)


def _is_internal(peer: str) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in _INTERNAL_NETWORKS)
