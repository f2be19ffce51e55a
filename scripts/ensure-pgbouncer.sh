#!/usr/bin/env bash
# Install Debian's PgBouncer for the connection-pooling test if it is missing (a few seconds).
# Without apt (another system), the test is skipped and says why.
set -euo pipefail
[ -x /usr/sbin/pgbouncer ] && exit 0
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "installing pgbouncer for the connection-pooling test" >&2
  apt-get install -y -q pgbouncer >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q pgbouncer >/dev/null 2>&1; } \
    || echo "could not install pgbouncer: the pooling test will be skipped" >&2
fi
exit 0
