#!/usr/bin/env bash
# Make sure xvfb-run (Debian's xvfb) is on this machine, for the headed-browser
# tests of `mictl profile capture`. Like ensure-chromium.sh: install Debian's
# package when root; otherwise say so and fail (the tests then skip).
set -euo pipefail
if command -v xvfb-run >/dev/null && command -v Xvfb >/dev/null; then
  echo "xvfb: $(command -v xvfb-run)"
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "xvfb: installing Debian's xvfb"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq xvfb xauth >/dev/null 2>&1 || {
    apt-get update -qq
    apt-get install -y -qq xvfb xauth >/dev/null
  }
  exit 0
fi
echo "xvfb: not installed and not root: install Debian's xvfb package" >&2
exit 1
