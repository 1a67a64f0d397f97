"""`python -m bot …` as an operator runs it: import, db, shell, serve."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot.cli.manifest import BOT_SCOPES
from bot.command_line import command_for
from bot.store.db import create_store_engine
from bot.store.schema import is_up_to_date
from tests.helpers.e2e_dataset import INITECH_EMAIL, write_dataset
from tests.helpers.paths import ROOT
from tests.helpers.postgres import fresh_postgres_database
from tests.helpers.processes import run_bot, run_main
from tests.helpers.slack_standin import SlackStandIn


@pytest.fixture
def dataset(tmp_path: Path) -> dict[str, Path]:
    directory = tmp_path / "exports"
    directory.mkdir()
    return write_dataset(directory, datetime.now(UTC).date())


def test_import_prints_a_summary_and_reimport_updates_in_place(store_url, dataset, tmp_path):
    first = run_bot(
        "import", "licenses", str(dataset["licenses"]), database_url=store_url, cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert "6 rows" in first.stdout and "6 inserted" in first.stdout
    assert "extra admin column" in first.stderr.lower()  # the unknown column is warned about
    again = run_bot(
        "import", "licenses", str(dataset["licenses"]), database_url=store_url, cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    assert "0 inserted, 0 updated, 6 unchanged" in again.stdout


def test_a_bad_row_fails_the_import_with_its_line_and_changes_nothing(store_url, dataset, tmp_path):
    good = run_bot(
        "import", "licenses", str(dataset["licenses"]), database_url=store_url, cwd=tmp_path
    )
    assert good.returncode == 0, good.stderr
    lines = dataset["licenses"].read_text().splitlines()
    new_row = lines[1].replace("9001", "9999", 1)
    bad_row = lines[2].replace("9000", "9998", 1).replace(",100,", ",lots,", 1)
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join([*lines, new_row, bad_row]) + "\n")
    bad_line = len(lines) + 2
    result = run_bot("import", "licenses", str(broken), database_url=store_url, cwd=tmp_path)
    assert result.returncode == 1
    assert "unchanged" in result.stderr and f"line {bad_line}" in result.stderr
    shown = run_bot("shell", database_url=store_url, cwd=tmp_path, stdin="/license 9999\n")
    assert "No customer" in shown.stdout


def test_missing_file_and_bad_kind_are_clear(store_url, tmp_path):
    missing = run_bot("import", "licenses", "nope.csv", database_url=store_url, cwd=tmp_path)
    assert missing.returncode == 1 and "no such file" in missing.stderr
    wrong = run_bot("import", "customers", "x.csv", database_url=store_url, cwd=tmp_path)
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr


def test_shell_reads_piped_commands_and_presses_buttons(store_url, dataset, tmp_path):
    for kind, path in dataset.items():
        assert (
            run_bot("import", kind, str(path), database_url=store_url, cwd=tmp_path).returncode == 0
        )
    result = run_bot(
        "shell",
        database_url=store_url,
        cwd=tmp_path,
        stdin="/license initech\n/recon initech\n/license umbrel\n1\nhelp\n",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert INITECH_EMAIL in out  # the operator is the requester: contact emails shown
    assert "$4,312.50" in out
    assert "press 1" in out
    after_press = out.split("> 1", 1)[1]
    assert "Umbrella" in after_press
    assert "/admin/license/9200" in after_press or "/admin/license/9300" in after_press


def test_both_buttons_work_in_the_shell_and_show_what_would_be_posted(tmp_path):
    """`make try` on a fresh clone: the shell loads the demo data, `press 1` is accepted as the
    shell prints it, Share shows the card as the channel would get it (emails hidden) and Send
    to me the DM the requester would get (emails shown); no Slack anywhere."""
    result = run_bot(
        "shell",
        "--demo",
        database_url="",
        cwd=tmp_path,
        # Send to me first: the card posted by Share carries a button of its own (Follow in
        # this thread), and the shell's numbers are the last reply's.
        stdin="/license initech\npress 2\npress 1\n/recon globex\n1\npress 9\n",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "demo licenses:" in out and "Try it" not in out
    card, sent = out.split("> press 2", 1)
    sent, shared = sent.split("> press 1", 1)
    shared, recon = shared.split("> /recon globex", 1)
    assert "Follow in this thread" in shared
    assert "@initech.com" in card.lower()
    assert "── posted in the channel, for everyone ──" in shared
    assert "Initech" in shared and "@initech.com" not in shared.lower()
    assert "Sent to: Bill Lumbergh\n" in shared  # the contact, without the address
    assert "── sent to your direct messages with CustomersDot ──" in sent
    assert "@initech.com" in sent.lower()
    assert "Sent to your direct messages with CustomersDot, where it stays." in sent
    assert "couldn't check" not in out and "URLError" not in out + result.stderr
    assert "The last reply has no buttons to press." in recon
    assert "Unknown command" not in out
    # Nothing was left behind where the shell was started but the store it was told to use
    # (and the empty file its audit writes take turns on: bot/store/write_turns.py).
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "customersdot.audit.sqlite3",
        "customersdot.audit.sqlite3.turn",
        "customersdot.sqlite3",
    ]


def test_db_upgrade_is_idempotent_and_current_reports_it(store_url, tmp_path):
    for _ in range(2):
        result = run_bot("db", "upgrade", database_url=store_url, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    current = run_bot("db", "current", database_url=store_url, cwd=tmp_path)
    assert current.returncode == 0 and "latest" in current.stdout


def test_a_fresh_sqlite_store_is_created_on_first_use(tmp_path):
    result = run_bot("shell", database_url="", cwd=tmp_path, stdin="/license acme\n")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "customersdot.sqlite3").exists()
    assert (tmp_path / "customersdot.audit.sqlite3").exists()
    assert "store is empty" in result.stdout and "python -m bot import" in result.stdout


def test_serve_without_an_app_token_explains_the_modes(tmp_path):
    result = run_bot("serve", database_url="", cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_APP_TOKEN" in result.stderr and "gunicorn bot.asgi:app" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_demo_hint_runs_as_printed_outside_the_virtualenv(tmp_path):
    """An operator who has not activated the virtualenv copies the hint into their shell: the
    `python` on their PATH (if any) does not have the bot's dependencies."""
    outside = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}"}
    demo = run_bot("demo", database_url=outside["DATABASE_URL"], cwd=tmp_path, **outside)
    assert demo.returncode == 0, demo.stderr
    [command] = re.findall(r"Try it: (.+) shell, then type /license initech", demo.stdout)
    shell = subprocess.run(
        f"{command} shell",
        shell=True,
        cwd=tmp_path,
        env={**os.environ, **outside, "PYTHONPATH": str(ROOT)},
        input="/license initech\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shell.returncode == 0, shell.stderr
    assert "Initech" in shell.stdout


def test_hints_name_the_interpreter_unless_it_is_the_python_on_path(tmp_path):
    venv_python = tmp_path / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.touch()
    assert command_for(venv_python, tmp_path, str(venv_python)) == "python -m bot"
    assert command_for(venv_python, tmp_path, "/usr/bin/python") == ".venv/bin/python -m bot"
    assert command_for(venv_python, tmp_path, None) == ".venv/bin/python -m bot"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert command_for(venv_python, elsewhere, None) == f"{venv_python} -m bot"


# ---- errors in one line, help, preflight (issue 13) ---------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never answers: a store that times out."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as listener:
        yield listener.getsockname()[1]


def _assert_one_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


STORE_COMMANDS = [
    ("db", "upgrade"),
    ("db", "current"),
    ("demo",),
    ("import", "licenses", "licenses.csv"),
    ("sync", "status"),
    ("audit", "purge"),
    ("audit", "export", "--since", "2026-11-01", "--until", "2026-11-02"),
    ("shell",),
]


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=" ".join)
def test_a_store_that_refuses_connections_is_one_line(command, tmp_path, monkeypatch, capsys):
    (tmp_path / "licenses.csv").write_text("id,company\n1,Initech\n")
    url = f"postgresql://bot:db-password@127.0.0.1:{_closed_port()}/customersdot"
    result = run_main(monkeypatch, capsys, tmp_path, *command, DATABASE_URL=url)
    _assert_one_line(result, "connection refused", "DATABASE_URL")
    assert "db-password" not in result.stderr


