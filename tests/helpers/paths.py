"""Where things are: the repository's root (for subprocesses' PYTHONPATH and the files a test
reads) and the sample exports in tests/data."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
