"""The docs are true to the code: every module, file, function, class and test a document names
exists (docs that name a renamed test or a moved module send a newcomer nowhere).

What counts as naming something (the convention the docs follow):
- a path from the repository's root, backticked or not: `bot/store/queries.py`, `bot/cli/`,
  tests/test_oauth.py; a test or helper in it: tests/test_oauth.py::test_x (the file must define
  it, as a function or a method);
- a test by its name alone, backticked: `test_x` (defined in some file under tests/);
- a dotted module, backticked: `bot.store.queries`; a name in it: `bot.licensing.standing`,
  `bot.config.Settings.oauth_enabled`, `bot.asgi:app`; `python -m benchmarks.load` names a
  module too;
- a backticked name beside a backticked path: `regroup` in `bot/store/customers.py` (or
  `regroup()` in …), `regroup` (`bot/store/customers.py`), `bot/store/customers.py`'s
  `regroup`, and the names in parentheses right after a path: `bot/licensing.py` (`standing`,
  `summarise_licenses`);
- in a table with a "main function" column, each name in that column is defined in one of the
  modules its row names;
- a relative Markdown link: [the rule](customer-rule.md) resolves from the document's folder.

Names are checked by reading the source (ast), never by importing it: `bot/asgi.py` builds an
app at import. A path that moved (a test file into a sub-folder) is reported with where it went.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT

# This file, as a document names it (the checker's own tests name it, wherever it sits).
_THIS = Path(__file__).resolve().relative_to(ROOT).as_posix()
DOCUMENTS = sorted(
    [
        ROOT / "README.md",
        ROOT / "SECURITY.md",
        ROOT / "benchmarks" / "README.md",
        *(ROOT / "docs").glob("*.md"),
    ]
)
# The folders a repository path starts with.
_TOP = r"(?:bot|handlers|tests|benchmarks|scripts|docs|deploy)"
# Python packages a dotted name may start with.
_PACKAGES = ("bot", "handlers", "tests", "benchmarks", "scripts")
_IDENTIFIER = r"[A-Za-z_]\w*"
_DOTTED = rf"{_IDENTIFIER}(?:\.{_IDENTIFIER})*"

_BACKTICKED = re.compile(r"`([^`\n]+)`")
# A path anywhere in the text (not inside a URL or another path).
_PATH = re.compile(rf"(?<![\w/.:-]){_TOP}/(?:[\w.-]+/)*[\w.-]*(?:::{_IDENTIFIER})?")
_BARE_TEST = re.compile(r"^(test_\w+)(?:\(\))?$")
_DOTTED_NAME = re.compile(rf"^((?:{'|'.join(_PACKAGES)})(?:\.{_IDENTIFIER})+)(?::({_DOTTED}))?$")
_PYTHON_M = re.compile(rf"python3? -m ({_DOTTED})")
_NAME_IN_PATH = re.compile(rf"`({_DOTTED})(?:\(\))?`\s+in\s+`({_TOP}/[\w./-]+)`")
_NAME_THEN_PATH = re.compile(rf"`({_DOTTED})(?:\(\))?`\s+\(`({_TOP}/[\w./-]+)`[,;:)]")
_PATHS_NAME = re.compile(rf"`({_TOP}/[\w./-]+)`'s `({_DOTTED})(?:\(\))?`")
_NAMES_AFTER_PATH = re.compile(rf"`({_TOP}/[\w./-]+)`\s+\(([^()]*)\)")
_NAME_IN_LIST = re.compile(rf"`({_DOTTED})(?:\(\))?`")
# "the logger `bot.requests`", "(logger `bot.requests`)": a name, not a module.
_LOGGER = re.compile(r"logger`? $")
_LINK = re.compile(r"\]\(([^()\s]+)\)")


@dataclass(frozen=True)
class Source:
    """What a Python file defines: top-level names, and each class's own names."""

    names: frozenset[str]
    classes: dict[str, frozenset[str]]
    # A top-level name imported from another module: where it came from.
    imported: dict[str, str]


