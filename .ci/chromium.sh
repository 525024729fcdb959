#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium for the dashboard's browser test
# (test/browser/): playwright-core drives that binary and never downloads a browser of its own.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "Chromium is installed at /usr/bin/chromium"
  exit 0
fi
echo "installing Chromium from Debian's packages"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
[ -x /usr/bin/chromium ] || { echo "Chromium did not install to /usr/bin/chromium" >&2; exit 1; }
echo "Chromium is installed at /usr/bin/chromium"
