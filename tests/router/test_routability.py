"""The backend routability machine, event by event, with no processes."""

from __future__ import annotations

import itertools

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from daemon.router import routability as r
from daemon.router.routability import (
    Drain,
    Enter,
    Memory,
    Phase,
    Policy,
    ProbeFailed,
    ProbeNow,
    ProbePassed,
    ProcessDown,
    ProcessUp,
    Undrain,
)

POLICY = Policy(unhealthy_after=2)

EVENTS: list[r.Event] = [
    ProcessUp(),
    ProcessDown("STOPPED", coming_back=False),
    ProcessDown("STARTING", coming_back=True),
    *(ProbePassed(v) for v in ("ok", "not_ready", "logged_out", "captcha", "proxy_unreachable")),
    ProbeFailed(1, "refused"),
    ProbeFailed(5, "refused"),
    *(Drain(w) for w in ("operator", "stop", "restart")),
    *(Undrain(w) for w in ("operator", "stop", "restart")),
]


def run(events: list[r.Event], mem: Memory | None = None) -> tuple[Memory, list[Phase]]:
    mem = mem or Memory()
    phases: list[Phase] = []
    for event in events:
        mem, actions = r.decide(POLICY, mem, event)
        phases += [a.phase for a in actions if isinstance(a, Enter)]
    return mem, phases


def reachable() -> set[Memory]:
    """Every memory the machine can reach from a fresh backend, by search."""
    seen = {Memory(), Memory(phase=Phase.ROUTABLE)}  # an instance, an upstream
    todo = list(seen)
    while todo:
        mem = todo.pop()
        for event in EVENTS:
            new, _ = r.decide(POLICY, mem, event)
            if new not in seen:
                seen.add(new)
                todo.append(new)
    return seen


def test_every_event_in_every_reachable_state_takes_a_legal_edge() -> None:
    memories = reachable()
    assert {m.phase for m in memories} == set(Phase)  # every phase is reachable
    for mem, event in itertools.product(memories, EVENTS):
        new, actions = r.decide(POLICY, mem, event)  # raises IllegalTransition if not
        entered = [a.phase for a in actions if isinstance(a, Enter)]
        old = mem.phase
        for phase in entered:
            assert phase in r.TRANSITIONS[old], (mem, event)
            old = phase
        assert new.phase == (entered[-1] if entered else mem.phase)
        # The invariants that make routing decisions sound:
        if new.held or new.stopping:
            assert new.phase in (Phase.DRAINING, Phase.DOWN), (mem, event, new)
        if new.phase == Phase.ROUTABLE:
            assert not new.held and not new.stopping


def test_table_names_only_phases_and_no_self_loops() -> None:
    for old, news in r.TRANSITIONS.items():
        assert old not in news


def test_stop_then_start_is_routable_again() -> None:
    """The bug this machine was built for: a stop's drain outlived the stop."""
    mem, phases = run(
        [
            ProcessUp(),
            ProbePassed("ok"),
            Drain("stop"),
            ProcessDown("STOPPING", coming_back=False),
            ProcessDown("STOPPED", coming_back=False),
            ProcessDown("STARTING", coming_back=True),
            ProcessUp(),
            ProbePassed("ok"),
        ]
    )
    assert mem.phase == Phase.ROUTABLE
    assert phases == [
        Phase.STARTING,
        Phase.ROUTABLE,
        Phase.DRAINING,
        Phase.DOWN,
        Phase.STARTING,
        Phase.ROUTABLE,
    ]


def test_operator_drain_holds_across_a_restart_until_undrained() -> None:
    mem, _ = run([ProcessUp(), ProbePassed("ok"), Drain("operator"), Drain("restart")])
    assert mem.phase == Phase.DRAINING and mem.held
    mem, _ = run([ProcessDown("STOPPED", True), ProcessUp(), ProbePassed("ok")], mem)
    assert mem.phase == Phase.DRAINING  # still the operator's
    mem, actions = r.decide(POLICY, mem, Undrain("operator"))
    assert mem.phase == Phase.STARTING and ProbeNow() in actions
    mem, _ = run([ProbePassed("ok")], mem)
    assert mem.phase == Phase.ROUTABLE


def test_undrain_of_a_stop_drain_that_did_not_stop_probes_again() -> None:
    mem, _ = run([ProcessUp(), ProbePassed("ok"), Drain("restart")])
    mem, actions = r.decide(POLICY, mem, Undrain("restart"))
    assert mem.phase == Phase.STARTING and ProbeNow() in actions


def test_probe_failures_make_a_routable_backend_unhealthy_after_the_policy() -> None:
    mem, _ = run([ProcessUp(), ProbePassed("ok"), ProbeFailed(1)])
    assert mem.phase == Phase.ROUTABLE
    mem, _ = run([ProbeFailed(2)], mem)
    assert mem.phase == Phase.UNHEALTHY
    mem, _ = run([ProbePassed("ok")], mem)
    assert mem.phase == Phase.ROUTABLE


def test_a_starting_backend_stays_starting_while_probes_fail() -> None:
    mem, _ = run([ProcessUp(), ProbeFailed(10)])
    assert mem.phase == Phase.STARTING


def test_logged_out_and_captcha_come_back_when_a_probe_passes() -> None:
    for verdict, phase in (("logged_out", Phase.LOGGED_OUT), ("captcha", Phase.CAPTCHA)):
        mem, _ = run([ProcessUp(), ProbePassed("ok"), ProbePassed(verdict)])
        assert mem.phase == phase and not r.can_come_back(mem)
        mem, _ = run([ProbePassed("ok")], mem)
        assert mem.phase == Phase.ROUTABLE


def test_a_probe_of_a_down_backend_changes_nothing() -> None:
    mem, phases = run([ProbePassed("ok"), ProbeFailed(9)])
    assert mem.phase == Phase.DOWN and phases == []


def test_who_can_come_back() -> None:
    assert r.can_come_back(Memory(phase=Phase.DOWN, coming_back=True))
    assert not r.can_come_back(Memory(phase=Phase.DOWN, coming_back=False))
    assert not r.can_come_back(Memory(phase=Phase.DRAINING, held=True))
    assert not r.can_come_back(Memory(phase=Phase.DRAINING, stopping="stop"))
    assert r.can_come_back(Memory(phase=Phase.DRAINING, stopping="restart"))
    assert r.can_come_back(Memory(phase=Phase.UNHEALTHY))
    assert r.why_not(Memory(phase=Phase.DRAINING, held=True)) == "drained"
    assert r.why_not(Memory(phase=Phase.DOWN, coming_back=False)) == "stopped"


@given(st.lists(st.sampled_from(EVENTS), max_size=40))
def test_any_sequence_is_legal_and_ends_consistent(events: list[r.Event]) -> None:
    mem, phases = run(events)
    for a, b in itertools.pairwise([Phase.DOWN, *phases]):
        assert b in r.TRANSITIONS[a]
    assert msgspec.structs.replace(mem) == mem


def test_a_proxy_that_fails_takes_the_backend_out_until_it_says_it_is_back() -> None:
    mem, phases = run([ProcessUp(), ProbePassed("ok"), ProbePassed("proxy_unreachable")])
    assert phases == [Phase.STARTING, Phase.ROUTABLE, Phase.PROXY_DOWN]
    assert r.why_not(mem) == "proxy unreachable"  # what a client and `mictl status` read
    assert r.can_come_back(mem)  # no person needed: requests for it may wait
    mem, phases = run([ProbePassed("ok")], mem)
    assert phases == [Phase.ROUTABLE]