def test_a_store_that_refuses_connections_is_one_line_from_the_shell(tmp_path):
    url = f"postgresql://bot:db-password@127.0.0.1:{_closed_port()}/customersdot"
    result = run_bot("db", "upgrade", database_url=url, cwd=tmp_path)
    _assert_one_line(result, "db upgrade: the store is unreachable (connection refused)")
    assert "db-password" not in result.stderr


def test_a_store_that_times_out_is_one_line(tmp_path):
    with _silent_server() as port:
        url = f"postgresql://bot:db-password@127.0.0.1:{port}/customersdot"
        started = time.monotonic()
        result = run_bot(
            "db", "current", database_url=url, cwd=tmp_path, DATABASE_CONNECT_TIMEOUT_SECONDS="1"
        )
    _assert_one_line(result, "timed out")
    assert time.monotonic() - started < 60


def test_wrong_store_credentials_are_one_line(tmp_path):
    base = os.environ.get("TEST_POSTGRES_URL")
    if not base:
        pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL (scripts/start-postgres.sh)")
    url = make_url(base).set(username="no_such_role", password="db-password")
    result = run_bot(
        "db", "upgrade", database_url=url.render_as_string(hide_password=False), cwd=tmp_path
    )
    _assert_one_line(result, "authentication failed")
    assert "db-password" not in result.stderr


