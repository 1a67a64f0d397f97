"""`python -m bot sync` run in the test's process as an operator runs it (tests/cli/test_sync*.py),
and what such a run needs from the test: logging left as the suite has it, quick retries."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot import logs
from bot.config import SYNC_KINDS, Settings
from bot.logs import QUIET_HTTP_LOGGERS, configure_logging
from bot.sync import https_source
from tests.helpers.processes import run_main

# Every setting a sync reads its sources from: cleared, so only the test's own are set.
_SOURCE_SETTINGS = (
    *(
        f"SYNC_{kind.upper()}{suffix}"
        for kind in SYNC_KINDS
        for suffix in ("", "_AUTHORIZATION", "_QUERY")
    ),
    "ZUORA_REST_URL",
    "ZUORA_CLIENT_ID",
    "ZUORA_CLIENT_SECRET",
)


def sync(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    store_url: str,
    *args: str,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """`python -m bot sync *args` on `store_url` with only `env`'s sources."""
    for name in _SOURCE_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return run_main(monkeypatch, capsys, tmp_path, "sync", *args, DATABASE_URL=store_url, **env)


@contextmanager
def command_logging_kept(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A command configures the bot's logging; in a test the handlers already on the root
    logger (the suite's log guard, caplog) stay, and the levels come back after."""
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", *QUIET_HTTP_LOGGERS)}

    def configure_keeping_handlers(settings: Settings) -> None:
        kept = list(root.handlers)
        configure_logging(settings)
        root.handlers[:] = kept

    monkeypatch.setattr(logs, "configure_logging", configure_keeping_handlers)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing source is tried 3 times: with waits of milliseconds, not seconds."""
    monkeypatch.setattr(https_source, "FIRST_BACKOFF_SECONDS", 0.01)
