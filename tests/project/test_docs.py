"""The docs are true to the code: every test, module and file a document names exists (docs that
name a renamed test or a moved module send a newcomer nowhere)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT

DOCUMENTS = sorted(
    [
        ROOT / "README.md",
        ROOT / "SECURITY.md",
        ROOT / "benchmarks" / "README.md",
        *(ROOT / "docs").glob("*.md"),
    ]
)

_TEST_NAME = re.compile(r"`(?:[\w/]+\.py::)?(test_\w+)`")
_PATH = re.compile(r"`((?:bot|handlers|tests|benchmarks|scripts|docs)/[\w./-]+\.(?:py|md|sh))")


def _defined_tests() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "tests").rglob("*.py"):
        names.update(re.findall(r"^def (test_\w+)", path.read_text(encoding="utf-8"), re.M))
    return names


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_test_a_document_names_exists(document: Path) -> None:
    named = set(_TEST_NAME.findall(document.read_text(encoding="utf-8")))
    missing = sorted(named - _defined_tests())
    assert not missing, f"{document.name} names tests that do not exist: {missing}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_file_a_document_names_exists(document: Path) -> None:
    named = set(_PATH.findall(document.read_text(encoding="utf-8")))
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert not missing, f"{document.name} names files that do not exist: {missing}"
