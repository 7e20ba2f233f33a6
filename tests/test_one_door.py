"""Every start, restart and give-up goes through one door of the supervisor
(issue 26): each path says why, the listeners (events, metrics) hear it, and
one counter moves. Real processes under a real Supervisor, no daemon around
it; and the structure: nothing outside the supervisor feeds the state
machine or touches the counter."""

from __future__ import annotations

import ast
import asyncio
import os
import signal
from pathlib import Path

import pytest

from daemon import machine
from daemon.health_restarts import HealthRestarts
from daemon.recovery import OUT_OF_DESCRIPTORS, retry_descriptor_fatals
from daemon.state import StateStore
from daemon.supervisor import Supervisor
from daemon.types import ProgramSpec, State, Transition

ROOT = Path(__file__).resolve().parent.parent
SPEC = ProgramSpec(
    name="p", argv=("sleep", "600"), startsecs=0, autorestart="true", stopwaitsecs=2, startretries=2
)


def test_give_up_is_an_event_of_the_machine() -> None:
    mem = machine.Memory(state=State.STOPPED)
    mem, actions = machine.decide(SPEC, mem, machine.GiveUp("probes never pass"), 0.0)
    assert mem.state == State.FATAL and mem.spawnerr == "probes never pass"
    assert machine.Enter(State.FATAL, "probes never pass") in actions
    # an operator's start tries again
    mem, actions = machine.decide(SPEC, mem, machine.Start(), 1.0)
    assert mem.state == State.STARTING and machine.Spawn() in actions
    # a running program is stopped before anyone gives up on it
    running = machine.Memory(state=State.RUNNING)
    with pytest.raises(machine.NotAllowed):
        machine.decide(SPEC, running, machine.GiveUp("x"), 0.0)


def test_only_the_supervisor_feeds_programs_or_counts_restarts() -> None:
    allowed = {"daemon/supervisor.py", "daemon/program.py", "daemon/machine.py"}
    offenders = []
    for path in sorted((ROOT / "daemon").rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if rel in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            feeds_machine = (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "feed"
                and any(
                    isinstance(a, ast.Call)
                    and isinstance(a.func, ast.Attribute)
                    and isinstance(a.func.value, ast.Name)
                    and a.func.value.id == "machine"
                    for a in node.args
                )
            )
            counts = (
                isinstance(node, ast.AugAssign)
                and isinstance(node.target, ast.Attribute)
                and node.target.attr == "restarts"
            )
            if feeds_machine or counts:
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def test_every_path_goes_through_the_door_with_its_reason(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = StateStore(str(tmp_path))
        sup = Supervisor(store, str(tmp_path))
        heard: list[tuple[str, str]] = []
        sup.restart_listeners.append(lambda name, reason: heard.append((name, reason)))
        program = sup.add(SPEC)
        await sup.start("p")

        def count() -> int:
            return store.program("p").restarts

        async def running_again(pid: int | None) -> None:
            async with asyncio.timeout(15):
                while not (program.state == State.RUNNING and program.pid not in (None, pid)):
                    await asyncio.sleep(0.02)

        # the operator: heard with its reason, not counted as a failure
        pid = program.pid
        await sup.restart("p")
        assert heard[-1] == ("p", "operator") and count() == 0
        await running_again(pid)

        # autorestart after a crash: counted once, by the machine's transition
        pid = program.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await running_again(pid)
        assert count() == 1

        # health probes: heard, counted once
        health = HealthRestarts(sup)
        pid = program.pid
        await health.restart("p", "health: 3 failed probes")
        await running_again(pid)
        assert heard[-1] == ("p", "health: 3 failed probes") and count() == 2

        # give-up: FATAL through the machine's GiveUp, the wish to run kept
        health.count["p"] = SPEC.startretries
        await health.restart("p", "health: 3 failed probes")
        assert program.state == State.FATAL and "health probes" in program.reason
        assert store.program("p").desired == "running"

        # recovery: a FATAL of the daemon's making is tried again, heard, counted
        # (a spawn that failed with EMFILE, stood in for: the state it leaves)
        retry = retry_descriptor_fatals(sup, delay=0.05)
        program.mem = machine.Memory(state=State.FATAL, spawnerr=OUT_OF_DESCRIPTORS)
        retry(Transition("p", State.BACKOFF, State.FATAL, 0.0, OUT_OF_DESCRIPTORS))
        await running_again(None)
        assert heard[-1] == ("p", "retrying after running out of file descriptors")
        assert count() == 3

        await sup.stop_all()

    asyncio.run(scenario())

