"""`[daemon] programs_to_stdout`: every program's output lines on mictld's
stdout as `NAME | line`, as well as in its log files.

The container's usual way: `podman logs`, `kubectl logs` and `docker
compose logs` read one stream, each line prefixed with the program that
wrote it. What is relayed is exactly what the program's own log file holds
(an instance's: one line per request, never the prompt or the answer,
instance_runner/request_log.py); mictld's own log stays on stderr.

The event loop only cuts chunks into lines and queues them; a thread writes
them to file descriptor 1, so a slow or stalled pipe (a log collector that
reads late) never blocks the loop. What the bounded queue cannot hold is
dropped and counted, and a line of its own says how many once the writer
catches up (`mictld | 120 output lines dropped: stdout could not keep up`).
Lines are cut at outlog.MAX_LINE and control characters are shown escaped
(outlog.printable), so no program can forge another's lines or send terminal
escapes.
"""

from __future__ import annotations

import os
import queue
import threading

from daemon.supervise.outlog import MAX_LINE, printable

QUEUE_LINES = 10_000  # lines waiting for the writer; beyond them lines are dropped
BATCH = 512  # lines taken from the queue at once
PIPE_BUF = 4096  # POSIX: a pipe write of at most this many bytes is never interleaved

_queue: queue.Queue[bytes] = queue.Queue(QUEUE_LINES)
_lock = threading.Lock()
_dropped = 0
_thread: threading.Thread | None = None
_enabled = False
FD = 1  # mictld's stdout (tests may point it elsewhere)


def configure(enabled: bool) -> None:
    """At start and on every reload (it applies live to running programs
    whose output mictld reads: a log file or syslog)."""
    global _enabled
    _enabled = enabled


def enabled() -> bool:
    return _enabled


def _write_all(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(FD, view) :]


def _chunks(lines: list[bytes]) -> list[bytes]:
    """Whole lines joined into writes of at most PIPE_BUF bytes (a longer
    line alone): a pipe keeps each such write whole, so mictld's own log
    lines, when stderr is the same pipe, never land inside one of these."""
    chunks: list[bytes] = []
    size = PIPE_BUF + 1
    for line in lines:
        if size + len(line) > PIPE_BUF:
            chunks.append(line)
            size = len(line)
        else:
            chunks[-1] += line
            size += len(line)
    return chunks


def _writer() -> None:
    global _dropped
    while True:
        lines = [_queue.get()]
        while len(lines) < BATCH:
            try:
                lines.append(_queue.get_nowait())
            except queue.Empty:
                break
        with _lock:
            dropped, _dropped = _dropped, 0
        if dropped:
            lines.append(
                f"mictld | {dropped} output lines dropped: stdout could not keep up\n".encode()
            )
        try:
            for chunk in _chunks(lines):
                _write_all(chunk)
        except OSError:  # stdout closed (EPIPE) or gone: nothing to do but go on counting
            with _lock:
                _dropped += len(lines)


def _put(line: bytes) -> None:
    global _dropped, _thread
    if _thread is None:
        _thread = threading.Thread(target=_writer, name="mictld-stdout-relay", daemon=True)
        _thread.start()
    try:
        _queue.put_nowait(line)
    except queue.Full:
        with _lock:
            _dropped += 1


class Lines:
    """Cuts one program stream's chunks into `NAME | line` (called on the loop)."""

    def __init__(self, name: str) -> None:
        self.prefix = f"{printable(name.encode())} | "
        self._partial = b""
        self._skipping = False  # the rest of a line already cut at MAX_LINE

    def _line(self, line: bytes) -> None:
        _put((self.prefix + printable(line.rstrip(b"\r")) + "\n").encode())

    def feed(self, data: bytes) -> None:
        if not _enabled:
            self._partial, self._skipping = b"", False
            return
        *lines, rest = (self._partial + data).split(b"\n")
        for line in lines:
            if not self._skipping:
                self._line(line)
            self._skipping = False
        if len(rest) > 4 * MAX_LINE:  # no newline in sight: relay what we have
            if not self._skipping:
                self._line(rest)
            self._skipping, rest = True, b""
        self._partial = rest

    def close(self) -> None:
        """EOF: a last line without its newline is a line too."""
        if self._partial and not self._skipping and _enabled:
            self._line(self._partial)
        self._partial = b""
