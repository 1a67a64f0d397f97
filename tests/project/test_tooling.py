"""The operator's tooling: `make test`'s script, the lock files, the Dockerfile."""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tests.helpers.paths import ROOT

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


def _start_cluster(cluster: dict[str, str]) -> None:
    """Start the fixture's server as a developer would, before scripts/test.sh runs."""
    started = subprocess.run(
        ["bash", ROOT / "scripts/start-postgres.sh"],
        env={**os.environ, **cluster},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 0, started.stderr
    assert "TEST_POSTGRES_STARTED_DATA_DIR" in started.stdout


def _run_test_script(tmp_path: Path, cluster: dict[str, str], *, pytest_status: int):
    """scripts/test.sh with a stand-in venv: ruff and mypy pass, "pytest" records the URL it
    was given."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    _executable(bin_dir / "ruff", "#!/bin/sh\nexit 0\n")
    _executable(bin_dir / "mypy", "#!/bin/sh\nexit 0\n")
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
    _start_cluster(cluster)
    result, _url = _run_test_script(tmp_path, cluster, pytest_status=0)
    assert result.returncode == 0, result.stderr
    assert _listening(int(cluster["PGPORT"]))


def test_an_outer_runs_server_is_not_stopped_by_a_nested_run(tmp_path, cluster):
    """`make test` exports the data directory of the server it started; this suite then runs
    scripts/test.sh itself. The nested run finds that server running and must leave it be,
    whatever the inherited variable says (it once stopped the suite's own server mid-CI)."""
    _start_cluster(cluster)
    outer = {"TEST_POSTGRES_STARTED_DATA_DIR": cluster["PGDATA_DIR"]}
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    _executable(bin_dir / "ruff", "#!/bin/sh\nexit 0\n")
    _executable(bin_dir / "mypy", "#!/bin/sh\nexit 0\n")
    seen = tmp_path / "inherited"
    _executable(
        bin_dir / "python",
        f'#!/bin/sh\necho "${{TEST_POSTGRES_STARTED_DATA_DIR:-unset}}" > {seen}\n',
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TEST_POSTGRES_URL", "CI")}
    env.update(cluster, **outer, VENV=str(tmp_path / "venv"))
    result = subprocess.run(
        ["bash", ROOT / "scripts/test.sh"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert _listening(int(cluster["PGPORT"]))
    assert seen.read_text().strip() == "unset"  # nor is it handed on to the suite


def test_a_given_test_postgres_url_is_used_as_is(tmp_path, cluster):
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    _executable(bin_dir / "ruff", "#!/bin/sh\nexit 0\n")
    _executable(bin_dir / "mypy", "#!/bin/sh\nexit 0\n")
    _executable(bin_dir / "python", f'#!/bin/sh\necho "$TEST_POSTGRES_URL" > {tmp_path / "url"}\n')
    given = "postgresql+psycopg://postgres@127.0.0.1:1/elsewhere"
    env = {**os.environ, **cluster, "VENV": str(bin_dir.parent), "TEST_POSTGRES_URL": given}
    result = subprocess.run(
        ["bash", ROOT / "scripts/test.sh"], env=env, capture_output=True, timeout=60
    )
    assert result.returncode == 0
    assert (tmp_path / "url").read_text().strip() == given
    assert not _listening(int(cluster["PGPORT"]))  # nothing was started


# ---- the lock files: requirements.txt (runtime) and requirements-dev.txt (plus test tools) ----

PROJECT_NAME = "customersdot-for-slack"


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> tuple[dict[str, SpecifierSet], dict[str, SpecifierSet]]:
    """pyproject.toml's runtime and dev dependencies: name -> version range."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def ranges(lines: list[str]) -> dict[str, SpecifierSet]:
        return {_normalised(r.name): r.specifier for r in map(Requirement, lines)}

    return ranges(project["dependencies"]), ranges(project["optional-dependencies"]["dev"])


@dataclass(frozen=True)
class Pin:
    version: str
    hashes: int
    direct: bool  # pyproject.toml names it (pip-compile's "via customersdot-for-slack")


def _locked(filename: str) -> dict[str, Pin]:
    pins: dict[str, Pin] = {}
    # pip-compile's header comment starts at column 0; a pin's "# via" lines are indented.
    lines = [line for line in (ROOT / filename).read_text().splitlines() if line[:1] != "#"]
    for block in re.split(r"\n(?=[A-Za-z0-9])", "\n".join(lines).strip()):
        match = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block)
        assert match, f"{filename}: not an exact pin: {block.splitlines()[0]!r}"
        name = _normalised(match.group(1))
        pins[name] = Pin(
            version=match.group(2),
            hashes=block.count("--hash=sha256:"),
            direct=f"{PROJECT_NAME} (pyproject.toml)" in block,
        )
    return pins


def test_the_lock_pins_exactly_what_pyproject_declares():
    runtime, dev = _declared()
    locked = _locked("requirements.txt")
    # Names match both ways: a dependency added, renamed or dropped in pyproject.toml without
    # `make lock` fails here.
    assert {name for name, pin in locked.items() if pin.direct} == set(runtime)
    for name, allowed in runtime.items():
        assert allowed.contains(locked[name].version, prereleases=True), (name, allowed)
    assert all(pin.hashes for pin in locked.values())

    locked_dev = _locked("requirements-dev.txt")
    assert {name for name, pin in locked_dev.items() if pin.direct} == set(runtime) | set(dev)
    for name, allowed in dev.items():
        assert allowed.contains(locked_dev[name].version, prereleases=True), (name, allowed)
    assert all(pin.hashes for pin in locked_dev.values())
    # The tests run on the versions production installs.
    for name, pin in locked.items():
        assert locked_dev[name].version == pin.version, name


def test_the_lock_names_no_machine_specific_index():
    for filename in ("requirements.txt", "requirements-dev.txt"):
        text = (ROOT / filename).read_text()
        assert not re.search(
            r"^\s*(--index-url|--extra-index-url|--find-links|-f|-i)\b", text, re.M
        )


# ---- one Python version, and the Dockerfile's layers -------------------------------------------

PYTHON_VERSION = (ROOT / ".python-version").read_text().strip()


def test_one_python_version_for_ci_heroku_and_the_image():
    assert re.fullmatch(r"3\.\d+", PYTHON_VERSION)  # Heroku and pyenv read major.minor
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.findall(r"^ARG PYTHON_VERSION=(\S+)$", dockerfile, re.M) == [PYTHON_VERSION]
    assert "python:${PYTHON_VERSION}-slim" in dockerfile
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["ruff"]["target-version"] == "py" + PYTHON_VERSION.replace(".", "")


@pytest.mark.skipif(not os.environ.get("CI"), reason="CI's interpreter is the one that must match")
def test_ci_runs_the_locked_python_version():
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == PYTHON_VERSION


def _build_stage_steps() -> list[str]:
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages = re.split(r"^FROM .*$", dockerfile, flags=re.M)
    build = stages[1]
    return [line.strip() for line in build.splitlines() if re.match(r"(COPY|RUN) ", line.strip())]


def test_the_image_installs_the_locked_dependencies_before_copying_the_code():
    steps = _build_stage_steps()
    locked = steps.index("RUN pip install --require-hashes -r requirements.txt")
    assert steps[locked - 1] == "COPY requirements.txt ./"
    code_copies = [
        i for i, step in enumerate(steps) if re.match(r"COPY (bot|handlers|pyproject)", step)
    ]
    assert code_copies and min(code_copies) > locked
    [project_install] = [s for s in steps if s.startswith("RUN pip install") and s != steps[locked]]
    assert project_install == "RUN pip install --no-deps ."
    assert steps.index(project_install) > max(code_copies)


def test_ci_installs_from_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet --require-hashes -r requirements-dev.txt" in makefile
    assert "pip install --quiet --no-deps -e ." in makefile
    assert "-e '.[dev]'" not in makefile  # resolving afresh would bypass the lock


# ---- benchmarks/README.md: figures with their command, commit and machine ----------------------

BENCHMARKS_README = ROOT / "benchmarks" / "README.md"


def _sections(markdown: str) -> list[tuple[str, str]]:
    """(heading, body) for every heading of the document."""
    parts = re.split(r"^(#{1,4} .+)$", markdown, flags=re.M)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def test_every_benchmark_figure_names_its_command_commit_and_machine():
    text = BENCHMARKS_README.read_text()
    machines_section = dict(_sections(text))["## Machines"]
    machines = set(re.findall(r"^\| \*\*([\w-]+)\*\* \|", machines_section, re.M))
    assert machines
    figures = 0
    for heading, body in _sections(text):
        if heading in ("## Machines", "## Targets") or "|---" not in body:
            continue
        figures += 1
        provenance = re.search(r"^Commit ([0-9a-f]{7,40}), machine ([\w-]+)", body, re.M)
        assert provenance, f"{heading}: no 'Commit <hash>, machine <name>' line"
        assert provenance.group(2) in machines, heading
        assert re.search(r"`python -m benchmarks\.\w+[^`]*`", body), f"{heading}: no command"
    assert figures >= 6
    # A document of current figures, not a work log.
    assert not re.search(r"\b[Ii]ssue \d+|this session|^Before ", text, re.M)
    assert "## Log redactor" in text
