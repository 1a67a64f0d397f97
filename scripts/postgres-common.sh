# Shared by scripts/start-postgres.sh and scripts/stop-postgres.sh (sourced, not run).

# The newest installed PostgreSQL's bin directory (Debian's layout), or nothing.
find_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$dir" ] && [ -x "$dir/pg_ctl" ] && echo "$dir"
}

# PostgreSQL refuses to run as root: as root, run the cluster's commands as `postgres`.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/bash -c "$*"
  else
    bash -c "$*"
  fi
}
