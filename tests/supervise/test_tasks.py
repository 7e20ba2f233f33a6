"""daemon/tasks.py: a crashed watcher comes back, with its reason logged."""

from __future__ import annotations

import asyncio
import logging

import pytest

from daemon.tasks import resilient


def test_a_crashing_task_is_restarted_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []

    async def scenario() -> None:
        stop = asyncio.Event()

        async def watcher() -> None:
            runs.append(len(runs))
            if len(runs) < 3:
                raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
            stop.set()  # the third run lives until the daemon stops

        await asyncio.wait_for(resilient(watcher, "config watcher", stop, pause=0.01), 30)

    with caplog.at_level(logging.ERROR, logger="mictld"):
        asyncio.run(scenario())
    assert runs == [0, 1, 2]
    crashes = [r.getMessage() for r in caplog.records if "crashed" in r.getMessage()]
    assert len(crashes) == 2 and "UnicodeDecodeError" in crashes[0]
