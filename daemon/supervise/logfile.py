"""Rotating log files fed from a program's pipes.

mictld owns the reading end of each program's stdout/stderr pipe and is the only
writer of its log file, so rotating is a rename between two writes: no line is
lost and none is duplicated (a copy-truncate by logrotate would lose some).
Semantics of supervisord's `stdout_logfile_maxbytes` (0 = never rotate) and
`stdout_logfile_backups` (0 = truncate instead of keeping copies); as
supervisord's handler, a file rotates after the write that reaches maxbytes,
so a line read in one piece is never split across two files.

A write that fails (a full disk, a quota, an I/O error) is said once, in one
warning, and shown by `mictl status` (`problem`); the output is dropped and
counted meanwhile (`mictl logs -f` still sees it), and writing is tried again
after a delay that doubles up to RETRY_MAX: never a traceback a chunk.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import stat
import time
from collections.abc import Callable

from common.files import NotRegular, private_dir

log = logging.getLogger("mictld")

RETRY_FIRST = 1.0  # seconds before writing is tried again after a failure
RETRY_MAX = 30.0


class RotatingFile:
    def __init__(self, path: str, maxbytes: int, backups: int, *, label: str = "") -> None:
        self.path = path
        self.maxbytes = maxbytes
        self.backups = backups
        self.label = label or path  # "NAME stdout" in what mictld says
        self.problem: str | None = None  # why writes fail now (None: they do not)
        self.dropped = 0  # bytes not written since the problem began
        self._retry_at = 0.0
        self._delay = RETRY_FIRST
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
        """Append; rotate once maxbytes is reached. Never raises OSError."""
        if self.problem is not None and time.monotonic() < self._retry_at:
            self.dropped += len(data)
            return
        view = memoryview(data)
        try:
            if self._fd < 0:  # a failed rotation or reopen left no file open
                self._fd = self._open()
                self._size = os.fstat(self._fd).st_size
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
                self._size += n
            # maxbytes <= 0: never rotate, like supervisord (-1 must not spin here).
            if self.maxbytes > 0 and self._size >= self.maxbytes:
                self.rotate()
        except OSError as exc:
            self._failed(exc, len(view))
            return
        if self.problem is not None:
            log.warning(
                "%s log %s written again (%d bytes of output were dropped)",
                self.label,
                self.path,
                self.dropped,
            )
            self.problem, self.dropped, self._delay = None, 0, RETRY_FIRST

    def _failed(self, exc: OSError, unwritten: int) -> None:
        self.dropped += unwritten
        why = exc.strerror or str(exc)
        if self.problem is None:
            log.warning(
                "%s log %s: cannot write: %s; its output is dropped until it can (retrying)",
                self.label,
                self.path,
                why,
            )
        self.problem = f"cannot write {self.path}: {why}"
        self._retry_at = time.monotonic() + self._delay
        self._delay = min(self._delay * 2, RETRY_MAX)

    def rotate(self) -> None:
        fd, self._fd = self._fd, -1  # a failure below leaves no closed fd in use
        os.close(fd)
        self._size = 0
        if self.backups > 0:
            for n in range(self.backups - 1, 0, -1):
                src = f"{self.path}.{n}"
                if os.path.exists(src):
                    os.replace(src, f"{self.path}.{n + 1}")
            os.replace(self.path, f"{self.path}.1")
            self._fd = self._open()
        else:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)

    def reopen(self) -> None:
        """SIGUSR2: the path may have been renamed away (logrotate); write to
        whatever file is at the path now, creating it if none. A write that
        failed is tried again at once."""
        fd = self._open()
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = fd
        self._size = os.fstat(fd).st_size
        self._retry_at = 0.0

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
        if on_data is not None:  # first: `mictl logs -f` sees what a full disk cannot take
            on_data(data)
        if sink is not None:
            sink.write(data)

    loop.add_reader(fd, readable)
    return done
