"""Which signal does what to mictld: supervisord's meanings (DESIGN "Signals").

TERM, INT and QUIT drain and stop everything, then mictld exits 0; HUP
reloads; USR2 reopens every log file (logrotate's `postrotate`). A handler
only records the intent (STYLE 7); the daemon's loop acts on it.

HUPs are merged: a reload starts at most once a RELOAD_INTERVAL, and all the
HUPs that came before it started are served by it (100 a second would
otherwise make a reload each and push every real event out of `mictl events`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("mictld")

SHUTDOWN = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
RELOAD = signal.SIGHUP
REOPEN = signal.SIGUSR2
# HUPs at most this often (a burst of them is one reload, then one a second
# at most): 100 a second gave 943 reloads and pushed every other event out.
RELOAD_INTERVAL = 1.0


class Merged:
    """Runs `work` on request, one run at a time, runs at least `interval`
    seconds apart; the requests that arrive before a run starts are all
    served by it (one run for a burst, however long)."""

    def __init__(
        self, work: Callable[[], Awaitable[Any]], what: str, interval: float = 0.0
    ) -> None:
        self._work = work
        self._what = what
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._last = -float("inf")  # loop time the last run started
        self.merged = 0  # requests served by a run another request caused
        self._closed = False

    def close(self) -> None:
        """No run starts any more (mictld is shutting down: a reload then
        would start what is being stopped)."""
        self._closed = True

    def request(self) -> None:
        if self._closed:
            return
        if self._task is not None and not self._task.done():
            if self._again:
                self.merged += 1
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            wait = self._last + self._interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if self._closed:
                return
            self._again = False  # what came until now is served by this run
            self._last = loop.time()
            try:
                await self._work()
            except Exception:  # a failed run must not end the next ones
                log.exception("%s failed", self._what)
            if not self._again:
                return

    async def idle(self) -> None:
        """Wait until no run is under way or due (tests, shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)


def install(
    loop: asyncio.AbstractEventLoop,
    *,
    shutdown: Callable[[str], None],
    reload: Callable[[], None],
    reopen: Callable[[], None],
) -> None:
    """Route supervisord's signals to the daemon's three intents."""
    for sig in SHUTDOWN:
        loop.add_signal_handler(sig, shutdown, sig.name)
    loop.add_signal_handler(RELOAD, reload)
    loop.add_signal_handler(REOPEN, _reopen, reopen)


def _reopen(reopen: Callable[[], None]) -> None:
    reopen()
    log.info("SIGUSR2: log files reopened")  # the first line of a new mictld.log