def test_debug_shows_the_traceback(tmp_path, monkeypatch, capsys):
    url = f"postgresql://bot:pw@127.0.0.1:{_closed_port()}/customersdot"
    for args in (("--debug", "db", "upgrade"), ("db", "upgrade", "--debug")):
        with pytest.raises(OperationalError):
            run_main(monkeypatch, capsys, tmp_path, *args, DATABASE_URL=url)


@pytest.mark.parametrize("command", [("import", "licenses", "licenses.csv"), ("demo",)], ids=str)
def test_an_unmigrated_postgres_store_says_to_run_db_upgrade(command, tmp_path):
    (tmp_path / "licenses.csv").write_text("id,company\n1,Initech\n")
    with fresh_postgres_database("unmigrated_cli", migrated=False) as url:
        if url is None:
            pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL (scripts/start-postgres.sh)")
        result = run_bot(*command, database_url=url, cwd=tmp_path)
    _assert_one_line(result, "not migrated", "python -m bot db upgrade")


def test_a_bad_log_format_is_one_line(tmp_path, monkeypatch, capsys):
    result = run_main(monkeypatch, capsys, tmp_path, "db", "upgrade", LOG_FORMAT="xml")
    _assert_one_line(result, "LOG_FORMAT")


def test_serve_with_an_app_token_but_no_bot_token_is_one_line(tmp_path):
    result = run_bot(
        "serve",
        database_url="",
        cwd=tmp_path,
        SLACK_APP_TOKEN="xapp-1-test",
        SLACK_SIGNING_SECRET="secret",
    )
    _assert_one_line(result, "SLACK_BOT_TOKEN")


def test_the_serve_hint_runs_gunicorn_with_its_config(tmp_path):
    result = run_bot("serve", database_url="", cwd=tmp_path)
    assert "gunicorn bot.asgi:app --config gunicorn.conf.py" in result.stderr


