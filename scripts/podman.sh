#!/usr/bin/env bash
# podman as it runs on machines like the development VM: crun refuses their
# hybrid cgroups (runc is used when installed), and setting rlimits is not
# permitted. Used by scripts/base-image.sh, scripts/build-image.sh and the
# container test; a user's own podman setup is never touched (CONTAINERS_CONF
# points at a file of ours). Elsewhere plain `podman` works as well.
set -euo pipefail
conf="${MICTL_PODMAN_CONF:-${TMPDIR:-/tmp}/mictl-containers.conf}"
if [ ! -f "$conf" ]; then
    printf '[containers]\ndefault_ulimits = []\n' >"$conf"
fi
export CONTAINERS_CONF="$conf"
runtime=()
if command -v runc >/dev/null; then
    runtime=(--runtime runc)
fi
exec podman "${runtime[@]}" --cgroup-manager cgroupfs "$@"
