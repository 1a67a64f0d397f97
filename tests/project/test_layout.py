"""The tests' layout stays as a newcomer expects it: tests/ mirrors the code, and what test modules
share lives in tests/helpers/ or in a fixture of tests/conftest.py, never in another test module.

- A test of `bot/<package>/…` sits in `tests/<package>/…` (`tests/store/importing/`, `tests/views/`),
  a test of `handlers/` in `tests/handlers/`, a test of one of bot's top-level modules at the top
  (`tests/test_licensing.py` for `bot/licensing.py`).
- Tests of the whole app over HTTP sit in `tests/app/`; tests of the repository itself (docs,
  tooling, manifest, benchmarks, the test helpers) in `tests/project/`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.helpers.paths import ROOT

TESTS = ROOT / "tests"
# Directories of tests that do not mirror one package: the app as a whole, the repository itself.
APP_LEVEL = {"app", "project"}
# Directories that hold no test modules.
NOT_TESTS = {"helpers", "data"}
# A module no other module may import: a test module, or conftest (its fixtures reach every test
# without an import; what else it had lives in tests/helpers/).
_TEST_MODULE = re.compile(r"^tests(\.\w+)*\.(test_\w+|conftest)$")


def _test_modules() -> list[Path]:
    return sorted(TESTS.rglob("test_*.py"))


def _imported_modules(path: Path) -> set[str]:
    """Every module an import statement in the file names, relative imports resolved."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_no_module_imports_a_test_module_or_conftest() -> None:
    importers = sorted([*TESTS.rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")])
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in importers
        for name in sorted(_imported_modules(path))
        if _TEST_MODULE.match(name)
    ]
    assert not found, "shared test code belongs in tests/helpers/ or a fixture:\n" + "\n".join(
        found
    )


def _mirrors_a_package(directory: Path) -> bool:
    """tests/<a>/<b> mirrors bot/<a>/<b> or handlers/… when that is a package."""
    parts = directory.parts
    candidates = [ROOT / "bot" / directory]
    if parts[0] == "handlers":
        candidates.append(ROOT / directory)
    return any((candidate / "__init__.py").is_file() for candidate in candidates)


def test_every_test_module_sits_where_the_code_it_tests_does() -> None:
    top_level_modules = {
        path.stem for path in (ROOT / "bot").glob("*.py") if not path.stem.startswith("__")
    }
    misplaced: list[str] = []
    for path in _test_modules():
        directory = path.parent.relative_to(TESTS)
        name = path.stem.removeprefix("test_")
        if directory == Path("."):
            if not any(name == m or name.startswith(f"{m}_") for m in top_level_modules):
                misplaced.append(f"{path.relative_to(ROOT)}: no bot/<module>.py of that name")
        elif directory.parts[0] in NOT_TESTS:
            misplaced.append(
                f"{path.relative_to(ROOT)}: tests/{directory.parts[0]}/ holds no tests"
            )
        elif directory.parts[0] not in APP_LEVEL and not _mirrors_a_package(directory):
            misplaced.append(f"{path.relative_to(ROOT)}: no package bot/{directory} or {directory}")
    assert not misplaced, "\n".join(misplaced)


def test_every_directory_of_tests_is_a_package() -> None:
    # Without __init__.py, two test modules of one name in two directories would clash.
    directories = {path.parent for path in TESTS.rglob("*.py")}
    missing = sorted(
        str(directory.relative_to(ROOT))
        for directory in directories
        if not (directory / "__init__.py").is_file()
    )
    assert not missing, f"directories of tests without __init__.py: {missing}"
