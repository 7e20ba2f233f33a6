"""Rotating log files fed from a program's pipes.

mictld owns the reading end of each program's stdout/stderr pipe and is the only
writer of its log file, so rotating is a rename between two writes: no line is
lost and none is duplicated (a copy-truncate by logrotate would lose some).
Semantics of supervisord's `stdout_logfile_maxbytes` (0 = never rotate) and
`stdout_logfile_backups` (0 = truncate instead of keeping copies).
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from collections.abc import Callable

from common.files import NotRegular, private_dir


class RotatingFile:
    def __init__(self, path: str, maxbytes: int, backups: int) -> None:
        self.path = path
        self.maxbytes = maxbytes
        self.backups = backups
        private_dir(os.path.dirname(path) or ".")
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size

    def _open(self) -> int:
        # O_NONBLOCK: a FIFO configured as a log file must not hang the loop
        # (opening one for writing waits for a reader); only a regular file will do.
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NONBLOCK
        fd = os.open(self.path, flags, 0o600)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise NotRegular(errno.EINVAL, f"{self.path} is not a regular file")
        os.set_blocking(fd, True)
        if st.st_mode & 0o077 and st.st_uid == os.geteuid():
            os.fchmod(fd, 0o600)  # program output holds prompts and answers
        return fd

    def write(self, data: bytes) -> None:
        while data:
            # maxbytes <= 0: never rotate, like supervisord (-1 must not spin here).
            room = self.maxbytes - self._size if self.maxbytes > 0 else len(data)
            if room <= 0:
                self.rotate()
                continue
            chunk, data = data[:room], data[room:]
            os.write(self._fd, chunk)
            self._size += len(chunk)

    def rotate(self) -> None:
        os.close(self._fd)
        if self.backups > 0:
            for n in range(self.backups - 1, 0, -1):
                src = f"{self.path}.{n}"
                if os.path.exists(src):
                    os.replace(src, f"{self.path}.{n + 1}")
            os.replace(self.path, f"{self.path}.1")
            self._fd = self._open()
        else:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        self._size = 0

    def reopen(self) -> None:
        """SIGUSR2: the path may have been renamed away (logrotate); write to
        whatever file is at the path now, creating it if none."""
        fd = self._open()
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = fd
        self._size = os.fstat(fd).st_size

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def pump(
    fd: int, sink: RotatingFile | None, on_data: Callable[[bytes], None] | None = None
) -> asyncio.Future[None]:
    """Copy everything readable on `fd` into `sink` until EOF, without a thread.

    Returns a future that completes at EOF (the program and all its children
    closed the pipe). `on_data` sees each chunk too (for `mictl logs -f`).
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    os.set_blocking(fd, False)

    def readable() -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            os.close(fd)
            if not done.done():
                done.set_result(None)
            return
        if sink is not None:
            sink.write(data)
        if on_data is not None:
            on_data(data)

    loop.add_reader(fd, readable)
    return done
