#!/usr/bin/env bash
# Make sure a Chromium that Playwright can drive is on this machine.
# Order: a system headless shell or Chromium already there; else Debian's
# packages when root (Playwright's own browser download is blocked on some
# networks); else Playwright's installer.
set -euo pipefail
PYTHON=${PYTHON:-python3}
for candidate in /usr/lib/chromium/chromium-headless-shell /usr/lib/chromium/chromium \
                 /usr/bin/chromium /usr/bin/google-chrome; do
  if [ -x "$candidate" ]; then
    echo "chromium: $candidate"
    exit 0
  fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "chromium: installing Debian's chromium and chromium-headless-shell"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-headless-shell >/dev/null
  exit 0
fi
echo "chromium: none found; installing Playwright's own"
"$PYTHON" -m playwright install chromium
