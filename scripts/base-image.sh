#!/usr/bin/env bash
# Make `debian:bookworm-slim` for the Containerfile's FROM: pulled from a
# registry when one answers, else built locally with debootstrap (minbase)
# and `podman import`, which needs only Debian's package mirror.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
image=${1:-docker.io/library/debian:bookworm-slim}
podman=("$here/podman.sh")

if "${podman[@]}" image exists "$image"; then
    echo "base image: $image (present)"
    exit 0
fi
if timeout 60 "${podman[@]}" pull -q "$image" >/dev/null 2>&1; then
    echo "base image: $image (pulled)"
    exit 0
fi
if ! command -v debootstrap >/dev/null; then
    echo "base image: no registry answers and debootstrap is missing (apt-get install debootstrap)" >&2
    exit 1
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
echo "base image: no registry; building $image with debootstrap"
debootstrap --variant=minbase bookworm "$root" "${MICTL_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/dev/null
# What -slim leaves out: documentation, man pages, apt's caches.
rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/var/cache/apt/*.bin \
    "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | "${podman[@]}" import - "$image" >/dev/null
echo "base image: $image (debootstrap)"
