"""Every start, restart and give-up goes through one door of the supervisor
(issue 26): each path says why, the listener above (events, metrics) hears it, and
one counter moves. Real processes under a real Supervisor, no daemon around
it; and the structure: nothing outside the supervisor feeds the state
machine or touches the counter."""

from __future__ import annotations

import ast
import asyncio
import collections
import os
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from daemon.config.loader import Config, ProfilesSection
from daemon.events import EventLog
from daemon.fleet.health_restarts import HealthRestarts
from daemon.fleet.link import RouterLink
from daemon.fleet.recovery import OUT_OF_DESCRIPTORS, retry_descriptor_fatals
from daemon.fleet.rolling import Roller
from daemon.fleet.scale_policy import ScalePolicy
from daemon.fleet.scaler import Scaler
from daemon.state import StateStore
from daemon.supervise import machine
from daemon.supervise import metrics as supmetrics
from daemon.supervise.program import Program
from daemon.supervise.supervisor import Supervisor
from daemon.types import DoorEntry, ProgramSpec, State, Told, Transition
from tests.helpers import until

ROOT = Path(__file__).resolve().parents[2]
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


EVENTS = st.sampled_from(
    [machine.Start(), machine.Stop(), machine.Exited(0), machine.Exited(1), machine.Timeout()]
)
AUTO = st.sampled_from(["true", "false", "unexpected"])


NO_SPAWN = (0.5, machine.Timeout(), False)  # a timer fires; the spawn it starts fails
UP = (0.1, machine.Timeout(), True)  # a timer fires; a spawn it starts succeeds


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 3), EVENTS, st.booleans()), max_size=40), AUTO, st.booleans()
)
@example(
    [(0, machine.Start(), False), NO_SPAWN, NO_SPAWN, (2.0, machine.Timeout(), True)], "true", True
)
@example([(0, machine.Start(), True), UP, (0.1, machine.Exited(1), True), UP], "true", False)
def test_the_machine_marks_each_start_it_decides_itself(
    steps: list[tuple[float, machine.Event, bool]], autorestart: str, retry_fatal: bool
) -> None:
    """Every STARTING the machine enters by itself (an exit, a timer) comes
    with Respawn just before it, for the door to record and count; a Start
    fed by the supervisor (an operator, a restart, a retry) never does. The
    events come as the shell feeds them: an exit only of a running process,
    a timeout only of a pending timer, a spawn's outcome after each spawn."""
    spec = msgspec.structs.replace(
        SPEC, startsecs=0.5, autorestart=autorestart, fatal_retry_after=2.0 if retry_fatal else 0
    )
    mem, now, timer = machine.Memory(), 0.0, False
    for gap, event, spawns in steps:
        now += gap
        if isinstance(event, machine.Exited) and not mem.running:
            continue
        if isinstance(event, machine.Timeout) and not timer:
            continue
        todo: list[machine.Event] = [event]
        while todo:
            fed = todo.pop()
            try:
                mem, actions = machine.decide(spec, mem, fed, now)
            except machine.NotAllowed:
                continue
            for a in actions:
                timer = isinstance(a, machine.SetTimer) or (
                    timer and not isinstance(a, machine.CancelTimer | machine.SetTimer)
                )
            if machine.Spawn() in actions:
                todo.append(machine.Spawned(1) if spawns else machine.SpawnFailed("no"))
            starts = [i for i, a in enumerate(actions) if a == machine.Enter(State.STARTING)]
            respawns = [(i, a) for i, a in enumerate(actions) if isinstance(a, machine.Respawn)]
            if isinstance(fed, machine.Start):
                assert respawns == []
            else:
                assert [i + 1 for i, _ in respawns] == starts
                assert all(a.reason.startswith(machine.AUTORESTART) for _, a in respawns)


def test_only_the_supervisor_feeds_programs_or_counts_restarts() -> None:
    allowed = {
        "daemon/supervise/supervisor.py",
        "daemon/supervise/program.py",
        "daemon/supervise/machine.py",
    }
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


def test_the_one_counter_moves_only_in_the_door() -> None:
    """Inside the supervisor too: the restart count moves in `_door` alone."""
    tree = ast.parse((ROOT / "daemon/supervise/supervisor.py").read_text())
    counting = [
        fn.name
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(fn)
        if isinstance(node, ast.AugAssign)
        and isinstance(node.target, ast.Attribute)
        and node.target.attr == "restarts"
    ]
    assert counting == ["_door"]


