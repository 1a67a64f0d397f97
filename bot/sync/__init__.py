"""Fetching fresh data from the systems of record for `python -m bot sync` (issue 21)."""
