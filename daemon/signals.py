"""Which signal does what to mictld: supervisord's meanings (DESIGN "Signals").

TERM, INT and QUIT drain and stop everything, then mictld exits 0; HUP
reloads; USR2 reopens every log file (logrotate's `postrotate`). A handler
only records the intent (STYLE 7); the daemon's loop acts on it.

HUPs are merged: while a reload runs, any number of further HUPs make one
more reload after it, not one each (100 a second would otherwise queue a
reload per signal and push every real event out of `mictl events`).
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


class Merged:
    """Runs `work` on request, one run at a time; the requests that arrive
    while it runs are served together by one more run after it."""

    def __init__(self, work: Callable[[], Awaitable[Any]], what: str) -> None:
        self._work = work
        self._what = what
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self.merged = 0  # requests served by a run another request caused

    def request(self) -> None:
        if self._task is not None and not self._task.done():
            if self._again:
                self.merged += 1
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                await self._work()
            except Exception:  # a failed run must not end the next ones
                log.exception("%s failed", self._what)
            if not self._again:
                return

    async def idle(self) -> None:
        """Wait until no run is under way (tests, shutdown)."""
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
