"""Find and end processes left behind by a daemon that was SIGKILLed.

Every program mictld spawns carries MICTL_STATE_DIR in its environment, and so
do its children (Chromium included). On start, before spawning anything, the
daemon kills every process group that still carries its state dir: a program
is then never running twice, nor holding the port its successor needs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time

log = logging.getLogger("mictld")

TAG = "MICTL_STATE_DIR"
SPAWN_TAG = "MICTL_SPAWN"  # one value per spawn: finds a program's whole tree


def find(state_dir: str, key: str = TAG) -> dict[int, int]:
    """pid -> pgid of live processes whose environment has key=state_dir (not us)."""
    needle = f"{key}={state_dir}".encode()
    found: dict[int, int] = {}
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:  # out of descriptors: nothing found, never a failed reap
        return found
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            if needle in env and not _is_zombie(pid):
                found[pid] = os.getpgid(pid)
        except (OSError, ProcessLookupError):
            continue
    return found


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return True


def kill_spawn(token: str) -> int:
    """SIGKILL every process of one spawn, wherever its process group is.

    Playwright starts Chromium in a process group of its own, so killing the
    runner's group is not enough; the environment tag follows every child.
    """
    found = find(token, SPAWN_TAG)
    for pid in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(found)


def cleanup(state_dir: str, timeout: float = 10.0) -> int:
    """SIGKILL leftover process groups and wait until they are gone."""
    found = find(state_dir)
    if not found:
        return 0
    log.warning("found %d process(es) left by a previous mictld; killing them", len(found))
    for pid, pgid in found.items():
        for target, kill in ((pgid, os.killpg), (pid, os.kill)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(target, signal.SIGKILL)
    # These are not our children (init reaps them): waiting means watching
    # /proc. This runs once, at start-up, before the event loop.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(os.path.exists(f"/proc/{p}") and not _is_zombie(p) for p in found):
            break
        time.sleep(0.02)
    return len(found)


def tree_pss_mb(token: str) -> float:
    """Memory of one spawn's whole tree: the sum of its processes' PSS."""
    return sum(_pss_kb(pid) for pid in find(token, SPAWN_TAG)) / 1024


def pss_mb_by_spawn(tokens: set[str]) -> dict[str, float]:
    """The same for many spawns in one pass over /proc (tree_pss_mb for each
    would read every process's environment once per program: with 40
    instances, most of the daemon's idle CPU)."""
    prefix = f"{SPAWN_TAG}=".encode()
    totals_kb = dict.fromkeys(tokens, 0)
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        for var in env:
            if var.startswith(prefix):
                token = var[len(prefix) :].decode(errors="replace")
                if token in totals_kb:
                    totals_kb[token] += _pss_kb(entry)
                break
    return {token: kb / 1024 for token, kb in totals_kb.items()}


def _pss_kb(pid: int | str) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
