#!/usr/bin/env bash
# The test command: lint, then the suite on SQLite and on a throwaway PostgreSQL server.
# Where PostgreSQL cannot be started (no root to install it), the PostgreSQL half is skipped,
# except in CI (CI=true), where conftest.py makes it fail instead.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"

if [ -z "${TEST_POSTGRES_URL:-}" ]; then
  if pg_env=$(bash scripts/start-postgres.sh); then
    eval "$pg_env"
  else
    echo "warning: PostgreSQL could not be started; running the SQLite half only" >&2
  fi
fi

"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
exec "$VENV/bin/python" -m pytest -n 2 "$@"
