#!/usr/bin/env bash
# The test command: lint and type check, then the suite on SQLite and on a throwaway PostgreSQL
# server. Where PostgreSQL cannot be started (no root to install it), the PostgreSQL half is
# skipped, except in CI (CI=true), where conftest.py makes it fail instead. A PostgreSQL server this
# script started is stopped when it ends; TEST_POSTGRES_URL from the environment is used as is.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"

# Only a server this run starts is this run's to stop. An outer run's variable is not trusted
# (the suite runs this script itself, inside `make test`: inheriting it once stopped the suite's
# own server halfway through CI), and ours is not passed on to pytest.
unset TEST_POSTGRES_STARTED_DATA_DIR
started_data_dir=

if [ -z "${TEST_POSTGRES_URL:-}" ]; then
  if pg_env=$(bash scripts/start-postgres.sh); then
    eval "$pg_env"
    started_data_dir="${TEST_POSTGRES_STARTED_DATA_DIR:-}"
    unset TEST_POSTGRES_STARTED_DATA_DIR
    # A server this run started is stopped when the run ends, however it ends; one that was
    # already running (the developer's own) is left as it was.
    if [ -n "$started_data_dir" ]; then
      trap 'bash scripts/stop-postgres.sh "$started_data_dir"' EXIT
      trap 'exit 130' INT
      trap 'exit 143' TERM
    fi
  else
    echo "warning: PostgreSQL could not be started; running the SQLite half only" >&2
  fi
fi

# nginx for the test of deploy/nginx.conf (installed as root only, the service left stopped).
bash scripts/install-nginx.sh || echo "warning: nginx could not be installed" >&2

"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
# Strict on bot/ and handlers/: what it checks and how is [tool.mypy] in pyproject.toml.
"$VENV/bin/mypy"
# Not exec: the EXIT trap above must still run when pytest ends.
"$VENV/bin/python" -m pytest -n 2 "$@"
