"""The scaler's decisions, from snapshots, with no processes."""

from __future__ import annotations

from daemon.fleet.scale_policy import (
    PoolSnapshot,
    ScaleDown,
    ScaleMemory,
    ScalePolicy,
    ScaleUp,
    decide,
)

POLICY = ScalePolicy(min_running=1, max_running=3, window=10, cooldown=20)


def snap(running: int, available: int | None = None, demand: int = 0, **kw: object) -> PoolSnapshot:
    names = [f"p{i}" for i in range(5)]
    base = {
        "running": tuple(names[:running]),
        "available": running if available is None else available,
        "in_flight": demand,
        "queued": 0,
        "capacity": running if available is None else available,
        "standby": tuple(names[running:]),
        "removable": tuple(names[:running]),
    }
    return PoolSnapshot(**{**base, **kw})  # type: ignore[arg-type]


def walk(samples: list[tuple[float, PoolSnapshot]]) -> list[tuple[float, object]]:
    mem, steps = ScaleMemory(), []
    for now, s in samples:
        mem, step = decide(POLICY, mem, s, now)
        if step is not None:
            steps.append((now, step))
    return steps


def test_busy_for_a_window_scales_up_one_at_a_time_with_cooldowns() -> None:
    # One instance, always busy: up at 10 s, then not before the 20 s cooldown.
    steps = walk([(t, snap(1, demand=2)) for t in range(0, 30)])
    assert steps == [(10, ScaleUp("p1", "utilisation 200% for 10s"))]
    steps = walk(
        [(t, snap(1, demand=2)) for t in range(0, 11)]
        + [(t, snap(2, demand=4)) for t in range(11, 50)]
    )
    assert [(t, type(s).__name__, s.name) for t, s in steps] == [  # type: ignore[attr-defined]
        (10, "ScaleUp", "p1"),
        (30, "ScaleUp", "p2"),
    ]


def test_a_short_burst_does_not_scale() -> None:
    samples = [(t, snap(1, demand=2)) for t in range(0, 5)] + [
        (t, snap(1, demand=0)) for t in range(5, 40)
    ]
    assert walk(samples) == []


def test_idle_for_a_window_scales_down_to_min_running_and_no_further() -> None:
    steps = walk([(t, snap(3)) for t in range(0, 11)])
    assert steps == [(10, ScaleDown("p2", "utilisation 0% for 10s"))]
    assert walk([(t, snap(1)) for t in range(0, 100)]) == []


def test_max_running_caps_scaling_up() -> None:
    assert walk([(t, snap(3, demand=9)) for t in range(0, 60)]) == []


def test_a_cooling_account_counts_as_unavailable_and_brings_a_standby_up() -> None:
    # The only active account is rate limited: no demand shows (clients get
    # 429s), yet fewer than min_running can take work.
    steps = walk([(0, snap(1, available=0))])
    assert steps == [(0, ScaleUp("p1", "0 of min_running 1 accounts available"))]


def test_nothing_to_start_or_stop_means_no_step() -> None:
    assert walk([(t, snap(1, demand=5, standby=())) for t in range(0, 30)]) == []
    assert walk([(t, snap(3, removable=())) for t in range(0, 30)]) == []
