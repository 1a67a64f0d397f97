"""Subscriptions from Zuora's Data Query API: issue 21's `zuora` source.

One export is four steps, each checked against Zuora's API reference (developer.zuora.com,
"Create an OAuth token", "Submit a data query", "Retrieve a data query job", "Cancel a data
query job"; docs.zuora.com "Use Data Query through API"):

1. `POST {rest_url}/oauth/token`, form-encoded `client_id`, `client_secret`,
   `grant_type=client_credentials` and no Authorization header; the answer's `access_token` is
   sent as `Authorization: Bearer …` on the calls below.
2. `POST {rest_url}/query/jobs` with a JSON body (`query`, `outputFormat: "CSV"`,
   `compression: "GZIP"`, `output: {"target": "S3"}`); the answer wraps the job in `data`.
3. `GET {rest_url}/query/jobs/{id}` until `data.queryStatus` is `completed`, `failed` or
   `cancelled` (the others: `submitted`, `accepted`, `in_progress`); a failed job says why in
   `data.errorMessage`, a completed one gives `data.dataFile`, a pre-signed S3 URL.
4. `dataFile` downloaded with `fetch_export` and no Authorization at all: the URL's signature is
   its credential, and the Zuora token must not travel to S3.

The token, submission and polling share one budget (`poll_budget_seconds`); a job still running
when the next poll would pass it is cancelled (`DELETE /query/jobs/{id}`, best effort) and the
export fails saying so. 429 and 5xx answers are retried, honouring Retry-After, within the same
budget. Every failure is one `SourceError`; the client secret and the token are replaced in its
message whatever produced it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bot.sync.https_source import (
    DEFAULT_BUDGET_SECONDS,
    Fetched,
    SourceError,
    describe_source,
    fetch_export,
    retry_after_seconds,
    url_problem,
)

DEFAULT_POLL_BUDGET_SECONDS = 600.0
# Polls wait 1 s, then twice as long each time, never more than this: a short job is seen
# quickly, a long one does not cost a request a second.
FIRST_POLL_SECONDS = 1.0
MAX_POLL_SECONDS = 30.0
_MASK = "***"
_USER_AGENT = "customersdot-for-slack sync"
_RUNNING = frozenset({"submitted", "accepted", "in_progress"})

# Subscription joined to its Account, each column named as Zuora's own data source export names
# it (docs/import-formats.md, "Subscriptions"): the file is then the layout the importer already
# reads from a hand-made export. Data Query is Trino SQL, so the dotted names are quoted aliases.
DEFAULT_QUERY = (
    'SELECT s.name AS "Subscription.Name", s.id AS "Subscription.Id",'
    ' s.version AS "Subscription.Version", a.id AS "Account.Id", a.name AS "Account.Name",'
    ' a.accountnumber AS "Account.AccountNumber", a.crmid AS "Account.CrmId"'
    " FROM subscription s JOIN account a ON s.accountid = a.id"
)


@dataclass(frozen=True)
class ZuoraExport:
    """The query's result in `path` (the caller imports it, then deletes it)."""

    path: Path
    size: int  # bytes written, after decompression
    job_id: str
    # When the query was submitted: the data's own age, for "subscriptions as of …".
    queried_at: datetime


