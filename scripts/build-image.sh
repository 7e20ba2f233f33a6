#!/usr/bin/env bash
# Build mictl's container image from this checkout: the wheel, the base
# image (scripts/base-image.sh: pulled, or made with debootstrap when no
# registry answers), then the Containerfile. Usage: build-image.sh [TAG]
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-localhost/mictl:dev}
python=${PYTHON:-.venv/bin/python}
if [ ! -x "$python" ] && ! command -v "$python" >/dev/null; then
    echo "build-image.sh: no $python: run \`make install\` first (or set PYTHON)" >&2
    exit 1
fi
# The image's Python is Debian bookworm's 3.11: compiled wheels must match it.
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$version" != "3.11" ]; then
    echo "build-image.sh: $python is Python $version; the image's is 3.11 and its" \
        "compiled wheels must match: PYTHON=python3.11 bash scripts/build-image.sh" >&2
    exit 1
fi
rm -rf dist
# mictl and every dependency as wheels: the image installs them with no
# network. pip's output is shown only when it fails.
if ! out=$("$python" -m pip wheel --quiet -w dist . 2>&1); then
    printf '%s\n' "$out" >&2
    echo "build-image.sh: making the wheels failed" >&2
    exit 1
fi
bash scripts/base-image.sh
# The build reaches Debian's mirror through the host's network.
bash scripts/podman.sh build --format docker --network host -q -t "$tag" -f Containerfile . >/dev/null
echo "image: $tag"
