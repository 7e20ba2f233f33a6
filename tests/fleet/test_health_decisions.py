"""Health restarts as pure decisions, beside the others (machine.decide,
recycle.due, scale_policy.decide, rolling.batches): when failed probes ask
for a restart (router/health.py `after_failure`), and when a restart asked
for by probes becomes a give-up (fleet/health_restarts.py `verdict`)."""

from __future__ import annotations

from daemon.config.schema import HealthSection
from daemon.fleet.health_restarts import verdict
from daemon.router.health import FailedProbe, after_failure

CFG = HealthSection(restart_after=3, start_timeout=60.0)


def row(n: int, *, cfg: HealthSection = CFG, instance: bool = True) -> list[FailedProbe]:
    """n failed probes in a row of a RUNNING backend, one a second."""
    out, failures, since = [], 0, None
    for i in range(n):
        d = after_failure(failures, since, starting=False, instance=instance, now=i, cfg=cfg)
        out.append(d)
        failures, since = (0 if d.restart else d.failures), d.starting_since
    return out


def test_the_restart_after_th_failure_in_a_row_restarts_and_a_new_row_begins() -> None:
    decisions = row(7)
    assert [d.failures for d in decisions] == [1, 2, 3, 1, 2, 3, 1]
    assert [d.restart for d in decisions] == [False, False, True, False, False, True, False]


def test_no_restart_when_off_or_for_another_hosts_mictld() -> None:
    assert not any(d.restart for d in row(10, cfg=HealthSection(restart_after=0)))
    assert not any(d.restart for d in row(10, instance=False))
    assert [d.failures for d in row(4, instance=False)] == [1, 2, 3, 4]


def test_a_starting_backend_is_excused_for_start_timeout_from_its_first_failure() -> None:
    first = after_failure(0, None, starting=True, instance=True, now=100.0, cfg=CFG)
    assert first == FailedProbe(0, 100.0, restart=False)  # excused, and since when
    later = after_failure(0, 100.0, starting=True, instance=True, now=159.9, cfg=CFG)
    assert later == FailedProbe(0, 100.0, restart=False)
    # past start_timeout its failures count like any others
    d = after_failure(0, 100.0, starting=True, instance=True, now=160.0, cfg=CFG)
    assert d == FailedProbe(1, 100.0, restart=False)
    d = after_failure(2, 100.0, starting=True, instance=True, now=170.0, cfg=CFG)
    assert d == FailedProbe(3, None, restart=True)  # restarted: its next start is timed afresh


def test_a_running_backend_keeps_what_it_knew_of_its_start() -> None:
    d = after_failure(0, 100.0, starting=False, instance=True, now=200.0, cfg=CFG)
    assert d == FailedProbe(1, 100.0, restart=False)


def test_health_restarts_until_startretries_then_give_up() -> None:
    assert [verdict(n, 3) for n in range(5)] == [
        "restart",
        "restart",
        "restart",
        "give_up",
        "give_up",
    ]
    assert verdict(0, 0) == "give_up"  # startretries = 0: no second chance
