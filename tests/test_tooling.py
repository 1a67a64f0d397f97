"""The operator's tooling: `make test`'s script, the lock files, the Dockerfile."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_INSTALLED = bool(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))


# ---- scripts/test.sh: the PostgreSQL server it starts, it stops -------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def cluster() -> Iterator[dict[str, str]]:
    """A port and data directory of our own: the suite's server (TEST_POSTGRES_URL) is not
    touched. Under /tmp itself, since the `postgres` user cannot enter pytest's tmp_path."""
    if not POSTGRES_INSTALLED:
        pytest.skip("PostgreSQL's binaries are not installed (scripts/start-postgres.sh does it)")
    port = _free_port()
    data_dir = f"/tmp/customersdot-pg-tooling-{port}"
    env = {"PGPORT": str(port), "PGDATA_DIR": data_dir}
    yield env
    subprocess.run(["bash", ROOT / "scripts/stop-postgres.sh", data_dir], check=False)
    shutil.rmtree(data_dir, ignore_errors=True)


def _run_test_script(tmp_path: Path, cluster: dict[str, str], *, pytest_status: int):
    """scripts/test.sh with a stand-in venv: ruff passes, "pytest" records the URL it was given."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    _executable(bin_dir / "ruff", "#!/bin/sh\nexit 0\n")
    seen = tmp_path / "url"
    _executable(
        bin_dir / "python", f'#!/bin/sh\necho "$TEST_POSTGRES_URL" > {seen}\nexit {pytest_status}\n'
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TEST_POSTGRES_URL", "CI")}
    env.update(cluster, VENV=str(tmp_path / "venv"))
    result = subprocess.run(
        ["bash", ROOT / "scripts/test.sh"], env=env, capture_output=True, text=True, timeout=120
    )
    return result, seen.read_text().strip() if seen.exists() else ""


def test_make_test_stops_the_postgresql_server_it_started(tmp_path, cluster):
    port = int(cluster["PGPORT"])
    result, url = _run_test_script(tmp_path, cluster, pytest_status=0)
    assert result.returncode == 0, result.stderr
    assert f"127.0.0.1:{port}/" in url  # the suite ran against it
    assert not _listening(port)


def test_a_failing_suite_still_stops_the_server_and_fails(tmp_path, cluster):
    result, _url = _run_test_script(tmp_path, cluster, pytest_status=3)
    assert result.returncode == 3
    assert not _listening(int(cluster["PGPORT"]))


def test_a_server_that_was_already_running_is_left_running(tmp_path, cluster):
    started = subprocess.run(
        ["bash", ROOT / "scripts/start-postgres.sh"],
        env={**os.environ, **cluster},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 0, started.stderr
    assert "TEST_POSTGRES_STARTED_DATA_DIR" in started.stdout
    result, _url = _run_test_script(tmp_path, cluster, pytest_status=0)
    assert result.returncode == 0, result.stderr
    assert _listening(int(cluster["PGPORT"]))


def test_a_given_test_postgres_url_is_used_as_is(tmp_path, cluster):
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    _executable(bin_dir / "ruff", "#!/bin/sh\nexit 0\n")
    _executable(bin_dir / "python", f'#!/bin/sh\necho "$TEST_POSTGRES_URL" > {tmp_path / "url"}\n')
    given = "postgresql+psycopg://postgres@127.0.0.1:1/elsewhere"
    env = {**os.environ, **cluster, "VENV": str(bin_dir.parent), "TEST_POSTGRES_URL": given}
    result = subprocess.run(
        ["bash", ROOT / "scripts/test.sh"], env=env, capture_output=True, timeout=60
    )
    assert result.returncode == 0
    assert (tmp_path / "url").read_text().strip() == given
    assert not _listening(int(cluster["PGPORT"]))  # nothing was started
