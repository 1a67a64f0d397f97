"""Fetching fresh data from the systems of record for `python -m bot sync` (issue 21).

- `bot.sync.https_source`: one export fetched over HTTPS into a temporary file (conditional
  GET, gzip, a size cap, bounded retries), with errors that never carry credentials.
- `bot.sync.database_source`: a kind's rows read from a database (PostgreSQL, a SQLite file) in
  a read-only transaction with a statement timeout, streamed into a CSV the importer reads.
- `bot.sync.zuora_source`: subscriptions from Zuora's Data Query API (an OAuth token, a query
  job polled within a budget, its pre-signed result file fetched without the token).
- `bot.sync.run`: one sync: each configured kind's source (a URL, a file path, a database, Zuora)
  read, imported (whole, or a database's changed rows since its watermark), and recorded in the
  store's sync_state, under the sync lease.
"""
