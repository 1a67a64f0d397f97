#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on a loopback port for the test suite and print its URL.
# Installs Debian's PostgreSQL when it is missing. As root, initdb/pg_ctl run as `postgres`.
# Usage: eval "$(scripts/start-postgres.sh)"   -> exports TEST_POSTGRES_URL
# When it started the server (rather than finding it running), it also exports
# TEST_POSTGRES_STARTED_DATA_DIR, for `scripts/stop-postgres.sh "$TEST_POSTGRES_STARTED_DATA_DIR"`.
set -euo pipefail
source "$(dirname "$0")/postgres-common.sh"

PGPORT="${PGPORT:-54329}"
PGDATA_DIR="${PGDATA_DIR:-/tmp/customersdot-pg-$PGPORT}"

BIN=$(find_bin || true)
if [ -z "$BIN" ]; then
  echo "installing PostgreSQL from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql postgresql-contrib >&2
  BIN=$(find_bin)
fi

if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql postgres
fi

started_here=
if ! as_owner "'$BIN/pg_ctl' -D '$PGDATA_DIR' status" >/dev/null 2>&1; then
  started_here=1
  rm -rf "$PGDATA_DIR"
  mkdir -p "$PGDATA_DIR"
  [ "$(id -u)" = 0 ] && chown postgres: "$PGDATA_DIR"
  as_owner "'$BIN/initdb' -D '$PGDATA_DIR' -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8" >/dev/null
  as_owner "'$BIN/pg_ctl' -D '$PGDATA_DIR' -l '$PGDATA_DIR/server.log' -w -o \"-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off\" start" >/dev/null
fi

"$BIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'customersdot_test'" | grep -q 1 \
  || "$BIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres customersdot_test

echo "export TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$PGPORT/customersdot_test"
if [ -n "$started_here" ]; then
  echo "export TEST_POSTGRES_STARTED_DATA_DIR=$PGDATA_DIR"
fi
