"""Imports never lose data: a malformed file, or the import process killed mid-file, leaves
every table of the store exactly as it was (one transaction, not hope). Both engines."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.datagen import write_licenses
from bot.store.audit import AuditEntry, record_audit
from bot.store.importing import ImportFailed, import_file
from bot.store.models import Base
from tests.helpers.e2e_dataset import load_dataset
from tests.helpers.paths import ROOT

TODAY = date(2026, 11, 27)
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
# Big enough that the import runs for seconds (~7 s per 100,000 rows on a laptop), so the
# kill lands mid-file, after batches were written inside the transaction.
BIG_ROWS = 60_000
HEADER = "id,company,plan,trial,contact_email\n"


def dump(factory: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the store has (the audit schema included), in key order."""
    with factory() as session:
        return {
            table.fullname: [
                tuple(row)
                for row in session.execute(
                    table.select().order_by(*table.primary_key.columns)
                ).all()
            ]
            for table in Base.metadata.sorted_tables
        }


@pytest.fixture
def populated(session_factory: sessionmaker[Session], tmp_path: Path) -> sessionmaker[Session]:
    """A store with data in it, so "as before" is not trivially "empty"."""
    (tmp_path / "before").mkdir()
    load_dataset(session_factory, tmp_path / "before", TODAY)
    record_audit(
        session_factory, AuditEntry(surface="/license", outcome="ok", user_id="U1"), now=NOW
    )
    return session_factory


def _encode(text: str) -> bytes:
    return text.encode("utf-8")


# Each malformed file, its error (with a physical line number) and the bytes to write.
MALFORMED = {
    "wrong headers": (
        _encode("identifier,name,tier\n1,Acme,premium\n"),
        "line 1: the licenses file lacks required columns",
    ),
    "missing header row": (_encode("1,Acme,premium,false\n"), "line 1: the licenses file lacks"),
    "quoted newlines before the bad row": (
        _encode(HEADER + '1,"Acme\nLabs",premium,false,a@acme.io\n2,Initech,premium,maybe,\n'),
        "line 4: trial 'maybe'",
    ),
    "CRLF and BOM from Excel": (
        b"\xef\xbb\xbf"
        + _encode(HEADER.replace("\n", "\r\n") + "1,Acme,premium,false,\r\nx,B,p,no,\r\n"),
        "line 3: id 'x'",
    ),
    "Latin-1 bytes": (
        _encode(HEADER + "1,Acme,premium,false,\n")
        + "2,Société,premium,false,\n".encode("latin-1"),
        "line 3: byte 0xe9",
    ),
    "duplicate ids": (
        _encode(HEADER + "7,Acme,premium,false,\n8,B,premium,false,\n7,C,premium,false,\n"),
        "line 4: id 7 appears twice, on lines 2 and 4",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_file_leaves_every_table_as_before(populated, tmp_path, case) -> None:
    content, error = MALFORMED[case]
    path = tmp_path / "licenses.csv"
    path.write_bytes(content)
    before = dump(populated)
    # Rows of the good lines that precede the error are updates of stored ids: they were
    # written inside the transaction before the error, and must be undone with it.
    with pytest.raises(ImportFailed) as raised:
        import_file(populated, "licenses", path, full=True, allow_mass_delete=True, now=NOW)
    assert str(raised.value).startswith(error), str(raised.value)
    assert dump(populated) == before


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "licenses.csv"
    write_licenses(path, BIG_ROWS, 2_000, TODAY)
    return path


def _wait_for_progress(process: subprocess.Popen[bytes], deadline: float) -> bytes:
    """Read the import's stderr until it reports written rows (it prints `\\r… N rows…`)."""
    assert process.stderr is not None
    seen = b""
    while time.monotonic() < deadline and b"rows" not in seen:
        ready, _, _ = select.select([process.stderr], [], [], 0.2)
        if ready:
            chunk = os.read(process.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    return seen


def test_killing_the_import_mid_file_leaves_the_store_as_before(
    populated, store_url, big_file, tmp_path
) -> None:
    before = dump(populated)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ALLOWED_"))},
        "DATABASE_URL": store_url,
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "import", "licenses", str(big_file), "--full",
         "--allow-mass-delete"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        progress = _wait_for_progress(process, time.monotonic() + 60)
        assert b"rows" in progress, progress
        assert process.poll() is None, "the import finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    assert dump(populated) == before
    # And the store is not left locked: the next import runs and commits.
    small = tmp_path / "small.csv"
    small.write_text(HEADER + "900001,After The Kill,premium,false,\n", encoding="utf-8")
    summary = import_file(populated, "licenses", small, now=NOW)
    assert summary.inserted == 1
