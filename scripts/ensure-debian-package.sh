#!/usr/bin/env bash
# Install a Debian package a test needs if its program is missing:
#   ensure-debian-package.sh PACKAGE PROGRAM FOR
# e.g. `chromium chromium "the GraphiQL browser test"` (about 20 s) or
# `pgbouncer /usr/sbin/pgbouncer "the connection-pooling test"` (a few seconds).
# Without apt (another system), the test is skipped and says why.
set -euo pipefail
package=$1 program=$2 purpose=$3
command -v "$program" >/dev/null && exit 0
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "installing $package for $purpose" >&2
  apt-get install -y -q "$package" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "$package" >/dev/null 2>&1; } \
    || echo "could not install $package: $purpose will be skipped" >&2
fi
exit 0
