"""Long-lived daemon tasks that must not die quietly.

A watcher that crashes (an unreadable file, a bug) is restarted after a
short pause with its reason logged; new profiles are then still noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger("mictld")


async def resilient(
    work: Callable[[], Coroutine[Any, Any, None]],
    what: str,
    stop: asyncio.Event,
    *,
    pause: float = 1.0,
) -> None:
    """Run `work()` until `stop` is set, restarting it whenever it crashes."""
    while not stop.is_set():
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error(
                "%s crashed (%s: %s); restarting it in %ss",
                what,
                type(exc).__name__,
                exc,
                pause,
                exc_info=exc,
            )
        else:
            if stop.is_set():
                return
            log.warning("%s ended by itself; restarting it in %ss", what, pause)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)
