"""What one account can do now, as a state machine in the shape of
daemon/supervise/machine.py: phases and events as data, the legal moves as a table,
one `_enter` that writes the phase, pure decisions tested without a browser.

Phases: STARTING (no page checked yet), READY, LOGGED_OUT (the site says
the session is gone: refresh the profile), CAPTCHA (the site wants a
person: no work until the next probe, challenge.py), PROXY_DOWN (the
profile's proxy refuses or fails: no work; the runner retries it with
backoff and comes back by itself, to the phase it left, without exiting),
BROKEN (the browser is gone: the runner exits and the supervisor restarts
it). Cooling is per model and orthogonal: a rate-limited model on a READY
account.

The browser session reports what its pages saw (`Opened`, `SignedOut`,
`HumanCheck`, `Lost`), the proxy watch what the proxy did (`ProxyDown`,
`ProxyBack`), the instance what requests saw (`RateLimited`, `Answered`);
`/health` and the instance's ready check read `reported()` and
`refusal()`. Nothing else keeps a flag of its own.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable

import msgspec

from instance_runner.challenge import Challenge

log = logging.getLogger("mictl.instance")


class Phase(enum.Enum):
    STARTING = "starting"
    READY = "ok"
    LOGGED_OUT = "logged_out"
    CAPTCHA = "captcha"
    PROXY_DOWN = "proxy_unreachable"
    BROKEN = "browser_lost"


_P = Phase
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    _P.STARTING: frozenset({_P.READY, _P.LOGGED_OUT, _P.CAPTCHA, _P.PROXY_DOWN, _P.BROKEN}),
    _P.READY: frozenset({_P.LOGGED_OUT, _P.CAPTCHA, _P.PROXY_DOWN, _P.BROKEN}),
    _P.LOGGED_OUT: frozenset({_P.READY, _P.CAPTCHA, _P.PROXY_DOWN, _P.BROKEN}),
    _P.CAPTCHA: frozenset({_P.READY, _P.LOGGED_OUT, _P.PROXY_DOWN, _P.BROKEN}),
    # Back by itself: to the phase it left (ProxyBack), or what a page that
    # opened again saw (Opened).
    _P.PROXY_DOWN: frozenset({_P.READY, _P.LOGGED_OUT, _P.CAPTCHA, _P.BROKEN}),
    _P.BROKEN: frozenset(),
}


# ------------------------------------------------------------------ events


class Opened(msgspec.Struct, frozen=True):
    """A page is open and its sign-in checked."""

    signed_in: bool
    reason: str = ""  # why not signed in (and what would help)


class SignedOut(msgspec.Struct, frozen=True):
    reason: str


class HumanCheck(msgspec.Struct, frozen=True):
    """The site wants a person; no work before `until` (unix time), then one
    request probes."""

    reason: str
    until: float


class Answered(msgspec.Struct, frozen=True):
    """A request was answered: a human check, if any, has passed."""


class RateLimited(msgspec.Struct, frozen=True):
    model: str
    until: float


class Lost(msgspec.Struct, frozen=True):
    reason: str


class ProxyDown(msgspec.Struct, frozen=True):
    """The profile's proxy refused or failed (no credentials in `reason`)."""

    reason: str


class ProxyBack(msgspec.Struct, frozen=True):
    """The proxy answers again, and the pages are still open."""


Event = Opened | SignedOut | HumanCheck | Answered | RateLimited | Lost | ProxyDown | ProxyBack


class Memory(msgspec.Struct, frozen=True, kw_only=True):
    phase: Phase = Phase.STARTING
    reason: str = ""  # why LOGGED_OUT, CAPTCHA or BROKEN
    probe_at: float = 0.0  # CAPTCHA: no work before this (unix time)
    cooling: tuple[tuple[str, float], ...] = ()  # (model, until), per model
    # PROXY_DOWN: the phase (and its reason) it left, where ProxyBack returns.
    resume: Phase = Phase.READY
    resume_reason: str = ""


class IllegalMove(Exception):
    pass