def _defined_in(body: list[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for part in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, part, [])
                for item in inner:
                    names.update(
                        _defined_in(item.body if isinstance(item, ast.ExceptHandler) else [item])
                    )
    return names


@functools.cache
def _source(path: Path) -> Source:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    classes = {
        node.name: frozenset(_defined_in(node.body))
        for node in tree.body
        if isinstance(node, ast.ClassDef)
    }
    imported = {
        (alias.asname or alias.name): f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
        for alias in node.names
    }
    return Source(frozenset(_defined_in(tree.body)), classes, imported)


def _module_file(dotted: str) -> Path | None:
    base = ROOT.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _name_problem(path: Path, dotted_name: str, *, depth: int = 0) -> str | None:
    """None when the Python file `path` defines `dotted_name` (`Class.attribute` included)."""
    first, _, rest = dotted_name.partition(".")
    source = _source(path)
    where = path.relative_to(ROOT).as_posix()
    if first not in source.names:
        if path.name == "__init__.py":
            # A package's module (`bot/search/` (`parsing`), `bot/store/importing/` (`sqlite.py`)).
            if rest == "py" and (path.parent / f"{first}.py").is_file():
                return None
            module = path.parent / f"{first}.py"
            if not module.is_file():
                module = path.parent / first / "__init__.py"
            if module.is_file():
                return _name_problem(module, rest, depth=depth + 1) if rest else None
        return f"{where} defines no `{first}`"
    if not rest:
        return None
    if first in source.classes:
        attribute = rest.split(".")[0]
        if attribute in source.classes[first]:
            return None
        return f"{where}'s `{first}` has no `{attribute}`"
    if first in source.imported and depth < 3:
        return _dotted_problem(f"{source.imported[first]}.{rest}", depth=depth + 1)
    # A module imported whole (`from bot import ids`): its names.
    module = _module_file(f"{path.parent.relative_to(ROOT).as_posix().replace('/', '.')}.{first}")
    if module is not None:
        return _name_problem(module, rest, depth=depth + 1)
    return None  # an instance or a value: its attributes are not read from source


def _dotted_problem(dotted: str, attribute: str | None = None, *, depth: int = 0) -> str | None:
    """None when `dotted` is a module of the repository, or a module and names within it."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        module = _module_file(".".join(parts[:split]))
        if module is None:
            continue
        names = [*parts[split:], *(attribute.split(".") if attribute else [])]
        if not names:
            return None
        problem = _name_problem(module, ".".join(names), depth=depth)
        if problem is not None and module.name == "__init__.py" and not attribute:
            return f"no module `{dotted}` ({problem})"
        return problem
    return f"no module `{dotted}`"


def _path_problem(named: str) -> str | None:
    path_text, _, name = named.partition("::")
    path_text = path_text.rstrip(".")
    if not path_text.rstrip("/") or path_text.endswith("/."):
        return None
    path = ROOT / path_text
    if not path.exists():
        moved = sorted(
            other.relative_to(ROOT).as_posix() for other in (ROOT / "tests").rglob(path.name)
        )
        hint = (
            f" (moved to {', '.join(moved)}?)" if moved and path_text.startswith("tests/") else ""
        )
        return f"no file `{path_text}`{hint}"
    if name:
        if path.suffix != ".py":
            return f"`{path_text}` is not Python, so it defines no `{name}`"
        if name not in _every_function(path):
            return f"{path_text} defines no `{name}`"
    return None


def _every_function(path: Path) -> frozenset[str]:
    """Every function and method `path` defines, at any depth (tests in classes too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    )


@functools.cache
def _defined_tests() -> frozenset[str]:
    names: set[str] = set()
    for path in (ROOT / "tests").rglob("*.py"):
        names.update(name for name in _every_function(path) if name.startswith("test_"))
    return frozenset(names)


def _beside_path_problem(path_text: str, name: str) -> str | None:
    problem = _path_problem(path_text)
    if problem is not None:
        return problem
    path = ROOT / path_text
    if path.is_dir():
        path = path / "__init__.py"
    if path.suffix != ".py" or not path.is_file():
        return None  # a document or a folder without a package: nothing to look a name up in
    return _name_problem(path, name)


def _table_problems(text: str) -> list[str]:
    """In a table with a "main function" column: each name there is defined in one of the
    modules its row names (`regroup` beside `bot/store/customers.py`)."""
    problems: list[str] = []
    column = None
    for line in text.splitlines():
        if not line.startswith("|"):
            column = None
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if column is None:
            column = cells.index("main function") if "main function" in cells else -1
            continue
        if column < 0 or column >= len(cells) or set(cells[0]) <= set("-: "):
            continue
        paths = [
            path
            for path in re.findall(rf"`({_TOP}/[\w./-]+)`", line)
            if path.endswith((".py", "/"))
        ]
        # Names the cell places itself ("`x` in `path`") are checked by that convention.
        cell = _NAME_IN_PATH.sub("", cells[column])
        for name in _NAME_IN_LIST.findall(cell):
            found = [_beside_path_problem(path, name) for path in paths]
            if paths and all(found):
                problems.append(f"`{name}` (main function): {'; '.join(map(str, found))}")
    return problems


def missing_names(text: str, document_dir: Path = ROOT) -> list[str]:
    """What `text` names (by the convention above) that the repository lacks, one line each."""
    problems: list[str] = []
    for found in _BACKTICKED.finditer(text):
        span = found[1].strip()
        if _LOGGER.search(text, 0, found.start()):
            continue  # a logger's name (`bot.requests`), not a module
        if match := _BARE_TEST.match(span):
            if match[1] not in _defined_tests():
                problems.append(f"no test `{match[1]}` under tests/")
        elif (match := _DOTTED_NAME.match(span)) and (
            problem := _dotted_problem(match[1], match[2])
        ):
            problems.append(f"`{span}`: {problem}")
        for module in _PYTHON_M.findall(span):
            if module.split(".")[0] in _PACKAGES and _module_file(module) is None:
                problems.append(f"`python -m {module}`: no module `{module}`")
    for found in _PATH.finditer(text):
        named = found[0]
        backticked = text[found.start() - 1 : found.start()] == "`"
        if not backticked and not re.search(r"\.\w+$|::", named):
            continue  # prose ("bot/user tokens"): a path outside backticks has an extension
        if problem := _path_problem(named):
            problems.append(problem)
    for name, path_text in _NAME_IN_PATH.findall(text):
        if problem := _beside_path_problem(path_text, name):
            problems.append(f"`{name}` in `{path_text}`: {problem}")
    for name, path_text in _NAME_THEN_PATH.findall(text):
        if name.split(".")[0] in _PACKAGES:
            continue  # a dotted module: checked as one above
        if problem := _beside_path_problem(path_text, name):
            problems.append(f"`{name}` (`{path_text}`): {problem}")
    for path_text, name in _PATHS_NAME.findall(text):
        if problem := _beside_path_problem(path_text, name):
            problems.append(f"`{path_text}`'s `{name}`: {problem}")
    for path_text, listed in _NAMES_AFTER_PATH.findall(text):
        for name in _NAME_IN_LIST.findall(listed):
            if name.split(".")[0] in _PACKAGES:
                continue  # a dotted module: checked as one above
            if problem := _beside_path_problem(path_text, name):
                problems.append(f"`{path_text}` (`{name}`): {problem}")
    problems.extend(_table_problems(text))
    for target in _LINK.findall(text):
        target = target.split("#")[0]
        if not target or re.match(r"^[a-z]+:", target):
            continue
        if not (document_dir / target).exists():
            problems.append(f"link to `{target}`: no such file")
    return sorted(set(problems))


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_module_function_file_and_test_a_document_names_exists(document: Path) -> None:
    problems = missing_names(document.read_text(encoding="utf-8"), document.parent)
    assert not problems, f"{document.relative_to(ROOT)} names what does not exist:\n" + "\n".join(
        problems
    )


def test_the_checker_finds_every_kind_of_name_that_exists() -> None:
    text = (
        "`bot.store.queries`, `bot.licensing.standing`, `bot.config.Settings.oauth_enabled`, "
        "`bot.asgi:app`, `python -m bot shell`, `bot/store/customers.py`, `bot/cli/`, "
        f"{_THIS}::test_the_checker_finds_every_kind_of_name_that_exists, "
        "`test_the_checker_finds_every_kind_of_name_that_exists`, `standing` (`bot/licensing.py`), "
        "`regroup` in "
        "`bot/store/customers.py`, `bot/licensing.py`'s `standing()`, `bot/licensing.py` "
        "(`standing`, `summarise_licenses`), `bot.search.find_customers` (a re-export), "
        "[the rule](docs/customer-rule.md), [a site](https://example.com/bot/nowhere.py).\n\n"
        "| rule | module | main function |\n|---|---|---|\n"
        "| standing | `bot/licensing.py` | `standing`, `summarise_licenses` |\n"
    )
    assert missing_names(text) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("`bot.store.querys`", "`bot.store.querys`: no module `bot.store.querys`"),
        ("`bot.licensing.standings`", "bot/licensing.py defines no `standings`"),
        ("`bot.config.Settings.oauth_enable`", "bot/config.py's `Settings` has no `oauth_enable`"),
        ("`python -m bot.shel`", "`python -m bot.shel`: no module `bot.shel`"),
        ("see bot/store/querys.py", "no file `bot/store/querys.py`"),
        ("`bot/clii/`", "no file `bot/clii/`"),
        ("`test_a_test_nobody_wrote`", "no test `test_a_test_nobody_wrote` under tests/"),
        (
            f"{_THIS}::test_nobody_wrote",
            f"{_THIS} defines no `test_nobody_wrote`",
        ),
        ("`regroop` in `bot/store/customers.py`", "bot/store/customers.py defines no `regroop`"),
        ("`bot/licensing.py`'s `standng`", "bot/licensing.py defines no `standng`"),
        ("`standng` (`bot/licensing.py`)", "bot/licensing.py defines no `standng`"),
        ("`bot/licensing.py` (`standing`, `sumarise`)", "bot/licensing.py defines no `sumarise`"),
        ("[the rule](docs/customer-rules.md)", "link to `docs/customer-rules.md`: no such file"),
        ("tests/test_docs_moved.py", "no file `tests/test_docs_moved.py`"),
        (
            "| rule | module | main function |\n|---|---|---|\n"
            "| standing | `bot/licensing.py` | `standing`, `summarise_licence` |\n",
            "bot/licensing.py defines no `summarise_licence`",
        ),
    ],
)
def test_the_checker_reports_a_misspelt_name(text: str, problem: str) -> None:
    problems = missing_names(text)
    assert any(problem in line for line in problems), problems


def test_the_checker_says_where_a_moved_test_file_went() -> None:
    assert missing_names("tests/elsewhere/test_docs.py") == [
        f"no file `tests/elsewhere/test_docs.py` (moved to {_THIS}?)"
    ]
