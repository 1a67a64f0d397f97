"""The importer keeps its working sets (keys seen, customers touched, the batch) in temporary
tables of its own transaction, not in memory: duplicates across batches are still found with
both lines, errors keep their file order, and no table is left behind after a success or a
failure. Both engines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.store.importing import BATCH_SIZE, ImportFailed, import_file
from bot.store.models import License
from tests.helpers.import_files import (
    NOW,
    UNSUBSCRIBED,
    customers,
    failure,
    leftover_tables,
    license_row,
    licenses_file,
    snapshot,
)


def rows(count: int, start: int = 1, **overrides: Any) -> list[dict[str, Any]]:
    return [
        license_row(i, company=f"Company {i % 50}", **{**UNSUBSCRIBED, **overrides})
        for i in range(start, start + count)
    ]


def test_a_duplicate_across_batches_names_both_lines(session_factory, tmp_path) -> None:
    content = rows(BATCH_SIZE + 10)
    content.append(license_row(7, plan="ultimate"))  # line = BATCH_SIZE + 12
    path = licenses_file(tmp_path, content)
    before = snapshot(session_factory)
    duplicate_line = BATCH_SIZE + 12
    assert failure(session_factory, "licenses", path) == (
        f"line {duplicate_line}: id 7 appears twice, on lines 8 and {duplicate_line}"
    )
    assert snapshot(session_factory) == before


def test_a_duplicate_in_a_flushed_batch_names_the_first_repeat(session_factory, tmp_path) -> None:
    # Both repeats fall in the second batch, which is checked as a whole: the earlier one wins.
    content = rows(BATCH_SIZE + 10)
    content += [license_row(9, plan="ultimate"), license_row(5, plan="ultimate")]
    content += rows(BATCH_SIZE, start=100_000)
    path = licenses_file(tmp_path, content)
    line = BATCH_SIZE + 12
    assert failure(session_factory, "licenses", path) == (
        f"line {line}: id 9 appears twice, on lines 10 and {line}"
    )


def test_an_earlier_duplicate_wins_over_a_later_bad_value(session_factory, tmp_path) -> None:
    # The duplicate is pending in an unflushed batch when the bad value stops the file.
    content = rows(BATCH_SIZE + 10)
    content.append(license_row(3, plan="ultimate"))
    content.append(license_row(900_000, user_count="many"))
    path = licenses_file(tmp_path, content)
    line = BATCH_SIZE + 12
    assert failure(session_factory, "licenses", path) == (
        f"line {line}: id 3 appears twice, on lines 4 and {line}"
    )


def test_a_bad_value_before_a_later_duplicate_is_reported(session_factory, tmp_path) -> None:
    content = rows(BATCH_SIZE + 10)
    content.append(license_row(900_000, user_count="many"))
    content.append(license_row(3, plan="ultimate"))
    path = licenses_file(tmp_path, content)
    assert failure(session_factory, "licenses", path).startswith(
        f"line {BATCH_SIZE + 12}: user_count 'many'"
    )


def test_no_temporary_table_outlives_an_import(engine, session_factory, tmp_path) -> None:
    good = licenses_file(tmp_path, rows(BATCH_SIZE + 5), name="good.csv")
    summary = import_file(session_factory, "licenses", good, full=True, now=NOW)
    assert summary.inserted == BATCH_SIZE + 5
    assert leftover_tables(engine) == []

    bad = licenses_file(tmp_path, [*rows(BATCH_SIZE + 5), license_row(1)], name="bad.csv")
    try:
        import_file(session_factory, "licenses", bad, now=NOW)
    except ImportFailed:
        pass
    else:  # pragma: no cover - the file is meant to fail
        raise AssertionError("the duplicate was not found")
    assert leftover_tables(engine) == []

    # And the next import on the same (pooled) connection creates them afresh.
    again = import_file(session_factory, "licenses", good, now=NOW)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, BATCH_SIZE + 5)
    assert leftover_tables(engine) == []


def test_full_import_across_batches_deletes_what_the_file_lacks(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    everything = rows(2 * BATCH_SIZE + 3)
    import_file(session_factory, "licenses", licenses_file(tmp_path, everything, "a.csv"), now=NOW)
    # Every license of "Company 0" (ids divisible by 50: 2% of the table) is gone from the file.
    kept = [row for row in everything if row["id"] % 50]
    path = licenses_file(tmp_path, kept, name="b.csv")
    summary = import_file(session_factory, "licenses", path, full=True, now=NOW)
    assert summary.deleted == len(everything) - len(kept)
    assert (summary.inserted, summary.updated, summary.customers_deleted) == (0, 0, 1)
    with session_factory() as session:
        stored = set(session.scalars(select(License.id)))
    assert stored == {row["id"] for row in kept}
    assert "name:company 0" not in customers(session_factory)
    assert len(customers(session_factory)) == 49


def _latin1_file(path: Path, good_rows: int, *, bad_value_on_line_3: bool = False) -> Path:
    header = "id,company,plan,trial\n"
    lines = [f"{i},Company {i},premium,false\n" for i in range(1, good_rows + 1)]
    if bad_value_on_line_3:
        lines[1] = "2,Company 2,premium,maybe\n"
    path.write_bytes(
        (header + "".join(lines)).encode("utf-8")
        + f"{good_rows + 1},Soci".encode()
        + "été,premium,false\n".encode("latin-1")
    )
    return path


def test_latin1_bytes_far_into_a_file_name_their_line(session_factory, tmp_path) -> None:
    # Far past the first chunk the reader decodes ahead, and past the first batch.
    path = _latin1_file(tmp_path / "licenses.csv", BATCH_SIZE + 500)
    line = BATCH_SIZE + 502
    message = failure(session_factory, "licenses", path)
    assert message.startswith(f"line {line}: byte 0xe9 at position 10 "), message


def test_a_bad_value_before_latin1_bytes_is_reported_first(session_factory, tmp_path) -> None:
    path = _latin1_file(tmp_path / "licenses.csv", 300, bad_value_on_line_3=True)
    assert failure(session_factory, "licenses", path).startswith("line 3: trial 'maybe'")