SUBCOMMANDS = [
    ("serve",),
    ("shell",),
    ("import",),
    ("demo",),
    ("sync",),
    ("audit",),
    ("audit", "export"),
    ("audit", "purge"),
    ("db",),
    ("db", "upgrade"),
    ("db", "current"),
    ("check",),
    ("manifest",),
]


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_help_says_what_it_does_with_an_example(
    command, tmp_path, monkeypatch, capsys
):
    result = run_main(monkeypatch, capsys, tmp_path, *command, "--help")
    assert result.returncode == 0, result.stderr
    _usage, _, rest = result.stdout.partition("\n\n")
    description = rest.split("\n\n", 1)[0]
    assert len(description.split()) >= 3, result.stdout
    assert "example:\n  " in result.stdout and "python -m bot" in result.stdout.split("example:")[1]
    if command[0] not in {"serve", "manifest", "audit", "db"} or len(command) > 1:
        assert "DATABASE_URL" in result.stdout


def test_import_help_lists_kinds_formats_and_where_the_columns_are(tmp_path, monkeypatch, capsys):
    help_text = " ".join(run_main(monkeypatch, capsys, tmp_path, "import", "--help").stdout.split())
    for kind in ("licenses", "reconciliations", "hosts"):
        assert kind in help_text
    assert "CSV" in help_text and "JSON lines" in help_text
    assert "docs/import-formats.md" in help_text


# ---- python -m bot check ----------------------------------------------------------------------


def _check_env(slack: SlackStandIn, **overrides: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-check",
        "SLACK_SIGNING_SECRET": "signing-secret",
        "SLACK_API_URL": slack.api_url,
        "ALLOWED_USERGROUPS": "sales",
        **overrides,
    }


def test_check_passes_on_a_good_deployment(store_url, tmp_path):
    with SlackStandIn() as slack:
        slack.granted_scopes = tuple(BOT_SCOPES)
        slack.add_usergroup("S0SALES", "sales")
        result = run_bot("check", database_url=store_url, cwd=tmp_path, **_check_env(slack))
        assert slack.call_count("auth.test") == 1
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines and all(line.startswith("ok") for line in lines), result.stdout
    assert any("store" in line for line in lines) and any("scopes" in line for line in lines)
    assert any(line.startswith("ok   user groups") for line in lines)


def test_check_fails_on_a_user_group_slack_does_not_know(store_url, tmp_path):
    """`sales-typo` let nobody in, and only the first request's log line said why."""
    with SlackStandIn() as slack:
        slack.granted_scopes = tuple(BOT_SCOPES)
        slack.add_usergroup("S0SALES", "sales")
        env = _check_env(slack, ALLOWED_USERGROUPS="sales,sales-typo")
        result = run_bot("check", database_url=store_url, cwd=tmp_path, **env)
    assert result.returncode == 2
    (failure,) = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert "user groups" in failure and "@sales-typo" in failure and "@sales," not in failure


def test_check_changes_nothing_where_there_is_no_store(tmp_path):
    """With DATABASE_URL unset the store is customersdot.sqlite3 here: check says it is not
    there, and creates neither it nor its audit file."""
    with SlackStandIn() as slack:
        slack.granted_scopes = tuple(BOT_SCOPES)
        slack.add_usergroup("S0SALES", "sales")
        result = run_bot("check", database_url="", cwd=tmp_path, **_check_env(slack))
    assert result.returncode == 2
    (failure,) = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert "no SQLite store at customersdot.sqlite3" in failure and "db upgrade" in failure
    assert list(tmp_path.iterdir()) == []