# Instances (the router's backends) for the paths that go through the router link.
SPEC_P = msgspec.structs.replace(SPEC, kind="instance", port=1)
SPEC_Q = msgspec.structs.replace(SPEC_P, name="q", autostart=False, port=2)
PATHS = (
    "operator",
    "autorestart",
    "health",
    "recycle",
    "rolling",
    "scaling",
    "recovery",
    "give-up",
)


Entered = tuple[str, str, str, bool]  # program, verb, reason, counted


class Ledger:
    """What passed the door, what the listeners heard (the events, as mictld
    records them) and every counter a restart can move: the program's restart
    count (`mictl status` RESTARTS, mictl_program_restarts) and
    mictl_restart_requests by reason."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.events = EventLog()
        self.door: list[Entered] = []
        self.stats: supmetrics.SupervisorStats | None = None

    def watch(self, sup: Supervisor) -> None:
        self.stats = supmetrics.attach(sup, self.store, None)
        self.mark()

    def tell(self, told: Told) -> None:
        """What the supervisor tells, heard as daemon/main.py's Daemon._told has it heard."""
        assert self.stats is not None
        self.stats.heard(told)
        self.events.heard(told)
        if isinstance(told, DoorEntry):
            self.door.append((told.program, told.verb, told.reason, told.counted))

    def counters(self) -> collections.Counter[str]:
        assert self.stats is not None
        out = collections.Counter(
            {f"requests[{k}]": v for k, v in self.stats.restart_requests.items()}
        )
        out.update({f"restarts[{n}]": self.store.program(n).restarts for n in ("p", "q")})
        return out

    def mark(self) -> None:
        self._counters, self._seen = self.counters(), len(self.events.recent(2000))
        self.door.clear()

    def since(
        self,
    ) -> tuple[list[Entered], dict[str, int], list[tuple[str, str, str, str]]]:
        """What entered the door, counters that moved (by how much) and events
        heard since the mark."""
        entered = list(self.door)
        after = self.counters()
        moved = {k: after[k] - self._counters[k] for k in after if after[k] != self._counters[k]}
        heard = self.events.recent(2000)[self._seen :]
        self.mark()
        return entered, moved, [(e.program, e.kind, e.detail, e.reason) for e in heard]