def export_subscriptions(
    rest_url: str,
    client_id: str,
    client_secret: str,
    *,
    destination_dir: Path,
    max_bytes: int,
    timeout_seconds: float,
    poll_budget_seconds: float = DEFAULT_POLL_BUDGET_SECONDS,
    download_budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    query: str | None = None,
) -> ZuoraExport:
    """Run the subscriptions query in Zuora and download its result; SourceError if it cannot.

    `rest_url` is the tenant's REST endpoint (`https://rest.zuora.com`, a sandbox's, …).
    `timeout_seconds` bounds each connect and read; `poll_budget_seconds` the API calls and the
    wait for the job; the download has its own retry budget, as any HTTPS export has.
    """
    base = rest_url.rstrip("/")
    session = _Session(
        base=base,
        source=f"zuora {describe_source(base)}",
        secrets=[client_secret],
        deadline=clock() + poll_budget_seconds,
        budget=poll_budget_seconds,
        sleep=sleep,
        clock=clock,
    )
    try:
        problem = url_problem(base)
        if problem is not None:
            raise SourceError(f"{session.source}: {problem}")
        with httpx.Client(
            transport=transport, timeout=httpx.Timeout(timeout_seconds), follow_redirects=False
        ) as http:
            session.authenticate(http, client_id, client_secret)
            queried_at = datetime.now(UTC)
            job_id = session.submit(http, query or DEFAULT_QUERY)
            data_file = session.wait_for(http, job_id)
        fetched = _download(
            data_file,
            destination_dir=destination_dir,
            max_bytes=max_bytes,
            timeout_seconds=timeout_seconds,
            budget_seconds=download_budget_seconds,
            transport=transport,
            sleep=sleep,
            clock=clock,
        )
    except SourceError as error:
        # One place that scrubs: whatever step failed, and whatever text it quoted.
        raise SourceError(session.scrub(str(error))) from None
    return ZuoraExport(fetched.path, fetched.size, job_id, queried_at)


