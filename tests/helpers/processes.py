"""The bot in a process of its own: `python -m bot …` as an operator runs it (or in this
process, `run_main`), and a port and a health check for a gunicorn a test starts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.cli import main
from tests.helpers.paths import ROOT


def bot_environment(database_url: str, **env: str) -> dict[str, str]:
    """This process's environment without its Slack and allowlist settings, for a bot child."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ALLOWED_"))},
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
        **env,
    }


def start_bot(*args: str, database_url: str, cwd: Path, **env: str) -> subprocess.Popen[str]:
    """`python -m bot …` started and left running (the caller waits for it or kills it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=bot_environment(database_url, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_bot(
    *args: str, database_url: str, cwd: Path, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    environment = bot_environment(database_url, **env)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"gunicorn did not become healthy:\n{log.read_text()}")


def run_main(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cwd: Path,
    *args: str,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """`python -m bot …` in this process (quicker than run_bot), same result shape."""
    for name in list(os.environ):
        if name.startswith(("SLACK_", "ALLOWED_", "DATABASE_", "LOG_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(cwd)
    capsys.readouterr()
    try:
        returncode = main(list(args))
    except SystemExit as exit_:
        returncode = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["python -m bot", *args], returncode, out, err)
