"""The scaler on a real daemon over supervised fake instances: up under load,
down when it stops, an operator's stop left alone, a cooling account replaced."""

from __future__ import annotations

import itertools
import json
import threading
from pathlib import Path

import openai
import pytest

from tests.conftest import COMMAND, ask, fake, routable
from tests.helpers import running, wait_until

pytestmark = pytest.mark.slow

POLICY = (
    "[profiles.program]\nstartsecs = 0\nautorestart = true\nstopwaitsecs = 3\n"
    "[scaling]\nenabled = true\nmin_running = 1\nmax_running = 3\n"
    "window = 1.0\ncooldown = 1.5\ninterval = 0.1\nup_above = 0.8\ndown_below = 0.2\n"
)


def running_names(d) -> set[str]:  # type: ignore[no-untyped-def]
    return {n for n, p in d.programs().items() if p.state in ("STARTING", "RUNNING")}


def scale_events(d) -> list[dict]:  # type: ignore[no-untyped-def]
    out = d.ctl("events", "--json", "-n", "2000").stdout
    return [e for e in map(json.loads, out.splitlines()) if e["kind"] == "scale"]


def test_scales_up_under_load_and_back_down_leaving_the_operators_stop(tmp_path: Path) -> None:
    with running(tmp_path, POLICY, router="queue_timeout = 60\n", command=COMMAND) as d:
        for name in ("a", "b", "c", "d"):
            d.add_profile(name)
        d.start()
        wait_until(lambda: routable(d) == {"a"}, 30, "a routable, the others standby")
        assert running_names(d) == {"a"}
        d.ctl("stop", "d", check=True)  # the operator's: the scaler must never start it
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{d.front_port}/v1", api_key="k", max_retries=0, timeout=60
        )
        fake(d, "a", "_control", {"delay": 0.4})
        stop = threading.Event()
        failures: list[str] = []

        def load() -> None:
            while not stop.is_set():
                try:
                    ask(client)
                except openai.OpenAIError as exc:
                    failures.append(str(exc))

        workers = [threading.Thread(target=load) for _ in range(4)]
        for w in workers:
            w.start()
        try:
            for name in ("b", "c"):
                wait_until(lambda n=name: n in routable(d), 60, f"{name} scaled up")
                fake(d, name, "_control", {"delay": 0.4})
        finally:
            stop.set()
            for w in workers:
                w.join(60)
        client.close()
        assert failures == []
        wait_until(lambda: running_names(d) == {"a"}, 60, "back down to min_running")
        steps = scale_events(d)
        assert [e["detail"] for e in steps] == ["up", "up", "down", "down"]
        gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(steps)]
        # The cooldown between steps (1.5 s; without it a step would follow
        # 0.1 s later). Events are stamped on the wall clock after the decision
        # (a log line in between), so a stamp may lag its decision a little.
        assert all(gap >= 1.5 - 0.1 for gap in gaps), gaps
        assert "d" not in {e["program"] for e in steps}
        assert d.program("d").state == "STOPPED"


def test_a_cooling_account_is_replaced_by_a_standby_one(tmp_path: Path) -> None:
    with running(tmp_path, POLICY, router="", command=COMMAND) as d:
        for name in ("a", "b"):
            d.add_profile(name)
        d.start()
        wait_until(lambda: routable(d) == {"a"}, 30, "a routable, b standby")
        fake(d, "a", "_control", {"mode": "rate_limit", "retry_after": 60})
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{d.front_port}/v1", api_key="k", max_retries=0, timeout=60
        )
        with client:
            with pytest.raises(openai.RateLimitError):
                ask(client)  # a says 429: it cools for 60 s
            wait_until(lambda: "b" in routable(d), 30, "standby b started")
            assert ask(client) == "b"
        assert [(e["program"], e["detail"]) for e in scale_events(d)] == [("b", "up")]


def test_scaling_turned_on_by_a_reload_starts_at_once(tmp_path: Path) -> None:
    """While scaling is off the scaler sleeps (no timer); a reload wakes it."""
    off = POLICY.replace("enabled = true", "enabled = false")
    with running(tmp_path, off, router="", command=COMMAND) as d:
        for name in ("a", "b", "c"):
            d.add_profile(name)
        d.start()
        wait_until(lambda: routable(d) == {"a", "b", "c"}, 30, "all three routable")
        d.config.write_text(d.config.read_text().replace("enabled = false", "enabled = true"))
        assert d.ctl("reload").returncode == 0
        # Idle: down to min_running, one step per cooldown.
        wait_until(lambda: len(running_names(d)) == 1, 60, "scaled down to min_running")
        assert [e["detail"] for e in scale_events(d)] == ["down", "down"]
