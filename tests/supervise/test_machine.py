"""The pure state machine: supervisord's rules, event by event, no processes."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import msgspec
import supervisor.process
from hypothesis import given
from hypothesis import strategies as st

from daemon.supervise import machine
from daemon.supervise.machine import (
    CancelTimer,
    Enter,
    Exited,
    Kill,
    Memory,
    SetTimer,
    Spawn,
    Start,
    Stop,
    Timeout,
)
from daemon.types import TRANSITIONS, ProgramSpec, State

SPEC = ProgramSpec(name="p", argv=("true",), startsecs=2, startretries=2)


def run(events: list[tuple[float, machine.Event]], spec: ProgramSpec = SPEC):
    mem = Memory()
    states: list[State] = []
    actions: list[machine.Action] = []
    for now, event in events:
        mem, acts = machine.decide(spec, mem, event, now)
        actions += acts
        states += [a.state for a in acts if isinstance(a, Enter)]
    return mem, states, actions


def supervisord_arrows() -> set[tuple[State, State]]:
    """The `# A -> B` comments of supervisord's process.py, plus spawn()'s
    precondition (EXITED, FATAL, BACKOFF, STOPPED -> STARTING)."""
    source = Path(supervisor.process.__file__).read_text()
    arrows = set()
    for left, right in re.findall(r"#.*?([A-Z/]+) ?-> ?([A-Z]+)", source):
        for old in left.split("/"):
            # A self-loop (STOPPING -> STOPPING on SIGKILL) is no transition:
            # supervisord's change_state returns early and emits nothing.
            if old in State.__members__ and right in State.__members__ and old != right:
                arrows.add((State[old], State[right]))
    for old in (State.EXITED, State.FATAL, State.BACKOFF, State.STOPPED):
        arrows.add((old, State.STARTING))
    return arrows


def test_transition_table_is_supervisords_plus_documented_extras() -> None:
    ours = {(old, new) for old, news in TRANSITIONS.items() for new in news}
    theirs = supervisord_arrows()
    assert theirs <= ours
    assert ours - theirs == {(State.STOPPED, State.FATAL), (State.EXITED, State.FATAL)}


def test_crash_before_startsecs_backs_off_1_2_then_fatal() -> None:
    mem, states, actions = run(
        [
            (0, Start()),
            (0.1, Exited(1)),
            (1.1, Timeout()),
            (1.2, Exited(1)),
            (3.2, Timeout()),
            (3.3, Exited(1)),
        ]
    )
    assert [s.name for s in states] == [
        "STARTING",
        "BACKOFF",
        "STARTING",
        "BACKOFF",
        "STARTING",
        "BACKOFF",
        "FATAL",
    ]
    # startsecs timer (2 s) on each try; supervisord waits `backoff` seconds
    # between tries: 1, then 2.
    timers = [a.delay for a in actions if isinstance(a, SetTimer)]
    assert timers == [2.0, 1.0, 2.0, 2.0, 2.0]
    assert mem.spawnerr.startswith("Exited too quickly")


def test_startsecs_timer_makes_running_and_resets_backoff() -> None:
    mem, states, _ = run([(0, Start()), (0.5, Exited(1)), (1.5, Timeout()), (3.5, Timeout())])
    assert states[-1] == State.RUNNING and mem.backoff == 0


def test_exit_racing_the_startsecs_timer_counts_as_running() -> None:
    _, states, _ = run([(0, Start()), (2.0, Exited(0))])
    assert [s.name for s in states] == ["STARTING", "RUNNING", "EXITED"]


def test_autorestart_unexpected_restarts_only_on_unexpected_codes() -> None:
    spec = ProgramSpec(name="p", argv=("x",), exitcodes=(0, 2), startsecs=0)
    _, states, _ = run([(0, Start()), (0, Timeout()), (5, Exited(2))], spec)
    assert states[-1] == State.EXITED
    _, states, _ = run([(0, Start()), (0, Timeout()), (5, Exited(3))], spec)
    assert states[-2:] == [State.EXITED, State.STARTING]
    _, states, _ = run([(0, Start()), (0, Timeout()), (5, Exited(None, signal.SIGKILL))], spec)
    assert states[-1] == State.STARTING  # a signal death is status -1: unexpected


def test_stop_sends_stopsignal_then_sigkill_after_stopwaitsecs() -> None:
    spec = ProgramSpec(
        name="p",
        argv=("x",),
        startsecs=0,
        stopwaitsecs=7,
        stopsignal=signal.SIGINT,
        stopasgroup=False,
        killasgroup=True,
    )
    mem, _states, actions = run([(0, Start()), (0, Timeout()), (1, Stop()), (8, Timeout())], spec)
    kills = [a for a in actions if isinstance(a, Kill)]
    assert kills == [Kill(signal.SIGINT, False), Kill(signal.SIGKILL, True)]
    assert SetTimer(7.0) in actions
    assert mem.state == State.STOPPING
    mem, _ = machine.decide(spec, mem, Exited(None, signal.SIGKILL), 9)
    assert mem.state == State.STOPPED


def test_stop_in_backoff_goes_straight_to_stopped() -> None:
    _mem, states, _ = run([(0, Start()), (0.1, Exited(1)), (0.2, Stop())])
    assert states[-2:] == [State.BACKOFF, State.STOPPED]


def test_unstartable_program_is_fatal_with_its_reason() -> None:
    spec = ProgramSpec(name="p", argv=("x",), fatal_reason="profile p.json: not valid JSON")
    mem, states, actions = run([(0, Start())], spec)
    assert states == [State.FATAL] and mem.spawnerr == spec.fatal_reason
    assert not [a for a in actions if isinstance(a, Spawn)]


EVENTS = st.sampled_from([Start(), Stop(), Timeout(), Exited(0), Exited(1), Exited(None, 9)])


@given(st.lists(st.tuples(st.floats(0, 5), EVENTS, st.booleans()), max_size=40))
def test_any_event_sequence_only_takes_legal_edges(
    steps: list[tuple[float, machine.Event, bool]],
) -> None:
    mem, now = Memory(), 0.0

    def feed(event: machine.Event, spawn_ok: bool) -> Memory:
        new, actions = machine.decide(SPEC, mem, event, now)
        old = mem.state
        for action in actions:
            if isinstance(action, Enter):
                machine.check_edge(old, action.state)
                old = action.state
        assert old == new.state
        assert new.backoff <= SPEC.startretries + 1
        if any(isinstance(a, Spawn) for a in actions):
            # As the shell does: the spawn's outcome is fed at once.
            outcome = machine.Spawned(1) if spawn_ok else machine.SpawnFailed("nope")
            return _feed_into(new, outcome)
        return new

    def _feed_into(current: Memory, event: machine.Event) -> Memory:
        nonlocal mem
        mem = current
        return feed(event, True)

    for dt, event, spawn_ok in steps:
        now += dt
        if isinstance(event, Exited) and not mem.running:
            continue  # exits come only from a live process
        try:
            mem = feed(event, spawn_ok)
        except machine.NotAllowed:
            continue


def test_exit_78_while_starting_is_fatal_without_retries_for_instances_only() -> None:
    instance = ProgramSpec(name="i", kind="instance", argv=("x",), startsecs=2, startretries=2)
    mem, states, actions = run([(0, Start()), (0.1, Exited(78))], instance)
    assert [s.name for s in states] == ["STARTING", "BACKOFF", "FATAL"]
    assert "EX_CONFIG" in mem.spawnerr
    assert not [a for a in actions if isinstance(a, SetTimer) and a.delay == 1.0]
    # Any other program exiting 78 is retried, as under supervisord.
    mem, states, _ = run([(0, Start()), (0.1, Exited(78))])
    assert [s.name for s in states] == ["STARTING", "BACKOFF"] and mem.backoff == 1


QUICK = ProgramSpec(name="q", argv=("x",), startsecs=0, autorestart="true")


def test_instant_exit_restarts_after_the_respawn_floor() -> None:
    mem, states, actions = run([(0, Start()), (0, Timeout()), (0.01, Exited(1))], QUICK)
    assert [s.name for s in states] == ["STARTING", "RUNNING", "EXITED"]
    assert mem.holding and actions[-1] == SetTimer(machine.RESPAWN_FLOOR - 0.01)
    assert sum(isinstance(a, Spawn) for a in actions) == 1
    mem, acts = machine.decide(QUICK, mem, Timeout(), 1.0)
    assert mem.state == State.STARTING and Spawn() in acts and not mem.holding


def test_a_crash_after_the_floor_restarts_at_once() -> None:
    _, states, actions = run([(0, Start()), (0, Timeout()), (1.5, Exited(1))], QUICK)
    assert states[-2:] == [State.EXITED, State.STARTING]
    assert sum(isinstance(a, Spawn) for a in actions) == 2


def test_stop_calls_off_a_pending_respawn_and_start_takes_over() -> None:
    mem, _, _ = run([(0, Start()), (0, Timeout()), (0.01, Exited(1))], QUICK)
    stopped, acts = machine.decide(QUICK, mem, Stop(), 0.5)
    assert acts == [CancelTimer()] and stopped.state == State.EXITED and not stopped.holding
    assert machine.decide(QUICK, stopped, Timeout(), 1.0)[1] == []  # nothing fires
    started, acts = machine.decide(QUICK, mem, Start(), 0.5)
    assert started.state == State.STARTING and Spawn() in acts and not started.holding


# ------------------------------------------------ mictld's own: flapping, FATAL retry

FLAPPY = ProgramSpec(
    name="f",
    argv=("x",),
    startsecs=1,
    autorestart="true",
    flap_exits=3,
    flap_window=60,
    flap_delay=2,
    flap_delay_max=5,
)


def test_a_flapping_program_is_held_back_with_growing_delays() -> None:
    events: list[tuple[float, machine.Event]] = [(0, Start())]
    t = 0.0
    for _ in range(2):  # two crashes after startsecs: respawned at once
        events += [(t + 1, Timeout()), (t + 5, Exited(1))]
        t += 5
    mem, _, _ = run(events, FLAPPY)
    assert mem.state == State.STARTING and not mem.holding
    # The third exit within the window: held back 2 s, then 4, then capped at 5.
    delays = []
    for _ in range(3):
        mem, acts = machine.decide(FLAPPY, mem, Timeout(), t + 1)  # startsecs passed
        mem, acts = machine.decide(FLAPPY, mem, Exited(1), t + 5)
        assert mem.state == State.EXITED and mem.holding and "flapping" in mem.spawnerr
        delays.append(next(a.delay for a in acts if isinstance(a, SetTimer)))
        mem, acts = machine.decide(FLAPPY, mem, Timeout(), t + 6)
        assert mem.state == State.STARTING and any(isinstance(a, Spawn) for a in acts)
        t += 6
    assert delays == [2, 4, 5]


def test_a_held_back_program_stopped_by_the_operator_stays_exited() -> None:
    mem = Memory(state=State.EXITED, holding=True)
    mem, acts = machine.decide(FLAPPY, mem, Stop(), 0)
    assert mem.state == State.EXITED and not mem.holding
    assert machine.CancelTimer() in acts


def test_flapping_is_off_by_default_as_in_supervisord() -> None:
    spec = ProgramSpec(name="p", argv=("x",), startsecs=1, autorestart="true")
    mem = Memory()
    t = 0.0
    mem, _ = machine.decide(spec, mem, Start(), t)
    for _ in range(10):
        mem, _ = machine.decide(spec, mem, Timeout(), t + 1)
        mem, acts = machine.decide(spec, mem, Exited(1), t + 2)
        assert mem.state == State.STARTING and any(isinstance(a, Spawn) for a in acts)
        t += 2


def test_fatal_retry_after_tries_again_with_growing_delays() -> None:
    spec = ProgramSpec(
        name="p",
        argv=("x",),
        startsecs=1,
        startretries=0,
        fatal_retry_after=10,
        fatal_retry_max=25,
    )
    mem, _ = machine.decide(spec, Memory(), Start(), 0)
    delays: list[float] = []
    t = 0.0
    for _ in range(3):
        mem, acts = machine.decide(spec, mem, Exited(1), t + 0.5)  # dies while starting
        assert mem.state == State.FATAL and "retrying in" in mem.spawnerr
        delays.append(next(a.delay for a in acts if isinstance(a, SetTimer)))
        t += 0.5 + delays[-1]
        mem, acts = machine.decide(spec, mem, Timeout(), t)
        assert mem.state == State.STARTING
    assert delays == [10, 20, 25]
    # Once it stays up past startsecs, the next FATAL waits the first delay again.
    mem, _ = machine.decide(spec, mem, Timeout(), t + 1)
    assert mem.state == State.RUNNING and mem.fatal_retries == 0


def test_fatal_is_final_by_default_and_a_stop_cancels_a_pending_retry() -> None:
    plain = ProgramSpec(name="p", argv=("x",), startsecs=1, startretries=0)
    mem, _ = machine.decide(plain, Memory(), Start(), 0)
    mem, acts = machine.decide(plain, mem, Exited(1), 0.5)
    assert mem.state == State.FATAL and not any(isinstance(a, SetTimer) for a in acts)
    retry = msgspec.structs.replace(plain, fatal_retry_after=5)
    mem, _ = machine.decide(retry, Memory(), Start(), 0)
    mem, _ = machine.decide(retry, mem, Exited(1), 0.5)
    mem, acts = machine.decide(retry, mem, Stop(), 1)
    assert mem.state == State.FATAL and machine.CancelTimer() in acts
    assert "retrying" not in mem.spawnerr


def test_stopsignal_0_sends_nothing_then_sigkill() -> None:
    """supervisord accepts stopsignal=0 (found by tests/config/test_option_sweep.py:
    naming it crashed the daemon's shutdown)."""
    spec = ProgramSpec(name="z", argv=("x",), startsecs=0, stopsignal=0, stopwaitsecs=2)
    _, states, actions = run([(0, Start()), (0, Timeout()), (1, Stop()), (3, Timeout())], spec)
    assert states[-1] == State.STOPPING
    kills = [a for a in actions if isinstance(a, Kill)]
    assert kills == [Kill(0, False), Kill(signal.SIGKILL, False)]
