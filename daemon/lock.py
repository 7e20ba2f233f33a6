"""One daemon per state dir: an flock held for the daemon's whole life."""

from __future__ import annotations

import fcntl
import os


class LockError(Exception):
    pass


def acquire(state_dir: str) -> int:
    """Lock `<state_dir>/mictld.lock` or raise LockError naming the holder."""
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    path = os.path.join(state_dir, "mictld.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise LockError(
            f"another mictld (pid {holder}) is already running on {state_dir} ({path} is locked)"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd
