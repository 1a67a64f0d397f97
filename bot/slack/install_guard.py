"""How fast installs may start (OAuth mode).

Each `GET /slack/install` stores an OAuth state (slack_sdk's `slack_oauth_states`) that only
its redirect back from Slack removes, and anyone may send one: 2,000 took 1.4 s, and nothing
removed them. Before an install starts, the guard removes the expired states, refuses a client
that started INSTALLS_PER_CLIENT_PER_MINUTE in the last minute (429), and refuses any install
while MAX_STATES_IN_FLIGHT are waiting for their redirect (503): the table stays small whatever
is sent, and a real installer is told to try again shortly.

The per-client count is each process's own (a client spread over workers gets that many per
worker); the cap on states in flight is the store's, shared by every worker and instance.
Behind a proxy that gunicorn does not trust (FORWARDED_ALLOW_IPS), every client has the proxy's
address, and the per-client bound becomes one for all of them together.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from slack_sdk.oauth.sqlalchemy_utils import normalize_datetime_for_db
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Engine, MetaData, delete, func, select

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

    def refusal(self, client: str) -> InstallRefusal | None:
        """None if `client` may start an install now (the caller then stores its state)."""
        if not self._counted(client):
            return TOO_MANY_FROM_CLIENT
        if self._in_flight_after_purge() >= self._max_in_flight:
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
