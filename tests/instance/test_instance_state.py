"""The account's state machine (instance_runner/state.py), tested as
test_machine.py tests the supervisor's: events in, phases out, no browser."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from instance_runner import state
from instance_runner.state import (
    TRANSITIONS,
    Account,
    Answered,
    HumanCheck,
    IllegalMove,
    Lost,
    Memory,
    Opened,
    Phase,
    ProxyBack,
    ProxyDown,
    RateLimited,
    SignedOut,
    decide,
    reported,
)
from instance_runner.types import Health

ROOT = Path(__file__).resolve().parents[2]


def run(*events: state.Event, now: float = 100.0) -> Memory:
    mem = Memory()
    for event in events:
        mem, _ = decide(mem, event, now)
    return mem


def test_every_phase_has_its_moves_and_broken_is_final() -> None:
    assert set(TRANSITIONS) == set(Phase)
    assert TRANSITIONS[Phase.BROKEN] == frozenset()
    for phase, targets in TRANSITIONS.items():
        assert phase not in targets  # staying is not a move


@pytest.mark.parametrize(
    ("events", "phase", "reason"),
    [
        ((Opened(True),), Phase.READY, ""),
        ((Opened(False, "no session cookie"),), Phase.LOGGED_OUT, "no session cookie"),
        ((Opened(True), SignedOut("401")), Phase.LOGGED_OUT, "401"),
        ((Opened(True), SignedOut("401"), Opened(True)), Phase.READY, ""),
        ((Opened(True), HumanCheck("recaptcha", 200.0)), Phase.CAPTCHA, "recaptcha"),
        # a page opened behind a human check: the check stands
        ((HumanCheck("cloudflare", 200.0), Opened(True)), Phase.CAPTCHA, "cloudflare"),
        ((Opened(True), HumanCheck("x", 200.0), Answered()), Phase.READY, ""),
        ((Opened(True), Answered()), Phase.READY, ""),
        ((Opened(True), Lost("gone")), Phase.BROKEN, "gone"),
        ((Lost("gone"),), Phase.BROKEN, "gone"),
        # the proxy fails and comes back: to the phase (and reason) it left
        ((Opened(True), ProxyDown("refused")), Phase.PROXY_DOWN, "refused"),
        ((Opened(True), ProxyDown("refused"), ProxyBack()), Phase.READY, ""),
        ((Opened(False, "no SID"), ProxyDown("x"), ProxyBack()), Phase.LOGGED_OUT, "no SID"),
        ((Opened(True), HumanCheck("cf", 200.0), ProxyDown("x"), ProxyBack()), Phase.CAPTCHA, "cf"),
        ((Opened(True), ProxyDown("a"), ProxyDown("407")), Phase.PROXY_DOWN, "407"),
        # down before any page opened: the page that opens again says what it saw
        ((ProxyDown("refused"),), Phase.PROXY_DOWN, "refused"),
        ((ProxyDown("refused"), Opened(True)), Phase.READY, ""),
        ((ProxyDown("refused"), Opened(False, "no SID")), Phase.LOGGED_OUT, "no SID"),
        ((Opened(True), ProxyBack()), Phase.READY, ""),  # not down: nothing to undo
        ((Opened(True), ProxyDown("x"), Lost("gone")), Phase.BROKEN, "gone"),
        ((Lost("gone"), ProxyDown("x")), Phase.BROKEN, "gone"),
    ],
)
def test_events_move_the_account(events: tuple, phase: Phase, reason: str) -> None:
    mem = run(*events)
    assert (mem.phase, mem.reason) == (phase, reason)


def test_proxy_down_is_reported_whatever_the_pages_do() -> None:
    mem = run(Opened(True), ProxyDown("refused"))
    assert reported(mem, 0.0, pages_ready=True) == Phase.PROXY_DOWN
    assert reported(mem, 0.0, pages_ready=False) == Phase.PROXY_DOWN  # not "starting"
    assert reported(run(ProxyDown("x")), 0.0, pages_ready=False) == Phase.PROXY_DOWN
    assert Phase.PROXY_DOWN.value == "proxy_unreachable"  # what /health says


def test_every_phase_but_broken_can_lose_its_proxy() -> None:
    for phase, targets in TRANSITIONS.items():
        if phase not in (Phase.BROKEN, Phase.PROXY_DOWN):
            assert Phase.PROXY_DOWN in targets, phase
    # and a proxy that fails never ends the runner: no way to BROKEN but Lost
    assert run(Opened(True), ProxyDown("x")).phase != Phase.BROKEN


def test_entering_is_reported_once() -> None:
    mem, entered = decide(Memory(), Opened(True), 0.0)
    assert entered == Phase.READY
    _, again = decide(mem, Opened(True), 0.0)
    assert again is None


def test_a_broken_account_moves_no_more() -> None:
    with pytest.raises(IllegalMove):
        run(Lost("gone"), Opened(True))


def test_a_captcha_reports_ready_when_its_probe_is_due() -> None:
    mem = run(Opened(True), HumanCheck("x", 200.0))
    assert reported(mem, 150.0, pages_ready=True) == Phase.CAPTCHA
    assert reported(mem, 200.0, pages_ready=True) == Phase.READY  # one request probes
    assert reported(mem, 150.0, pages_ready=False) == Phase.STARTING
    assert reported(run(Lost("x")), 0.0, pages_ready=False) == Phase.BROKEN


def test_cooling_is_per_model_and_leaves_the_phase() -> None:
    mem = run(Opened(True), RateLimited("a", 160.0), RateLimited("b", 120.0))
    assert mem.phase == Phase.READY
    assert state.cooling(mem, 110.0) == {"a": 160.0, "b": 120.0}
    assert state.cooling(mem, 130.0) == {"a": 160.0}
    mem, _ = decide(mem, RateLimited("a", 300.0), 130.0)  # a new limit replaces the old
    assert state.cooling(mem, 130.0) == {"a": 300.0}


def test_the_shell_doubles_the_hold_of_each_failed_probe() -> None:
    now = [1000.0]
    account = Account("acct", probe_after=10, probe_max=25, clock=lambda: now[0])
    account.feed(Opened(True))
    assert account.human_check("recaptcha") == 10
    assert account.phase == Phase.CAPTCHA and account.mem.probe_at == 1010
    now[0] = 1010
    assert account.human_check("still") == 20
    now[0] = 1030
    assert account.human_check("still") == 25  # capped
    assert account.answered() is True and account.phase == Phase.READY
    assert account.answered() is False


def test_only_the_machine_writes_the_accounts_memory() -> None:
    offenders = []
    for path in sorted((ROOT / "instance_runner").rglob("*.py")):
        if path.name == "state.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr == "mem":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
                # the flags the account's state used to be kept in (a tool's
                # report of its own, record.py's meta.logged_in, is not one)
                on = target.value if isinstance(target, ast.Attribute) else None
                owner = on.attr if isinstance(on, ast.Attribute) else getattr(on, "id", "")
                if (
                    target.__class__ is ast.Attribute
                    and target.attr
                    in (
                        "logged_in",
                        "captcha_until",
                        "rate_limited_until",
                    )
                    and owner in ("self", "session")
                ):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_health_keeps_each_fact_once_and_derives_the_routers_flags() -> None:
    """/health's flags (ok, logged_out, captcha, rate_limited_until) are read
    off the phase and the cooling, never kept beside them."""
    fields = set(Health.__struct_fields__)
    assert not fields & {"ok", "logged_out", "captcha", "rate_limited_until"}
    base = dict(
        name="a", site="demo", logged_in=True, browser_connected=True,
        page_ready=True, busy=False, queue_length=0,
    )  # fmt: skip
    for phase in Phase:
        wire = Health(state=phase.value, cooling={"m": 9.0}, **base).wire()  # type: ignore[arg-type]
        assert wire["ok"] is (phase == Phase.READY)
        assert wire["logged_out"] is (phase == Phase.LOGGED_OUT)
        assert wire["captcha"] is (phase == Phase.CAPTCHA)
        assert wire["rate_limited_until"] == wire["cooling"] == {"m": 9.0}
        assert wire["state"] == phase.value
