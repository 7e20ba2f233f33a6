"""The captcha state's schedule: probes back off, never hammer, and clear."""

from __future__ import annotations

from instance_runner.challenge import Challenge


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_probes_back_off_to_the_cap() -> None:
    clock = Clock()
    c = Challenge(probe_after=10, probe_max=50, clock=clock)
    assert c.enter("recaptcha validation failed")
    assert c.active and c.wait() == 10
    clock.now += 4
    assert not c.enter("again"), "a second refusal does not restart the schedule"
    assert c.wait() == 6
    delays = [c.probe_failed() for _ in range(4)]
    assert delays == [20, 40, 50, 50]
    assert c.probes == 4


def test_a_passing_probe_clears_and_a_new_captcha_starts_over() -> None:
    clock = Clock()
    c = Challenge(probe_after=10, probe_max=100, clock=clock)
    c.enter("cloudflare")
    c.probe_failed()
    clock.now += 25
    assert c.clear() == 25
    assert not c.active and c.wait() == 0
    assert c.enter("recaptcha")
    assert c.wait() == 10, "the back-off starts from probe_after again"
