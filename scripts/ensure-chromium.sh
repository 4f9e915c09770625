#!/usr/bin/env bash
# The browser tests drive Debian's chromium (browsers cannot be downloaded by Playwright here).
set -u
CHROMIUM=${FINOPS_CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] && exit 0
echo "chromium not found at $CHROMIUM; installing Debian's chromium package"
if [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/tmp/finops-apt.log 2>&1
elif command -v sudo >/dev/null; then
  (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/tmp/finops-apt.log 2>&1
fi
if [ ! -x "$CHROMIUM" ]; then
  echo "ERROR: could not install chromium (see /tmp/finops-apt.log). Install it with 'apt-get install chromium'," >&2
  echo "       or set FINOPS_CHROMIUM to a Chromium binary. The browser tests are part of 'make test'." >&2
  exit 1
fi
echo "chromium installed: $($CHROMIUM --version 2>/dev/null)"
