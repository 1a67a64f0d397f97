"""The layers import only downward (docs/ARCHITECTURE.md: Layers), checked on the source.

Every `import` and `from … import` in bot/ and handlers/ is read with `ast`, the ones inside
functions and `if TYPE_CHECKING:` too (a type-only import is still a dependency a reader
follows). A module may import its own layer and any layer below it; a few narrower rules
follow the table.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT

# Top to bottom. A module belongs to the first entry that is it or a package holding it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "entry points",
        (
            "bot.__main__",
            "bot.cli",
            "bot.asgi",
            "bot.asgi_adapter",
            "bot.gunicorn_worker",
            "bot.gunicorn_logging",
        ),
    ),
    ("wiring", ("bot.app",)),
    # Logging's configuration and the request log, which the entry points and the wiring set up.
    ("logging", ("bot.logs",)),
    ("listeners", ("handlers",)),
    ("services", ("bot.services",)),
    ("slack adapter", ("bot.slack",)),
    ("use cases", ("bot.answers",)),
    ("views", ("bot.views",)),
    ("search", ("bot.search",)),
    # Fetching from the systems of record for `python -m bot sync`: may read and write the store.
    ("sync", ("bot.sync",)),
    ("store", ("bot.store",)),
    (
        "domain",
        (
            "bot.access",
            "bot.actor",
            "bot.command_line",
            "bot.config",
            "bot.freshness",
            "bot.ids",
            "bot.licensing",
            "bot.links",
            "bot.money",
            "bot.names",
            "bot.organisations",
            "bot.outcomes",
            "bot.records",
            "bot.request_body",
            "bot.request_claim",
            "bot.request_outcome",
            "bot.salesforce_ids",
        ),
    ),
)

# Narrower than the layers: (importing layers, imported module or package, why).
FORBIDDEN: tuple[tuple[frozenset[str], str, str], ...] = (
    (
        frozenset({"views", "search", "store"}),
        "bot.request_outcome",
        "the request line's outcome is the Slack adapter's and the use cases' to note",
    ),
    (
        frozenset({"views", "search", "store"}),
        "bot.request_claim",
        "a request's replay claim is made by the Slack adapter or the audited transaction",
    ),
    (frozenset({"views", "use cases"}), "sqlalchemy.sql", "queries live in bot/store"),
)
# What views and use cases may take from SQLAlchemy: sessions to pass to the store's queries and
# the store's errors to answer. Building a statement (select, text, …) is the store's job.
SQLALCHEMY_ALLOWED_ABOVE_STORE = frozenset({"sqlalchemy.orm", "sqlalchemy.exc"})
# The migrations are frozen history: they import no application code at all
# (tests/store/test_migrations.py checks that), so they have no place in the layers.
MIGRATIONS = "bot.store.migrations"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> Iterator[tuple[str, Path]]:
    for package in ("bot", "handlers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = _module_name(path)
            if not name.startswith(MIGRATIONS):
                yield name, path


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every absolute import; `from a import b` yields a.b as well as a, as
    b may be a submodule."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layer_of(module: str) -> int | None:
    if module == "bot":  # the package's own __init__: a docstring
        return len(LAYERS) - 1
    for index, (_name, members) in enumerate(LAYERS):
        if any(_within(module, member) for member in members):
            return index
    return None


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def violations(sources: Iterator[tuple[str, Path]]) -> list[str]:
    found = []
    for module, path in sources:
        own = layer_of(module)
        if own is None:
            found.append(f"{module}: in no layer (add it to LAYERS)")
            continue
        own_name = LAYERS[own][0]
        for line, imported in _imports(path):
            where = f"{_shown(path)}:{line}"
            target = layer_of(imported)
            if imported.startswith(("bot.", "handlers")) and imported != "bot":
                if target is None and layer_of(imported.rpartition(".")[0]) is None:
                    found.append(f"{where}: {imported} is in no layer")
                elif target is not None and target < own:
                    found.append(
                        f"{where}: {own_name} ({module}) imports {imported}"
                        f" from the {LAYERS[target][0]} layer above it"
                    )
            for layers, forbidden, why in FORBIDDEN:
                if own_name in layers and _within(imported, forbidden):
                    found.append(f"{where}: {module} imports {imported}: {why}")
            if (
                own_name in ("views", "use cases")
                and _within(imported, "sqlalchemy")
                and imported != "sqlalchemy"
                and not any(_within(imported, a) for a in SQLALCHEMY_ALLOWED_ABOVE_STORE)
            ):
                found.append(f"{where}: {module} imports {imported}: queries live in bot/store")
    return sorted(set(found))


def test_every_layer_imports_only_downward() -> None:
    assert violations(_sources()) == []


def test_every_module_of_the_domain_layer_exists() -> None:
    # A renamed module must not leave a stale entry that would let its new name pass unlayered.
    for _name, members in LAYERS:
        for member in members:
            path = ROOT / Path(*member.split("."))
            assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), member


LEAKS = [
    pytest.param(
        "bot.views.home", "from bot.slack.identity import AccessDecision\n", id="views→slack"
    ),
    pytest.param(
        "bot.store.customers", "from bot.search import find_customers\n", id="store→search"
    ),
    pytest.param(
        "bot.store.audit",
        "from bot.request_outcome import note_request_outcome\n",
        id="store writes the request outcome",
    ),
    pytest.param("bot.store.failures", "from bot.cli import main\n", id="store→cli"),
    pytest.param("bot.answers.slash", "from sqlalchemy import select\n", id="use case runs SQL"),
    pytest.param("bot.answers.home", "from bot.slack.actor import actor_of\n", id="answers→slack"),
    pytest.param("handlers.commands", "from bot.app import create_app\n", id="listener→wiring"),
    pytest.param("bot.services", "import handlers.commands\n", id="services→listeners"),
    pytest.param(
        "bot.config", "from bot.slack.client import create_web_client\n", id="domain→slack"
    ),
    pytest.param("bot.logs", "def f():\n    from bot.cli import main\n", id="a function's import"),
]


@pytest.mark.parametrize(("module", "source"), LEAKS)
def test_the_check_catches_each_leak_the_layers_forbid(
    module: str, source: str, tmp_path: Path
) -> None:
    path = tmp_path / "leak.py"
    path.write_text(source)
    # Judged as if `module` held that import.
    assert violations(iter([(module, path)]))
