"""Whether a backend takes work, as one state machine (shaped like daemon/supervise/machine.py).

`decide(policy, mem, event)` returns the new memory and the actions the shell
(`daemon/router/backend.py`) performs. Nothing here touches a socket, a timer
or the queue: every rule is a line below, tested event by event.

The phases:

    DOWN        the process is not running (stopped, crashed, restarting)
    STARTING    the process runs; no health probe has passed since it started
    ROUTABLE    takes requests (capacity, breaker and per-model cooldowns aside)
    UNHEALTHY   probes fail, or the instance says it is not ready
    LOGGED_OUT  the instance's session is gone: a person must refresh the profile
    CAPTCHA     the site wants a person (captcha, Cloudflare): no work until a probe passes
    PROXY_DOWN  the profile's proxy refuses or fails: no work; the instance retries it and
                says when it is back (no person needed, so requests for it may queue)
    DRAINING    finishes what it has, takes nothing new (operator drain, stop, restart)

Who sends events: the supervisor (ProcessUp / ProcessDown), the health prober
(ProbePassed / ProbeFailed), the supervisor's drain before a stop or restart and
the operator's drain / undrain (Drain / Undrain). Nobody else writes a phase.
Per-model rate-limit cooldowns and the circuit breaker are not phases: a
cooling backend still serves other models, and the breaker is its own machine
(breaker.py); both are checked when a request is placed.
"""

from __future__ import annotations

import enum
from typing import Literal

import msgspec

from daemon.types import DrainReason


class Phase(enum.Enum):
    DOWN = "down"
    STARTING = "starting"
    ROUTABLE = "routable"
    UNHEALTHY = "unhealthy"
    LOGGED_OUT = "logged_out"
    CAPTCHA = "captcha"
    PROXY_DOWN = "proxy_unreachable"
    DRAINING = "draining"


UP_PHASES = frozenset(
    {
        Phase.STARTING,
        Phase.ROUTABLE,
        Phase.UNHEALTHY,
        Phase.LOGGED_OUT,
        Phase.CAPTCHA,
        Phase.PROXY_DOWN,
    }
)

# The legal moves, as data. Every phase can go DOWN (the process died) and to
# DRAINING (a drain may come at any time); the rest are the arrows below.
_P = Phase
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    _P.DOWN: frozenset({_P.STARTING, _P.DRAINING}),
    _P.STARTING: frozenset(
        {_P.ROUTABLE, _P.UNHEALTHY, _P.LOGGED_OUT, _P.CAPTCHA, _P.PROXY_DOWN, _P.DRAINING, _P.DOWN}
    ),
    _P.ROUTABLE: frozenset(
        {_P.UNHEALTHY, _P.LOGGED_OUT, _P.CAPTCHA, _P.PROXY_DOWN, _P.DRAINING, _P.DOWN}
    ),
    _P.UNHEALTHY: frozenset(
        {_P.ROUTABLE, _P.LOGGED_OUT, _P.CAPTCHA, _P.PROXY_DOWN, _P.DRAINING, _P.DOWN}
    ),
    _P.LOGGED_OUT: frozenset(
        {_P.ROUTABLE, _P.UNHEALTHY, _P.CAPTCHA, _P.PROXY_DOWN, _P.DRAINING, _P.DOWN}
    ),
    _P.CAPTCHA: frozenset(
        {_P.ROUTABLE, _P.UNHEALTHY, _P.LOGGED_OUT, _P.PROXY_DOWN, _P.DRAINING, _P.DOWN}
    ),
    _P.PROXY_DOWN: frozenset(
        {_P.ROUTABLE, _P.UNHEALTHY, _P.LOGGED_OUT, _P.CAPTCHA, _P.DRAINING, _P.DOWN}
    ),
    _P.DRAINING: frozenset({_P.STARTING, _P.DOWN}),
}

Verdict = Literal["ok", "not_ready", "logged_out", "captcha", "proxy_unreachable"]

# What each verdict of a passing probe makes of a backend.
VERDICT_PHASE: dict[str, Phase] = {
    "ok": Phase.ROUTABLE,
    "not_ready": Phase.UNHEALTHY,
    "logged_out": Phase.LOGGED_OUT,
    "captcha": Phase.CAPTCHA,
    "proxy_unreachable": Phase.PROXY_DOWN,
}

# ------------------------------------------------------------------ events


class ProcessUp(msgspec.Struct, frozen=True):
    """The supervisor says the process is RUNNING (a new process: probe it)."""


class ProcessDown(msgspec.Struct, frozen=True):
    """The process is not running. `coming_back`: the supervisor will start
    it again by itself (a restart, a backoff, an autorestart)."""

    state: str
    coming_back: bool


class ProbePassed(msgspec.Struct, frozen=True):
    """The instance answered its /health; `verdict` is what it said."""

    verdict: Verdict


class ProbeFailed(msgspec.Struct, frozen=True):
    """No answer from /health; `failures` in a row so far."""

    failures: int
    why: str = ""


