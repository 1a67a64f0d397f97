#!/usr/bin/env bash
# Stop the throwaway PostgreSQL cluster scripts/start-postgres.sh started in DATA_DIR (the next
# start makes a fresh one there). Usage: scripts/stop-postgres.sh DATA_DIR
set -euo pipefail
source "$(dirname "$0")/postgres-common.sh"

data_dir="$1"
BIN=$(find_bin)
if as_owner "'$BIN/pg_ctl' -D '$data_dir' status" >/dev/null 2>&1; then
  as_owner "'$BIN/pg_ctl' -D '$data_dir' -m fast -w stop" >/dev/null
fi
