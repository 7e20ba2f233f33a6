"""Small file helpers shared by the daemon and the instance runner."""

from __future__ import annotations

import contextlib
import os
import tempfile


def atomic_write(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write `data` so that readers see the old file or the new one, never half.

    Temp file in the same directory, fsync, rename, fsync the directory.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
