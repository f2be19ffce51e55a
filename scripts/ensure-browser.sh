#!/usr/bin/env bash
# Install Debian's Chromium for the GraphiQL browser test if it is missing (about 20 s).
# Without apt (another system), the test is skipped and says why.
set -euo pipefail
command -v chromium >/dev/null && exit 0
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "installing chromium for the GraphiQL browser test" >&2
  apt-get install -y -q chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } \
    || echo "could not install chromium: the browser test will be skipped" >&2
fi
exit 0
