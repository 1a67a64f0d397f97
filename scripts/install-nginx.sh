#!/usr/bin/env bash
# Install Debian's nginx-light for the test that runs deploy/nginx.conf in front of gunicorn
# (tests/app/test_gunicorn.py), without starting the system's nginx service: as root only, and only
# when nginx is missing. Elsewhere that test is skipped (in CI it fails instead).
set -euo pipefail
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "nginx is missing and only root installs it; its test will be skipped" >&2
  exit 0
fi
echo "installing nginx-light from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
# Debian's policy-rc.d convention: the package's scripts may not start the service.
policy=/usr/sbin/policy-rc.d
had_policy=
[ -e "$policy" ] && had_policy=1
[ -n "$had_policy" ] || { printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; }
trap '[ -n "$had_policy" ] || rm -f "$policy"' EXIT
apt-get update -qq >&2
apt-get install -y -qq nginx-light >&2
