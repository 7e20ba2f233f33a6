"""Where the time of one request goes, for bench/instance_overhead.py.

Off unless mictl-instance runs with `--timeline`; then the request in flight
collects marks (a name, the instance's monotonic time, Chromium's own
timestamp where the mark is a DevTools event, and a size) and
`GET /debug/timeline` returns the last request's marks. Chromium's Network
timestamps and Python's `time.monotonic()` read the same clock on Linux
(CLOCK_MONOTONIC), so one request can be followed hop by hop: the replica
writes a piece, Chromium receives it, the instance has it, the client has it.
Sizes and times only: never a prompt or an answer.

Marks: `request` (the body read), `prepared` (fresh chat and model ready),
`typed`, `clicked`; from the tap `browser_request`, `browser_response`,
`browser_data` (size: bytes); from the server `sent` (size: answer
characters so far, at the moment the SSE chunk is handed to the server).
"""

from __future__ import annotations

import time

import msgspec


class Mark(msgspec.Struct, array_like=True):
    name: str
    at: float  # time.monotonic() in the instance
    browser_at: float | None = None  # Chromium's timestamp (same clock), for its events
    size: int = 0


class Timeline(msgspec.Struct):
    marks: list[Mark] = []


_enabled = False
_current: Timeline | None = None


def enable() -> None:
    global _enabled
    _enabled = True


def begin() -> None:
    """A new request: the marks that follow are its own."""
    global _current
    if _enabled:
        _current = Timeline()


def mark(name: str, browser_at: float | None = None, size: int = 0) -> None:
    if _current is not None:
        _current.marks.append(Mark(name, time.monotonic(), browser_at, size))


def last() -> Timeline:
    return _current or Timeline()