class Drain(msgspec.Struct, frozen=True):
    reason: DrainReason


class Undrain(msgspec.Struct, frozen=True):
    reason: DrainReason


Event = ProcessUp | ProcessDown | ProbePassed | ProbeFailed | Drain | Undrain

# ----------------------------------------------------------------- actions


class Enter(msgspec.Struct, frozen=True):
    phase: Phase
    reason: str = ""


class ProbeNow(msgspec.Struct, frozen=True):
    """Probe at once and quickly until one passes (after a start or an undrain)."""


Action = Enter | ProbeNow


class Memory(msgspec.Struct, frozen=True, kw_only=True):
    phase: Phase = Phase.DOWN
    held: bool = False  # drained by the operator: stays so until undrained
    stopping: Literal["", "stop", "restart"] = ""  # drained for a stop or a restart
    coming_back: bool = True  # while DOWN: will the supervisor start it again?
    reason: str = ""  # why it is in its phase


class Policy(msgspec.Struct, frozen=True, kw_only=True):
    unhealthy_after: int = 3  # failed probes in a row before a ROUTABLE backend is UNHEALTHY


class IllegalTransition(Exception):
    pass


def check_edge(old: Phase, new: Phase) -> None:
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"{old.name} -> {new.name}")


def decide(policy: Policy, mem: Memory, event: Event) -> tuple[Memory, list[Action]]:
    actions: list[Action] = []
    match event:
        case ProcessUp():
            if mem.phase in UP_PHASES:
                actions.append(ProbeNow())  # told twice: nothing new to enter
                return mem, actions
            mem = msgspec.structs.replace(mem, stopping="", coming_back=True)
            if mem.held:
                mem = _enter(mem, actions, Phase.DRAINING, "drained by the operator")
            else:
                mem = _enter(mem, actions, Phase.STARTING, "process running; probing")
                actions.append(ProbeNow())
        case ProcessDown(state=state, coming_back=coming_back):
            # A finished stop or restart leaves nothing to drain: the stop's
            # drain ends here (an operator's hold does not).
            mem = msgspec.structs.replace(mem, stopping="", coming_back=coming_back)
            mem = _enter(mem, actions, Phase.DOWN, f"process {state}")
        case ProbePassed(verdict=verdict):
            if mem.phase in UP_PHASES:
                mem = _enter(mem, actions, VERDICT_PHASE[verdict], f"health: {verdict}")
        case ProbeFailed(failures=failures, why=why):
            # A fresh process stays STARTING while it fails (it is still coming up).
            if mem.phase in UP_PHASES - {Phase.STARTING} and failures >= policy.unhealthy_after:
                mem = _enter(mem, actions, Phase.UNHEALTHY, f"{failures} failed probes ({why})")
        case Drain(reason=reason):
            if reason == "operator":
                mem = msgspec.structs.replace(mem, held=True)
            elif mem.phase != Phase.DOWN:
                mem = msgspec.structs.replace(mem, stopping=reason)
            if mem.phase != Phase.DOWN:
                mem = _enter(mem, actions, Phase.DRAINING, _drain_reason(mem))
        case Undrain(reason=reason):
            if reason == "operator":
                mem = msgspec.structs.replace(mem, held=False)
            else:
                mem = msgspec.structs.replace(mem, stopping="")
            if mem.phase == Phase.DRAINING:
                if mem.held or mem.stopping:
                    mem = _enter(mem, actions, Phase.DRAINING, _drain_reason(mem))
                else:
                    mem = _enter(mem, actions, Phase.STARTING, "undrained; probing")
                    actions.append(ProbeNow())
    return mem, actions


def _drain_reason(mem: Memory) -> str:
    if mem.stopping:
        return f"draining for a {mem.stopping}"
    return "drained by the operator"


def _enter(mem: Memory, actions: list[Action], phase: Phase, reason: str) -> Memory:
    """The one write point of a phase. Staying put is no transition."""
    if phase == mem.phase:
        return msgspec.structs.replace(mem, reason=reason) if phase == Phase.DRAINING else mem
    check_edge(mem.phase, phase)
    actions.append(Enter(phase, reason))
    return msgspec.structs.replace(mem, phase=phase, reason=reason)


# ------------------------------------------------------------- questions


def can_come_back(mem: Memory) -> bool:
    """Could this backend take work later without a person acting? A request
    that finds no backend able to do so fails at once instead of queueing."""
    if mem.held or mem.stopping == "stop":
        return False
    if mem.phase == Phase.DOWN:
        return mem.coming_back
    return mem.phase not in (Phase.LOGGED_OUT, Phase.CAPTCHA)


def why_not(mem: Memory) -> str:
    """A few words for a client or `mictl status`: why it takes no work."""
    if mem.phase == Phase.DOWN:
        return "restarting" if mem.coming_back else "stopped"
    if mem.held:
        return "drained"
    if mem.stopping:
        return "draining" if mem.stopping == "stop" else "restarting"
    return mem.phase.value.replace("_", " ")
