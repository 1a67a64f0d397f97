"""`export_subscriptions` against the Zuora Data Query stand-in on loopback
(tests/helpers/zuora_standin.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.store.importing import import_file
from bot.sync.https_source import SourceError
from bot.sync.zuora_source import ZuoraExport, export_subscriptions
from tests.helpers.zuora_standin import (
    CLIENT_ID,
    CLIENT_SECRET,
    JOB_ID,
    SUBSCRIPTIONS,
    TOKEN,
    StandIn,
    running_zuora,
)


@pytest.fixture
def zuora() -> Iterator[StandIn]:
    with running_zuora() as stand_in:
        yield stand_in


class FakeTime:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _export(zuora: StandIn, tmp_path: Path, time: FakeTime, **options: Any) -> ZuoraExport:
    return export_subscriptions(
        zuora.url(),
        CLIENT_ID,
        CLIENT_SECRET,
        destination_dir=tmp_path,
        max_bytes=1_000_000,
        timeout_seconds=5,
        sleep=time.sleep,
        clock=time.clock,
        **options,
    )


def _failure(zuora: StandIn, tmp_path: Path, **options: Any) -> str:
    with pytest.raises(SourceError) as raised:
        _export(zuora, tmp_path, FakeTime(), **options)
    message = str(raised.value)
    assert CLIENT_SECRET not in message
    assert TOKEN not in message
    assert raised.value.__cause__ is None
    assert list(tmp_path.iterdir()) == []
    return message


def test_an_export_runs_the_query_and_downloads_the_result(
    zuora: StandIn, tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    time = FakeTime()
    export = _export(zuora, tmp_path, time)

    assert export.job_id == JOB_ID
    assert export.path.read_bytes() == SUBSCRIPTIONS.read_bytes()
    assert time.sleeps == [1.0, 2.0]  # in_progress twice, backing off
    summary = import_file(session_factory, "subscriptions", export.path)
    assert summary.rows == len(SUBSCRIPTIONS.read_text(encoding="utf-8-sig").splitlines()) - 1


def test_the_requests_have_the_shapes_zuora_documents(zuora: StandIn, tmp_path: Path) -> None:
    _export(zuora, tmp_path, FakeTime())

    token, submit, *polls, download = zuora.seen
    assert (token.method, token.path) == ("POST", "/oauth/token")
    assert token.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in token.headers
    assert parse_qs(token.body.decode()) == {
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
        "grant_type": ["client_credentials"],
    }

    assert (submit.method, submit.path) == ("POST", "/query/jobs")
    assert submit.headers["content-type"] == "application/json"
    body = json.loads(submit.body)
    assert body["outputFormat"] == "CSV"
    assert body["compression"] == "GZIP"
    assert body["output"] == {"target": "S3"}
    assert "FROM subscription" in body["query"] and "JOIN account" in body["query"]
    for column in ("Subscription.Name", "Subscription.Id", "Account.CrmId"):
        assert f'"{column}"' in body["query"]

    assert [(p.method, p.path) for p in polls] == [("GET", f"/query/jobs/{JOB_ID}")] * 3
    for call in (submit, *polls):
        assert call.headers["authorization"] == f"Bearer {TOKEN}"

    assert download.path.startswith(f"/results/{JOB_ID}.csv.gz?")
    assert "authorization" not in download.headers


def test_a_query_of_ones_own_is_submitted(zuora: StandIn, tmp_path: Path) -> None:
    _export(zuora, tmp_path, FakeTime(), query="SELECT 1")

    assert json.loads(zuora.seen[1].body)["query"] == "SELECT 1"


def test_a_failed_job_says_zuoras_reason(zuora: StandIn, tmp_path: Path) -> None:
    zuora.statuses = ["in_progress", "failed"]
    zuora.error_message = "Column 'crmid' cannot be resolved"

    message = _failure(zuora, tmp_path)

    assert f"query job {JOB_ID} failed: Column 'crmid' cannot be resolved" in message
    assert zuora.paths("DELETE") == []


def test_a_cancelled_job_fails(zuora: StandIn, tmp_path: Path) -> None:
    zuora.statuses = ["cancelled"]

    message = _failure(zuora, tmp_path)

    assert f"query job {JOB_ID} cancelled" in message


def test_a_job_past_the_poll_budget_is_cancelled(zuora: StandIn, tmp_path: Path) -> None:
    zuora.statuses = ["in_progress"]
    time = FakeTime()

    with pytest.raises(SourceError, match="did not complete within the poll budget of 10 s"):
        _export(zuora, tmp_path, time, poll_budget_seconds=10)

    assert time.sleeps == [1.0, 2.0, 4.0]  # the next wait, 8 s, would pass 10 s
    assert zuora.paths("DELETE") == [f"/query/jobs/{JOB_ID}"]
    delete = next(s for s in zuora.seen if s.method == "DELETE")
    assert delete.headers["authorization"] == f"Bearer {TOKEN}"


def test_a_refused_client_says_so(zuora: StandIn, tmp_path: Path) -> None:
    zuora.token_status = 401

    message = _failure(zuora, tmp_path)

    assert "client id or secret was refused" in message
    assert zuora.paths("POST") == ["/oauth/token"]


def test_a_rate_limit_is_waited_out_within_the_budget(zuora: StandIn, tmp_path: Path) -> None:
    zuora.submit_throttles = 1
    time = FakeTime()

    _export(zuora, tmp_path, time)

    assert zuora.paths("POST") == ["/oauth/token", "/query/jobs", "/query/jobs"]
    assert time.sleeps[0] == 2.0  # Retry-After


def test_a_rate_limit_past_the_budget_fails(zuora: StandIn, tmp_path: Path) -> None:
    zuora.submit_throttles = 1

    message = _failure(zuora, tmp_path, poll_budget_seconds=1)

    assert "HTTP 429" in message and "budget of 1 s" in message


def test_no_error_shows_the_secret_or_the_token(zuora: StandIn, tmp_path: Path) -> None:
    # Zuora's own words quoting a credential back are still scrubbed.
    zuora.statuses = ["failed"]
    zuora.error_message = f"token {TOKEN} from client secret {CLIENT_SECRET} not allowed"

    message = _failure(zuora, tmp_path)

    assert "token *** from client secret *** not allowed" in message


def test_plain_http_is_refused_beyond_loopback(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="plain http:// is refused"):
        export_subscriptions(
            "http://rest.zuora.com",
            CLIENT_ID,
            CLIENT_SECRET,
            destination_dir=tmp_path,
            max_bytes=1000,
            timeout_seconds=1,
        )
