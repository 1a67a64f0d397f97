"""`python -m bot …` as an operator runs it: import, db, shell, serve."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e_dataset import INITECH_EMAIL, write_dataset

ROOT = Path(__file__).resolve().parent.parent


def run_bot(
    *args: str, database_url: str, cwd: Path, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ALLOWED_"))},
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


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
    assert "SLACK_APP_TOKEN" in result.stderr and "gunicorn bot.wsgi:app" in result.stderr


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