@dataclass
class _Session:
    """One export's calls to the Zuora API: the token, the shared budget, the secrets to scrub."""

    base: str
    source: str
    secrets: list[str]
    deadline: float
    budget: float
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    token: str | None = None

    def authenticate(self, http: httpx.Client, client_id: str, client_secret: str) -> None:
        form = {
            "client_id": client_id,
            "client_secret": client_secret,
            "grant_type": "client_credentials",
        }
        response = self._send(http, "POST", "/oauth/token", data=form, authorized=False)
        if response.status_code == 401 or _oauth_error(response) == "invalid_client":
            raise SourceError(
                f"{self.source}: the client id or secret was refused"
                f" (HTTP {response.status_code}): check ZUORA_CLIENT_ID and ZUORA_CLIENT_SECRET"
            )
        token = self._json(response, "the token request").get("access_token")
        if not isinstance(token, str) or not token:
            raise SourceError(f"{self.source}: the token answer holds no access_token")
        self.token = token
        self.secrets.append(token)

    def submit(self, http: httpx.Client, query: str) -> str:
        body = {
            "query": query,
            "outputFormat": "CSV",
            "compression": "GZIP",
            "output": {"target": "S3"},
        }
        response = self._send(http, "POST", "/query/jobs", json=body)
        job = self._job(response, "submitting the query")
        job_id = job.get("id")
        if not isinstance(job_id, str) or not job_id:
            raise SourceError(f"{self.source}: the submitted query's answer holds no job id")
        return job_id

    def wait_for(self, http: httpx.Client, job_id: str) -> str:
        """The completed job's `dataFile`; SourceError when it fails, is cancelled or outlasts
        the budget."""
        wait = FIRST_POLL_SECONDS
        while True:
            response = self._send(http, "GET", f"/query/jobs/{job_id}")
            job = self._job(response, f"polling job {job_id}")
            status = job.get("queryStatus")
            if status == "completed":
                return self._data_file(job, job_id)
            if status in ("failed", "cancelled"):
                reason = job.get("errorMessage") or "Zuora gave no reason"
                raise SourceError(f"{self.source}: query job {job_id} {status}: {reason}")
            if status not in _RUNNING:
                raise SourceError(f"{self.source}: query job {job_id} has status {status!r}")
            if self.clock() + wait > self.deadline:
                self._cancel(http, job_id)
                raise SourceError(
                    f"{self.source}: query job {job_id} did not complete within the poll budget"
                    f" of {self.budget:g} s (still {status}); it was asked to cancel"
                )
            self.sleep(wait)
            wait = min(wait * 2, MAX_POLL_SECONDS)

    def scrub(self, text: str) -> str:
        for secret in sorted(filter(None, self.secrets), key=len, reverse=True):
            text = text.replace(secret, _MASK)
        return text

    def _data_file(self, job: dict[str, Any], job_id: str) -> str:
        data_file = job.get("dataFile")
        if not isinstance(data_file, str) or not data_file:
            raise SourceError(f"{self.source}: query job {job_id} completed without a dataFile")
        return data_file

    def _cancel(self, http: httpx.Client, job_id: str) -> None:
        # Best effort: the export fails anyway, and a job left running only costs Zuora time.
        with contextlib.suppress(httpx.HTTPError):
            http.request("DELETE", self._url(f"/query/jobs/{job_id}"), headers=self._headers())

    def _send(
        self,
        http: httpx.Client,
        method: str,
        path: str,
        *,
        authorized: bool = True,
        **content: Any,
    ) -> httpx.Response:
        """The answer to one API call, retried on 429 and 5xx while the budget allows."""
        tries = 0
        while True:
            tries += 1
            headers = self._headers() if authorized else {"User-Agent": _USER_AGENT}
            try:
                response = http.request(method, self._url(path), headers=headers, **content)
            except httpx.TimeoutException:
                raise SourceError(f"{self.source}: no answer to {method} {path} in time") from None
            except httpx.TransportError as error:
                raise SourceError(
                    f"{self.source}: could not connect ({type(error).__name__})"
                ) from None
            status = response.status_code
            if status != 429 and status < 500:
                return response
            wait = retry_after_seconds(response.headers.get("retry-after"), now=datetime.now(UTC))
            wait = float(2 ** (tries - 1)) if wait is None else wait
            if self.clock() + wait > self.deadline:
                raise SourceError(
                    f"{self.source}: {method} {path} answered HTTP {status}; waiting {wait:g} s"
                    f" more would pass the budget of {self.budget:g} s"
                )
            self.sleep(wait)

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/json",
            "User-Agent": _USER_AGENT,
        }

    def _url(self, path: str) -> str:
        return f"{self.base}{path}"

    def _job(self, response: httpx.Response, doing: str) -> dict[str, Any]:
        job = self._json(response, doing).get("data")
        if not isinstance(job, dict):
            raise SourceError(f"{self.source}: {doing}: the answer holds no job (no `data`)")
        return job

    def _json(self, response: httpx.Response, doing: str) -> dict[str, Any]:
        if not response.is_success:
            raise SourceError(
                f"{self.source}: {doing}: HTTP {response.status_code}{_zuora_reason(response)}"
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise SourceError(f"{self.source}: {doing}: the answer is not a JSON object")
        return body


def _download(
    url: str,
    *,
    destination_dir: Path,
    max_bytes: int,
    timeout_seconds: float,
    budget_seconds: float,
    transport: httpx.BaseTransport | None,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> Fetched:
    # No authorization and no validators: the pre-signed URL is its own credential and each job
    # writes a new object, so there is nothing to be conditional on.
    try:
        result = fetch_export(
            url,
            destination_dir=destination_dir,
            max_bytes=max_bytes,
            timeout_seconds=timeout_seconds,
            budget_seconds=budget_seconds,
            transport=transport,
            sleep=sleep,
            clock=clock,
        )
    except SourceError as error:
        raise SourceError(f"zuora result file {error}") from None
    if not isinstance(result, Fetched):
        raise SourceError(f"zuora result file {describe_source(url)}: answered 304 unasked")
    return result


def _oauth_error(response: httpx.Response) -> str | None:
    if response.status_code != 400:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def _zuora_reason(response: httpx.Response) -> str:
    """Zuora's own words for a refusal, when its JSON error body has them (`message`, or the
    first of `reasons`), cut short: an operator reads one line."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    reasons = body.get("reasons")
    message = body.get("message")
    if not message and isinstance(reasons, list) and reasons and isinstance(reasons[0], dict):
        message = reasons[0].get("message")
    return f": {str(message)[:300]}" if message else ""
