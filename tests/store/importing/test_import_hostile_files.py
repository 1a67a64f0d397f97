"""Export files that broke the importer (SECURITY.md: hostile input; issue "the second round of
holes"): a license file of 200 KB in a column the importer ignores, free text longer than any
column should hold, JSON lines nested deeper than the parser recurses, and a quote that never
closes. Each is answered with one line naming where, and the store is left as it was.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import func, select

from bot.store.importing import ImportFailed, import_file, reading
from bot.store.importing.kinds import TEXT_MAX
from bot.store.models import License
from tests.helpers.paths import DATA

# CustomersDot's `licenses` table as `COPY … CSV` writes it (tests/data has a real sample).
HEADER = (
    "id,name,company,email,users_count,license_file,expires_at,created_at,updated_at,plan_name,"
    "starts_at,zuora_subscription_id,notes,previous_users_count,trueup_quantity,trueup_from,"
    "trueup_to,plan_code,trial,zuora_subscription_name,license_file_md5,creator_id"
)


def row(
    license_id: int, *, license_file: str = "", notes: str = "", company: str = "Initech"
) -> str:
    quoted_file = f'"{license_file}"' if license_file else ""
    return (
        f"{license_id},Bill,{company},bill@initech.example,10,{quoted_file},2027-01-01,"
        f"2026-01-01 00:00:00,2026-01-01 00:00:00,Premium,2026-01-01,,{notes},,,,,premium,f,,,"
    )


def licenses_in_store(factory) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(License)) or 0


def test_a_200_kb_license_file_in_an_ignored_column_imports(session_factory, tmp_path) -> None:
    blob = "-----BEGIN LICENSE-----\n" + "QUJD" * 51_200 + "\n-----END LICENSE-----"
    assert len(blob) > 200_000  # over csv's default limit of 131,072 characters a cell
    path = tmp_path / "licenses.csv"
    path.write_text("\n".join([HEADER, row(1, license_file=blob), row(2)]) + "\n")
    summary = import_file(session_factory, "licenses", path)
    assert (summary.rows, summary.inserted) == (2, 2)


def test_free_text_longer_than_any_column_holds_fails_with_its_line(
    session_factory, tmp_path
) -> None:
    path = tmp_path / "licenses.csv"
    path.write_text("\n".join([HEADER, row(1), row(2, notes="x" * (TEXT_MAX + 1))]) + "\n")
    with pytest.raises(ImportFailed) as failed:
        import_file(session_factory, "licenses", path)
    assert failed.value.line == 3
    assert f"notes is longer than {TEXT_MAX:,}".replace(",", "") in str(failed.value).replace(
        ",", ""
    )
    assert licenses_in_store(session_factory) == 0


def test_json_lines_nested_too_deeply_fail_with_their_line(session_factory, tmp_path) -> None:
    path = tmp_path / "licenses.jsonl"
    deep = '{"id": 2, "company": ' + "[" * 200_000 + "]" * 200_000 + "}"
    path.write_text('{"id": 1, "company": "Initech", "plan": "premium"}\n' + deep + "\n")
    with pytest.raises(ImportFailed) as failed:
        import_file(session_factory, "licenses", path)
    assert failed.value.line == 2 and "nested too deeply" in str(failed.value)
    assert licenses_in_store(session_factory) == 0


def test_the_command_says_so_in_one_line_without_a_traceback(tmp_path) -> None:
    path = tmp_path / "licenses.jsonl"
    path.write_text('{"id": 1, "company": ' + "[" * 200_000 + "]" * 200_000 + "}\n")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "import", "licenses", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path / 's.sqlite3'}"},
        timeout=120,
    )
    assert result.returncode == 1  # a rejected file, as every bad file is
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1] == (
        "import failed, the store is unchanged: line 1: JSON nested too deeply to be a record"
    )
    assert "Traceback" not in result.stderr


def test_a_quote_that_never_closes_is_reported_where_it_opened(session_factory, tmp_path) -> None:
    # The stray quote on line 2 opens a cell that swallows the rest of the file.
    rows = [row(1, company='"Initech')] + [row(number) for number in range(2, 10_001)]
    path = tmp_path / "licenses.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    with pytest.raises(ImportFailed) as failed:
        import_file(session_factory, "licenses", path)
    assert failed.value.line == 2, str(failed.value)
    assert "never closed" in str(failed.value)
    assert licenses_in_store(session_factory) == 0


def test_a_quote_that_swallows_more_than_a_cell_may_hold_is_reported_where_it_opened(
    session_factory, tmp_path, monkeypatch
) -> None:
    # What a file larger than the cell limit does (16 MiB), with a smaller limit.
    monkeypatch.setattr(reading, "CSV_CELL_MAX", 100_000)
    rows = [row(1), row(2, company='"Initech')] + [row(n) for n in range(3, 5_000)]
    path = tmp_path / "licenses.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    with pytest.raises(ImportFailed) as failed:
        import_file(session_factory, "licenses", path)
    assert failed.value.line == 3 and "never closed" in str(failed.value), str(failed.value)


def test_the_blob_fixture_is_real_shaped() -> None:
    assert (
        DATA.joinpath("customersdot_licenses.csv")
        .read_text(encoding="utf-8-sig")
        .startswith(HEADER)
    )
