"""mictld's own log: where it goes and in which shape.

- `human` (the default): `2026-12-01 13:45:01,123 INFO mictld: ...` on a
  terminal or into a file. Under journald (stderr is the stream named by
  $JOURNAL_STREAM) the timestamp is left out, since journald stamps each
  line itself, and each line starts with its syslog priority (`<6>`), which
  journald turns into the entry's priority.
- `json`: one object a line (`ts`, `level`, `logger`, `msg`, `exc` when
  there is one), on stderr and in mictld.log, for log shippers.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
import time
from typing import Literal, TextIO

import msgspec

from common.files import private_dir
from daemon.supervise.logfile import RETRY_FIRST, RETRY_MAX

LogFormat = Literal["human", "json"]
HUMAN = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL = "%(levelname)s %(name)s: %(message)s"
# syslog priorities (sd-daemon(3)'s SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG).
PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return msgspec.json.encode(entry).decode()


class JournalFormatter(logging.Formatter):
    """No timestamp (journald adds one); the priority as a `<N>` prefix."""

    def __init__(self) -> None:
        super().__init__(JOURNAL)

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{PRIORITY.get(record.levelno, 7)}>"
        # Every line of a traceback is its own journal entry: prefix each.
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def under_journald(stream: TextIO) -> bool:
    """Whether `stream` is the journal stream systemd connected us to."""
    value = os.environ.get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError):
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


def formatter_for(fmt: LogFormat, stream: TextIO) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter()
    if under_journald(stream):
        return JournalFormatter()
    return logging.Formatter(HUMAN)


class LogFile(logging.handlers.RotatingFileHandler):
    """mictld.log, which a full disk cannot turn into a flood on stderr.

    logging's own handler prints a traceback to stderr for every record it
    cannot write (4,013 of them in 20 s on a full disk, each one a journal
    entry under systemd). This one says it once, as a warning that reaches
    stderr, counts what it drops, tries again after a delay that doubles up
    to RETRY_MAX, and says when it writes again. `mictl status` shows the
    problem meanwhile (`problem`).
    """

    def __init__(self, path: str) -> None:
        super().__init__(path, maxBytes=10 * 2**20, backupCount=5)
        self.problem: str | None = None
        self.dropped = 0
        self._retry_at = 0.0
        self._delay = RETRY_FIRST
        self._error: OSError | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.problem is not None and time.monotonic() < self._retry_at:
            self.dropped += 1
            return
        self._error = None
        super().emit(record)  # an error comes back through handleError
        if self._error is not None:
            self._failed(self._error)
        elif self.problem is not None:
            dropped, self.problem, self.dropped = self.dropped, None, 0
            self._delay = RETRY_FIRST
            logging.getLogger("mictld").warning(
                "%s written again (%d records were dropped)", self.baseFilename, dropped
            )

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            self._error = error
        else:
            super().handleError(record)

    def _failed(self, error: OSError) -> None:
        self.dropped += 1
        first = self.problem is None
        self.problem = f"cannot write {self.baseFilename}: {error.strerror or error}"
        self._retry_at = time.monotonic() + self._delay
        self._delay = min(self._delay * 2, RETRY_MAX)
        if self.stream is not None:  # a buffer that failed to flush is not kept
            with contextlib.suppress(Exception):
                self.stream.close()
            self.stream = None  # type: ignore[assignment]  # reopened on the next try
        if first:  # reaches stderr; this handler drops it (problem is set)
            logging.getLogger("mictld").warning(
                "%s; mictld's log lines are dropped until it can (retrying)", self.problem
            )


def problem() -> str | None:
    """Why mictld.log cannot be written now, or None."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, LogFile) and handler.problem is not None:
            return f"{handler.problem} ({handler.dropped} log records dropped; retrying)"
    return None


def configure(level: str, log_dir: str, fmt: LogFormat = "human") -> None:
    """stderr (journald-aware) and a rotated <log_dir>/mictld.log."""
    root = logging.getLogger()
    root.setLevel(getattr(logging, level.upper()))
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(formatter_for(fmt, sys.stderr))
    root.addHandler(stderr)
    private_dir(log_dir)  # logs name accounts and failing pages: 0700
    path = os.path.join(log_dir, "mictld.log")
    logfile = LogFile(path)
    os.chmod(path, 0o600)  # also when an older mictld made it 0644
    logfile.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(HUMAN))
    root.addHandler(logfile)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)


def reopen() -> None:
    """SIGUSR2: mictld.log moved away (logrotate) is created again at its path."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            with handler.lock or contextlib.nullcontext():
                if handler.stream is not None:
                    with contextlib.suppress(OSError):
                        handler.stream.close()
                    handler.stream = None  # type: ignore[assignment]  # reopened on the next record
                if isinstance(handler, LogFile):
                    handler._retry_at = 0.0
