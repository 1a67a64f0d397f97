#!/usr/bin/env bash
# The test command: lint, then the suite on SQLite and on a throwaway PostgreSQL server.
# Where PostgreSQL cannot be started (no root to install it), the PostgreSQL half is skipped,
# except in CI (CI=true), where conftest.py makes it fail instead. A PostgreSQL server this
# script started is stopped when it ends; TEST_POSTGRES_URL from the environment is used as is.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"

if [ -z "${TEST_POSTGRES_URL:-}" ]; then
  if pg_env=$(bash scripts/start-postgres.sh); then
    eval "$pg_env"
    # A server this run started is stopped when the run ends, however it ends; one that was
    # already running (the developer's own) is left as it was.
    if [ -n "${TEST_POSTGRES_STARTED_DATA_DIR:-}" ]; then
      trap 'bash scripts/stop-postgres.sh "$TEST_POSTGRES_STARTED_DATA_DIR"' EXIT
      trap 'exit 130' INT
      trap 'exit 143' TERM
    fi
  else
    echo "warning: PostgreSQL could not be started; running the SQLite half only" >&2
  fi
fi

"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
# Not exec: the EXIT trap above must still run when pytest ends.
"$VENV/bin/python" -m pytest -n 2 "$@"
