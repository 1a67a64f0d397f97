"""A read-only store: a lookup gets the "unavailable" notice (its audit row cannot be written,
so the data is withheld) inside Slack's 3 seconds, nothing crashes, and lookups recover once
the store is writable again, without a restart. Both engines."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url

from bot import ids
from bot.answers.audited import Requester
from bot.answers.lookups import LookupService
from bot.config import Settings
from bot.links import Links
from bot.logs import REQUEST_LOGGER, RequestLogMiddleware
from bot.store.db import create_store_engine, is_sqlite, make_session_factory
from bot.store.schema import ensure_schema
from bot.views.notices import STORE_UNAVAILABLE
from tests.helpers.e2e_dataset import INITECH_EMAIL, load_dataset
from tests.helpers.slack_requests import post_to_wsgi

ALICE = Requester("UALICE", "T1", channel_id="C1")


class ReadOnlySwitch:
    """Makes the store read-only for new connections, the way an operator would: PostgreSQL
    `ALTER DATABASE … SET default_transaction_read_only`, SQLite `PRAGMA query_only`."""

    def __init__(self, url: str, engine: Engine) -> None:
        self.url, self.engine, self.read_only = url, engine, False
        if is_sqlite(url):

            @event.listens_for(engine, "connect")
            def _query_only(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.execute(f"PRAGMA query_only = {int(self.read_only)}")

    def set(self, read_only: bool) -> None:
        self.read_only = read_only
        if not is_sqlite(self.url):
            name = make_url(self.url).database
            admin = create_store_engine(self.url, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text("SET default_transaction_read_only = off"))
                action = (
                    "SET default_transaction_read_only = on"
                    if read_only
                    else ("RESET default_transaction_read_only")
                )
                connection.execute(text(f'ALTER DATABASE "{name}" {action}'))
            admin.dispose()
        # Pooled connections keep their old mode: new ones pick up the switch.
        self.engine.dispose()


@pytest.fixture
def serving(store_url: str, tmp_path: Path) -> Iterator[tuple[LookupService, ReadOnlySwitch]]:
    engine = create_store_engine(store_url, statement_timeout_ms=2000, connect_timeout_seconds=2)
    ensure_schema(engine)
    factory = make_session_factory(engine)
    load_dataset(factory, tmp_path, date(2026, 11, 27))
    switch = ReadOnlySwitch(store_url, engine)
    try:
        yield LookupService(factory, Links.from_settings(Settings()), rate_limit_per_hour=0), switch
    finally:
        switch.set(False)
        engine.dispose()


def test_a_read_only_store_gets_the_notice_then_recovers(serving) -> None:
    lookups, switch = serving
    assert lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE).outcome == "ok"

    switch.set(True)
    started = time.monotonic()
    answer = lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
    assert time.monotonic() - started < 3
    text_sent = str(answer.payload())
    assert answer.outcome == "unavailable"
    assert STORE_UNAVAILABLE.split(".")[0] in text_sent
    assert INITECH_EMAIL not in text_sent  # read fine, but not audited: withheld

    switch.set(False)
    again = lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE)
    assert again.outcome == "ok" and INITECH_EMAIL in str(again.payload())


def test_the_request_line_of_an_unavailable_answer_says_unavailable(serving, caplog) -> None:
    """The user is told the store is unavailable in a 200 (Slack shows a command's body): the
    request line must not say `ok`, or an alert on its outcome misses the outage."""
    lookups, switch = serving
    answers: list[Any] = []

    def looking_up(_environ: dict[str, Any], start_response: Any) -> list[bytes]:
        answers.append(lookups.answer_query(ids.LICENSE_COMMAND, "initech", ALICE))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    switch.set(True)
    post_to_wsgi(RequestLogMiddleware(looking_up), "x", "unsigned")
    [record] = [r for r in caplog.records if r.name == REQUEST_LOGGER]
    assert answers[0].outcome == "unavailable"
    assert (record.status, record.outcome) == (200, "unavailable")
