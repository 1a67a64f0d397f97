"""Fetching fresh data from the systems of record for `python -m bot sync` (issue 21).

- `bot.sync.https_source`: one export fetched over HTTPS into a temporary file (conditional
  GET, gzip, a size cap, bounded retries), with errors that never carry credentials.
"""