def test_every_path_goes_through_the_door_with_its_reason(tmp_path: Path) -> None:
    """The eight paths by name, each: exactly one entry through the door with
    its verb and its reason (a path that goes round the door leaves none);
    its event carries the reason; the one restart count moves once when the
    daemon restarts it for a failure (autorestart, health, recovery) and not
    when someone asked (operator, recycle, rolling, scaling); a restart moves
    mictl_restart_requests once, under its own reason; nothing else moves."""
    done: list[str] = []

    async def scenario() -> None:
        store = StateStore(str(tmp_path))
        cfg = Config(profiles=ProfilesSection(recycle_after_requests=1))
        cfg.daemon.state_dir = str(tmp_path)
        ledger = Ledger(store)
        link = RouterLink(
            cfg, store, server_url="", emit=lambda *event: None, scaling=lambda: None,
            tell=ledger.tell,
        )  # fmt: skip
        sup = link.supervisor
        ledger.watch(sup)
        program = sup.add(SPEC_P)
        sup.add(SPEC_Q)
        link.sync([SPEC_P, SPEC_Q])
        await sup.start("p")
        ledger.mark()

        async def running_again(name: str, pid: int | None) -> int:
            p = sup.programs[name]
            await until(
                lambda: p.state == State.RUNNING and p.pid not in (None, pid), 15, f"{name} again"
            )
            assert p.pid is not None
            return p.pid

        # operator: asked for, so not a failure: no restart counted
        pid = await running_again("p", await_pid(sup.restart("p"), program))
        entered, moved, heard = ledger.since()
        assert entered == [("p", "restart", "operator", False)]
        assert moved == {"requests[operator]": 1}
        assert ("p", "restart", "requested", "operator") in heard
        done.append("operator")

        # autorestart after a crash: the machine decides the respawn, the door
        # records it and counts it once
        os.kill(pid, signal.SIGKILL)
        pid = await running_again("p", pid)
        entered, moved, heard = ledger.since()
        assert entered == [("p", "restart", "autorestart", True)]
        assert moved == {"requests[autorestart]": 1, "restarts[p]": 1}
        assert ("p", "restart", "automatic", "autorestart") in heard
        at = heard.index(("p", "restart", "automatic", "autorestart"))
        assert heard[at + 1][:3] == ("p", "state", "EXITED -> STARTING"), heard
        done.append("autorestart")

        # health probes: asked for because it failed: heard and counted once
        health = HealthRestarts(sup)
        await health.restart("p", "health: 3 failed probes")
        pid = await running_again("p", pid)
        entered, moved, heard = ledger.since()
        assert entered == [("p", "restart", "health: 3 failed probes", True)]
        assert moved == {"requests[health]": 1, "restarts[p]": 1}
        assert ("p", "restart", "requested", "health: 3 failed probes") in heard
        done.append("health")

        # recycle: the router link's own policy (one request served, for the
        # requests it would have served), not a failure
        link.pool.backends["p"].served += 1
        link.maybe_recycle()
        pid = await running_again("p", pid)
        entered, moved, heard = ledger.since()
        assert entered == [("p", "restart", "recycle: 1 requests served", False)]
        assert moved == {"requests[recycle]": 1}
        assert ("p", "restart", "requested", "recycle: 1 requests served") in heard
        done.append("recycle")

        # rolling: the roller's batches, through the same door
        async def back(name: str, timeout: float) -> bool:
            await running_again(name, None)
            return True

        roller = Roller(sup, back, ledger.events.emit)
        roller.start(["p"])
        status = await roller.wait()
        assert status is not None and status.restarted == ["p"]
        pid = await running_again("p", pid)
        entered, moved, heard = ledger.since()
        assert entered == [("p", "restart", "rolling: batch 1/1: p", False)]
        assert moved == {"requests[rolling]": 1}
        assert ("p", "restart", "requested", "rolling: batch 1/1: p") in heard
        done.append("rolling")

        # scaling: the scaler starts a standby instance through the door with
        # its step's reason; a start it decided is no restart, and no failure
        scaler = Scaler(sup, store, link.pool, lambda: None, ledger.events.emit)
        await scaler.step(ScalePolicy(min_running=2, max_running=2, cooldown=0))
        await running_again("q", None)
        entered, moved, heard = ledger.since()
        scaled = [e for e in heard if e[:3] == ("q", "scale", "up")]
        assert len(scaled) == 1 and scaled[0][3], heard
        assert entered == [("q", "start", f"scale: up, {scaled[0][3]}", False)]
        assert moved == {}
        assert store.program("q").desired_by == "scaler"
        await sup.stop("q", by="scaler", reason="scale: down, for the test")
        entered, moved, _ = ledger.since()
        assert entered == [("q", "stop", "scale: down, for the test", False)] and moved == {}
        done.append("scaling")

        # give-up: through the door, then FATAL through the machine's GiveUp
        # with the reason, the wish to run kept; nothing counted (nothing restarted)
        health.count["p"] = SPEC.startretries
        await health.restart("p", "health: 3 failed probes")
        assert program.state == State.FATAL and "health probes" in program.reason
        assert store.program("p").desired == "running"
        entered, moved, heard = ledger.since()
        assert [e[:2] for e in entered] == [("p", "give_up")], entered
        assert entered[0][2] == program.reason and not entered[0][3]
        assert moved == {}
        fatal = [e for e in heard if e[:2] == ("p", "state") and e[2].endswith("-> FATAL")]
        assert len(fatal) == 1 and fatal[0][3] == program.reason, heard
        done.append("give-up")

        # recovery: a FATAL of the daemon's making is tried again, heard, counted
        # (a spawn that failed with EMFILE, stood in for: the state it leaves)
        retry = retry_descriptor_fatals(sup, delay=0.05)
        program.mem = machine.Memory(state=State.FATAL, spawnerr=OUT_OF_DESCRIPTORS)
        retry(Transition("p", State.BACKOFF, State.FATAL, 0.0, OUT_OF_DESCRIPTORS))
        await running_again("p", None)
        entered, moved, heard = ledger.since()
        reason = "recovery: retrying after running out of file descriptors"
        assert entered == [("p", "restart", reason, True)]
        assert moved == {"requests[recovery]": 1, "restarts[p]": 1}
        assert ("p", "restart", "requested", reason) in heard
        done.append("recovery")

        # and the two stops that are no verb of anyone's: a program a reload
        # removed, and the daemon's shutdown (of what still runs)
        await sup.start("q", reason="for the test")
        ledger.mark()
        await sup.remove("q")
        await sup.stop_all()
        entered, moved, _ = ledger.since()
        assert entered == [
            ("q", "stop", "reload: removed from the config", False),
            ("p", "stop", "shutdown", False),
        ]
        assert moved == {}

    asyncio.run(scenario())
    assert sorted(done) == sorted(PATHS)


def await_pid(coro: Coroutine[Any, Any, State], program: Program) -> int | None:
    """The pid before an operator's restart, the restart left running."""
    pid = program.pid
    asyncio.get_running_loop().create_task(coro)
    return pid
