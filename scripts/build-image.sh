#!/usr/bin/env bash
# Build mictl's container image from this checkout: the wheel, the base
# image (scripts/base-image.sh: pulled, or made with debootstrap when no
# registry answers), then the Containerfile. Usage: build-image.sh [TAG]
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-localhost/mictl:dev}
python=${PYTHON:-.venv/bin/python}
rm -rf dist
# mictl and every dependency as wheels: the image installs them with no
# network (the host's Python is Debian bookworm's 3.11, as the image's).
"$python" -m pip wheel --quiet -w dist . 2>/dev/null
bash scripts/base-image.sh
# The build reaches Debian's mirror through the host's network.
bash scripts/podman.sh build --format docker --network host -q -t "$tag" -f Containerfile . >/dev/null
echo "image: $tag"