def test_a_store_copied_without_its_audit_file_is_found_and_mended(tmp_path):
    """The main file is at the latest revision, so nothing looked wrong, and every lookup
    answered "unavailable" (its audit row could not be written). check and /readyz say so;
    db upgrade makes the audit store again."""
    store = tmp_path / "store.sqlite3"
    url = f"sqlite:///{store}"
    assert run_bot("db", "upgrade", database_url=url, cwd=tmp_path).returncode == 0
    (tmp_path / "store.audit.sqlite3").unlink()
    with SlackStandIn() as slack:
        slack.granted_scopes = tuple(BOT_SCOPES)
        slack.add_usergroup("S0SALES", "sales")
        checked = run_bot("check", database_url=url, cwd=tmp_path, **_check_env(slack))
        assert checked.returncode == 2
        (failure,) = [line for line in checked.stdout.splitlines() if line.startswith("FAIL")]
        assert "audit file" in failure and "db upgrade" in failure
        assert not (tmp_path / "store.audit.sqlite3").exists()  # check made nothing
        # An empty audit file (what opening the store leaves) is not ready either.
        engine = create_store_engine(url)
        try:
            assert not is_up_to_date(engine)
        finally:
            engine.dispose()
        mended = run_bot("db", "upgrade", database_url=url, cwd=tmp_path)
        assert mended.returncode == 0, mended.stderr
        engine = create_store_engine(url)
        try:
            assert is_up_to_date(engine)
        finally:
            engine.dispose()
        again = run_bot("check", database_url=url, cwd=tmp_path, **_check_env(slack))
    assert again.returncode == 0, again.stdout


def test_check_fails_with_one_line_per_problem(tmp_path):
    with (
        fresh_postgres_database("unmigrated_check", migrated=False) as url,
        SlackStandIn() as slack,
    ):
        if url is None:
            pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL (scripts/start-postgres.sh)")
        slack.granted_scopes = tuple(s for s in BOT_SCOPES if s != "links:write")
        result = run_bot(
            "check",
            database_url=url,
            cwd=tmp_path,
            **_check_env(slack, SLACK_SIGNING_SECRET="", ALLOWED_USERGROUPS=""),
        )
    assert result.returncode == 2
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 4, result.stdout
    assert "SLACK_SIGNING_SECRET" in failures[0]
    assert "allowlist" in failures[1]
    assert "not migrated" in failures[2] and " -m bot db upgrade" in failures[2]
    assert "links:write" in failures[3] and "reinstall" in failures[3]


def test_check_names_a_token_slack_refuses(store_url, tmp_path):
    with SlackStandIn() as slack:
        slack.fail("auth.test", "error", error="invalid_auth")
        result = run_bot("check", database_url=store_url, cwd=tmp_path, **_check_env(slack))
    assert result.returncode == 2
    (failure,) = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert "Slack token" in failure and "invalid_auth" in failure and "xoxb-check" not in failure


def test_check_says_when_slack_is_unreachable(store_url, tmp_path):
    with SlackStandIn() as slack:
        env = _check_env(slack, SLACK_API_URL=f"http://127.0.0.1:{_closed_port()}/api/")
        result = run_bot("check", database_url=store_url, cwd=tmp_path, **env)
    assert result.returncode == 2
    (failure,) = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert "could not be reached" in failure and "SLACK_API_URL" in failure


def test_a_zuora_subscriptions_export_imports_and_regroups(store_url, dataset, tmp_path):
    assert (
        run_bot(
            "import", "licenses", str(dataset["licenses"]), database_url=store_url, cwd=tmp_path
        ).returncode
        == 0
    )
    export = tmp_path / "subscriptions.csv"
    export.write_text(
        "Subscription.Name,Subscription.Id,Subscription.Version,Account.Id,Account.Name,"
        "Account.AccountNumber,Account.CrmId\r\n"
        "A-S00090001,8a8aa0b1c2d3e4f5a6b7c8d9e0f1a2b3,2,ZA-INITECH,Initech Corporation,"
        "A00001,0016100000INITEC\r\n",
        encoding="utf-8",
    )
    done = run_bot("import", "subscriptions", str(export), database_url=store_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "subscriptions: 1 rows" in done.stdout and "customers:" in done.stdout
    shown = run_bot(
        "shell", database_url=store_url, cwd=tmp_path, stdin="/license Initech Corporation\n"
    )
    assert "Salesforce account: Initech Corporation" in shown.stdout, shown.stdout
