"""What is left of a program after its main process exited by itself.

supervisord leaves such children alone (it signals the group only on stop);
mictld promises that no browser outlives its runner. Between the two: the
leftovers (the process group and every process carrying the spawn's tag,
Chromium included whatever its group) get SIGTERM, and SIGKILL after the
program's `stopwaitsecs`, so a server under a `sh -c` wrapper still shuts
down cleanly. Used for programs with `killasgroup` (instances have it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable

from daemon.supervise.orphans import SPAWN_TAG, find

log = logging.getLogger("mictld")


def _signal(kill: Callable[[int, int], None], target: int, sig: int) -> bool:
    """Send; False when there is no such process (group) any more."""
    try:
        kill(target, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Leftovers:
    """One program's pending clean-ups, one per spawn whose leader is gone."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._pending: dict[str, tuple[int, asyncio.TimerHandle]] = {}

    def end(self, pgid: int, token: str, grace: float) -> None:
        """SIGTERM what is left of spawn `token` now, SIGKILL it after `grace`."""
        tagged = find(token, SPAWN_TAG)
        group = _signal(os.killpg, pgid, signal.SIGTERM)
        for pid in tagged:
            _signal(os.kill, pid, signal.SIGTERM)
        if not group and not tagged:
            return
        log.info(
            "%s: SIGTERM to what is left after its exit (group %d, %d tagged); SIGKILL in %gs",
            self.name,
            pgid,
            len(tagged),
            grace,
        )
        timer = asyncio.get_running_loop().call_later(grace, self._kill, token, pgid)
        self._pending[token] = (pgid, timer)

    def _kill(self, token: str, pgid: int) -> None:
        self._pending.pop(token, None)
        tagged = find(token, SPAWN_TAG)
        # The group id cannot belong to anyone else while one of ours is in it.
        if pgid in tagged.values():
            _signal(os.killpg, pgid, signal.SIGKILL)
        for pid in tagged:
            _signal(os.kill, pid, signal.SIGKILL)
        if tagged:
            log.warning("%s: %d leftover(s) outlived SIGTERM: SIGKILL", self.name, len(tagged))

    async def settle(self) -> None:
        """Daemon shutdown: wait for what is left to end, each at most to the
        end of its grace, then SIGKILL it: a pending SIGKILL is never lost
        because mictld stopped first. (Shutdown only: it looks every 0.1 s.)"""
        loop = asyncio.get_running_loop()
        while self._pending:
            for token, (pgid, timer) in list(self._pending.items()):
                gone = not find(token, SPAWN_TAG) and not _signal(os.killpg, pgid, 0)
                if gone or timer.when() <= loop.time():
                    timer.cancel()
                    self._pending.pop(token, None)
                    if not gone:
                        self._kill(token, pgid)
            if self._pending:
                await asyncio.sleep(0.1)

    def kill_now(self) -> None:
        """Daemon shutdown or program removal: no grace left to wait for."""
        for token, (pgid, timer) in list(self._pending.items()):
            timer.cancel()
            with contextlib.suppress(OSError):
                self._kill(token, pgid)
