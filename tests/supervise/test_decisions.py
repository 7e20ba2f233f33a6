"""Pure decisions of the daemon, without processes: the reload plan, the
recycle policy and what a backend's answer means."""

from __future__ import annotations

import msgspec
import pytest

from daemon import reload
from daemon.config.loader import Config, RouterSection
from daemon.fleet import recycle
from daemon.router.classify import REFUSED, TIMED_OUT, classify
from daemon.types import ProgramSpec


def spec(name: str, **kw: object) -> ProgramSpec:
    return ProgramSpec(name=name, argv=("x",), **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------ reload


def test_plan_sorts_programs_into_added_removed_restarted_unchanged() -> None:
    cfg = Config()
    old = [spec("a"), spec("b"), spec("c", port=3001)]
    new = [spec("b"), spec("c", port=3002), spec("d")]
    p = reload.plan(cfg, cfg, old, new)
    assert [s.name for s in p.add] == ["d"]
    assert p.remove == ("a",)
    assert [s.name for s in p.restart] == ["c"] and p.restart[0].port == 3002
    assert p.unchanged == ("b",)
    assert p.changed == ()


def test_plan_names_settings_changed_in_place_and_hides_secrets() -> None:
    old = Config()
    new = msgspec.structs.replace(
        old,
        router=msgspec.structs.replace(
            RouterSection(), strategy="least_busy", api_keys=["sk-secret-value"]
        ),
    )
    p = reload.plan(old, new, [], [])
    assert "router.strategy: 'round_robin' -> 'least_busy'" in p.changed
    assert "router.api_keys: changed" in p.changed
    assert not any("sk-secret-value" in line for line in p.changed)


# ------------------------------------------------------------------ recycle


def view(name: str, **kw: object) -> recycle.InstanceView:
    base = {"routable": True, "served": 0, "uptime": 0.0}
    return recycle.InstanceView(name=name, **{**base, **kw})  # type: ignore[arg-type]


def test_recycle_by_requests_age_and_memory() -> None:
    policy = recycle.RecyclePolicy(after_requests=3, after_seconds=100, above_mb=500)
    assert recycle.due(policy, [view("a", served=3), view("b")]) == ("a", "3 requests served")
    assert recycle.due(policy, [view("a"), view("b", uptime=120)]) == ("b", "up 120s")
    assert recycle.due(policy, [view("a", memory_mb=600), view("b")]) == ("a", "600 MB")
    assert recycle.due(policy, [view("a"), view("b")]) is None


def test_recycle_never_takes_the_last_routable_one() -> None:
    policy = recycle.RecyclePolicy(after_requests=1)
    assert recycle.due(policy, [view("a", served=5), view("b", routable=False)]) is None
    assert recycle.due(policy, [view("a", served=5)]) == ("a", "5 requests served")  # alone


def test_recycle_off_by_default() -> None:
    assert recycle.due(recycle.RecyclePolicy(), [view("a", served=10**6)]) is None


# ------------------------------------------------------------------ classify


@pytest.mark.parametrize(
    ("kind", "status", "outcome", "retry", "cool", "probe"),
    [
        ("instance", 200, "ok", False, False, False),
        ("instance", 400, "neutral", False, False, False),  # the client's fault
        ("instance", 404, "neutral", False, False, False),
        ("instance", 413, "neutral", False, False, False),
        ("instance", 429, "neutral", True, True, False),  # a cooldown, not a fault
        ("instance", 503, "neutral", True, False, True),  # its own state: ask /health
        ("instance", 500, "fail", True, False, True),
        ("instance", 502, "fail", True, False, True),
        ("instance", 504, "fail", True, False, True),
        ("upstream", 503, "fail", True, False, False),
        ("upstream", REFUSED, "hard_fail", True, False, True),
        ("instance", TIMED_OUT, "fail", True, False, False),
    ],
)
def test_classify_table(
    kind: str, status: int, outcome: str, retry: bool, cool: bool, probe: bool
) -> None:
    v = classify(kind, status)  # type: ignore[arg-type]
    assert (v.outcome, v.retry, v.cool, v.probe) == (outcome, retry, cool, probe)
