"""Small file helpers shared by the daemon and the instance runner."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
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


class NotRegular(OSError):
    """A path that is not a regular file (a FIFO, a device, a directory), or too big."""


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """Read a whole regular file of at most `limit` bytes, never blocking.

    O_NONBLOCK makes the open of a FIFO return at once (a plain open waits for
    a writer forever); fstat then refuses anything but a regular file, and a
    file over `limit` is refused by its size before a byte is read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(errno.EINVAL, f"not a regular file ({_kind(st.st_mode)})")
        if st.st_size > limit:
            raise NotRegular(errno.EFBIG, f"{st.st_size} bytes, over the {limit}-byte limit")
        chunks, size = [], 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # grew while we read
                raise NotRegular(errno.EFBIG, f"over the {limit}-byte limit")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def private_dir(path: str | os.PathLike[str]) -> None:
    """Make `path` (and its parents) exist, and `path` itself 0700 even if an
    older version made it 0755: what is in it may hold cookies or chats."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.stat(path)
    if st.st_mode & 0o077 and st.st_uid == os.geteuid():
        os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
