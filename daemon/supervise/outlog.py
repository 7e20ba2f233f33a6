"""`stdout_syslog` / `stderr_syslog`: a program's output lines in mictld's own log.

supervisord 4 sends such a program's output to syslog as `NAME line`
(supervisor/dispatchers.py, POutputDispatcher._init_normallog); mictld's own log is
already where syslog would put it (the journal under systemd, and
mictld.log), so each line goes there, at INFO, as `NAME stdout: line`.

The event loop only splits chunks into lines and hands them over: a thread
formats and writes them, so a slow journal or disk never stalls the loop.
What the thread cannot keep up with is dropped (bounded queue) and counted
in a line of its own. A line longer than MAX_LINE is cut, and control
characters are shown escaped, so one program cannot forge or flood entries
of mictld's log. Never used for instances: their output may hold prompts.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

log = logging.getLogger("mictld.output")

MAX_LINE = 2048  # characters of one line kept; the rest is cut with a mark
QUEUE_LINES = 10_000
# The journal itself keeps at most 10000 entries in 30 s per service
# (journald's RateLimitBurst): beyond RATE lines a second (after a burst),
# lines are counted, not logged, so a chatty program costs mictld little CPU.
RATE = 1000.0
BURST = 2000.0

_queue: queue.Queue[tuple[str, str, bytes]] = queue.Queue(QUEUE_LINES)
_lock = threading.Lock()
_dropped = 0
_tokens = BURST
_refilled = 0.0
_thread: threading.Thread | None = None


def _writer() -> None:
    reported = time.monotonic()
    while True:
        try:
            name, stream, line = _queue.get(timeout=1.0)
        except queue.Empty:
            name = ""
        now = time.monotonic()
        if now - reported >= 1.0 or not name:
            reported = now
            _report_dropped()
        if name:
            log.info("%s %s: %s", name, stream, printable(line))


def _report_dropped() -> None:
    global _dropped
    with _lock:
        dropped, _dropped = _dropped, 0
    if dropped:
        log.warning(
            "output lines dropped (over %d a second, or mictld's log could not keep up): %d",
            RATE,
            dropped,
        )


def printable(line: bytes) -> str:
    text = line.decode(errors="replace")
    if len(text) > MAX_LINE:
        text = text[:MAX_LINE] + f" [... {len(text) - MAX_LINE} more characters cut]"
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\t" else repr(c)[1:-1] for c in text)


def _put(name: str, stream: str, line: bytes) -> None:
    global _dropped, _thread, _tokens, _refilled
    if _thread is None:
        _thread = threading.Thread(target=_writer, name="mictld-output-log", daemon=True)
        _thread.start()
    now = time.monotonic()
    _tokens = min(BURST, _tokens + (now - _refilled) * RATE)
    _refilled = now
    if _tokens >= 1.0:
        try:
            _queue.put_nowait((name, stream, line))
            _tokens -= 1.0
            return
        except queue.Full:
            pass
    with _lock:
        _dropped += 1


class Lines:
    """Cuts one stream's chunks into lines for mictld's log (called on the loop)."""

    def __init__(self, name: str, stream: str) -> None:
        self.name = name
        self.stream = stream
        self._partial = b""
        self._skipping = False  # the rest of a line already cut at MAX_LINE

    def feed(self, data: bytes) -> None:
        *lines, rest = (self._partial + data).split(b"\n")
        for line in lines:
            if not self._skipping:
                _put(self.name, self.stream, line.rstrip(b"\r"))
            self._skipping = False
        if len(rest) > 4 * MAX_LINE:  # no newline in sight: log what we have
            if not self._skipping:
                _put(self.name, self.stream, rest)
            self._skipping, rest = True, b""
        self._partial = rest

    def close(self) -> None:
        """EOF: a last line without its newline is a line too."""
        if self._partial and not self._skipping:
            _put(self.name, self.stream, self._partial)
        self._partial = b""