def decide(mem: Memory, event: Event, now: float) -> tuple[Memory, Phase | None]:
    """The new memory, and the phase entered (None: the phase stays)."""
    match event:
        case Opened(signed_in=True) if mem.phase == Phase.CAPTCHA:
            return mem, None  # a human check stands until a request is answered
        case Opened(signed_in=True):
            return _to(mem, Phase.READY, "")
        case Opened(reason=reason) | SignedOut(reason=reason):
            return _to(mem, Phase.LOGGED_OUT, reason)
        case HumanCheck(reason=reason, until=until):
            new, entered = _to(mem, Phase.CAPTCHA, reason)
            return msgspec.structs.replace(new, probe_at=until), entered
        case Answered() if mem.phase == Phase.CAPTCHA:
            new, entered = _to(mem, Phase.READY, "")
            return msgspec.structs.replace(new, probe_at=0.0), entered
        case Answered():
            return mem, None
        case RateLimited(model=model, until=until):
            kept = tuple((m, t) for m, t in mem.cooling if m != model and t > now)
            return msgspec.structs.replace(mem, cooling=(*kept, (model, until))), None
        case Lost(reason=reason):
            return _to(mem, Phase.BROKEN, reason)
        case ProxyDown(reason=reason) if mem.phase in (Phase.PROXY_DOWN, Phase.BROKEN):
            return _to(mem, mem.phase, reason if mem.phase == Phase.PROXY_DOWN else mem.reason)
        case ProxyDown(reason=reason):
            # A STARTING account has no phase to go back to: its page reopens (Opened).
            back = Phase.READY if mem.phase == Phase.STARTING else mem.phase
            kept = msgspec.structs.replace(mem, resume=back, resume_reason=mem.reason)
            return _to(kept, Phase.PROXY_DOWN, reason)
        case ProxyBack() if mem.phase == Phase.PROXY_DOWN:
            return _to(mem, mem.resume, mem.resume_reason)
        case ProxyBack():
            return mem, None
    raise TypeError(f"not an event: {event!r}")


def _to(mem: Memory, phase: Phase, reason: str) -> tuple[Memory, Phase | None]:
    if phase == mem.phase:
        return msgspec.structs.replace(mem, reason=reason), None
    if phase not in TRANSITIONS[mem.phase]:
        raise IllegalMove(f"{mem.phase.name} -> {phase.name}")
    return msgspec.structs.replace(mem, phase=phase, reason=reason), phase


def reported(mem: Memory, now: float, *, pages_ready: bool) -> Phase:
    """The phase /health says. A CAPTCHA account whose probe is due reports
    READY, so that one request probes; pages that are not open (yet, or
    again after every one broke) report STARTING."""
    if mem.phase in (Phase.BROKEN, Phase.PROXY_DOWN):
        return mem.phase  # a proxy that fails says so, whatever the pages are doing
    if not pages_ready or mem.phase == Phase.STARTING:
        return Phase.STARTING
    if mem.phase == Phase.CAPTCHA and now >= mem.probe_at:
        return Phase.READY
    return mem.phase


def cooling(mem: Memory, now: float) -> dict[str, float]:
    return {m: t for m, t in mem.cooling if t > now}


# ------------------------------------------------------------------- shell


class Account:
    """The machine of one account, with its one write point and the
    captcha probe schedule (challenge.py)."""

    def __init__(
        self,
        name: str = "",
        *,
        probe_after: float = 300.0,
        probe_max: float = 3600.0,
        clock: Callable[[], float] = time.time,
        on_enter: Callable[[Phase], None] = lambda phase: None,
    ) -> None:
        self.name = name
        self.clock = clock
        self.mem = Memory()
        # Told of each phase entered, after the log line (the instance fails
        # the requests still waiting for a page when the proxy goes down).
        self.on_enter = on_enter
        self.challenge = Challenge(probe_after=probe_after, probe_max=probe_max, clock=clock)

    @property
    def phase(self) -> Phase:
        return self.mem.phase

    def feed(self, event: Event) -> None:
        self.mem, entered = decide(self.mem, event, self.clock())
        if entered is not None:
            self._enter(entered)

    def _enter(self, phase: Phase) -> None:
        """The one place a phase is entered: one log line with the reason."""
        suffix = f": {self.mem.reason}" if self.mem.reason else ""
        log.info("account %s: %s%s", self.name, phase.name, suffix)
        self.on_enter(phase)

    def human_check(self, reason: str) -> float:
        """The site asked for a person: hold all work, then let one request
        probe; each failed probe doubles the hold. Returns the hold."""
        if self.challenge.enter(reason):
            hold = self.challenge.wait()
            log.warning(
                "account %s: the site wants a person (%s); no work for %.0fs, then one probes",
                self.name, reason, hold,
            )  # fmt: skip
        else:
            hold = self.challenge.probe_failed(reason)
            log.warning(
                "account %s: still a human check (%s); next probe in %.0fs",
                self.name, reason, hold,
            )  # fmt: skip
        self.feed(HumanCheck(reason, self.challenge.next_probe))
        return hold

    def answered(self) -> bool:
        """A request was answered; True when that ended a human check."""
        ended = self.challenge.active
        if ended:
            lasted = self.challenge.clear()
            log.info("account %s: the human check has passed after %.0fs", self.name, lasted)
        self.feed(Answered())
        return ended
