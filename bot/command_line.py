"""How the operator types this bot's CLI on this machine, for the hints every layer prints
(`Try it: .venv/bin/python -m bot shell`, the store's "run db upgrade")."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path


def cli_command() -> str:
    """This CLI as the operator can type it here, for the hints it prints: `python -m bot`
    outside an activated virtualenv would name another Python, without the dependencies."""
    return command_for(Path(sys.executable), Path.cwd(), shutil.which("python"))


def command_for(executable: Path, cwd: Path, python_on_path: str | None) -> str:
    """`python -m bot` when `python` on PATH is `executable` (an activated virtualenv), else
    `executable` itself: relative to `cwd` when under it (`.venv/bin/python -m bot`)."""
    if python_on_path is not None and _same_directory(
        Path(python_on_path).parent, executable.parent
    ):
        return "python -m bot"
    try:
        shown = executable.relative_to(cwd)
    except ValueError:
        shown = executable
    return f"{shlex.quote(str(shown))} -m bot"


def _same_directory(first: Path, second: Path) -> bool:
    # Not resolve(): a virtualenv's python is a symlink to the base interpreter it was made from.
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False
