"""The router's capacity for an instance follows the pages (`tabs`) its
/health reports, over `[router] max_concurrent`; `mictl health` and
/metrics show the pages. Real mictld, fake instances (tests/fake_upstream.py)."""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path

import openai

from tests.conftest import ask, backends, fake, fleet
from tests.helpers import Mictld, wait_until


def metrics(d: Mictld) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{d.front_port}/metrics") as r:
        return r.read().decode()


def in_flight(d: Mictld, name: str) -> float:
    for line in metrics(d).splitlines():
        if line.startswith(f'mictl_in_flight{{backend="{name}"}}'):
            return float(line.split()[1])
    return 0.0


def test_capacity_follows_the_pages_an_instance_reports(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a"]) as (d, client):  # [router] max_concurrent = 1
        assert backends(d)["a"]["max_concurrent"] == 1  # nothing reported: the config's
        fake(d, "a", "_control", {"capacity": 3, "pages": ["free", "busy", "free"], "delay": 2})
        wait_until(lambda: backends(d)["a"]["max_concurrent"] == 3, 30, "capacity 3")
        assert backends(d)["a"]["pages"] == ["free", "busy", "free"]
        text = metrics(d)
        assert 'mictl_instance_pages{backend="a",state="busy"} 1.0' in text
        assert 'mictl_max_concurrent{backend="a"} 3.0' in text
        shown = d.ctl("health", "a", check=True).stdout
        assert "1 busy, 2 free" in shown
        answers: list[str | Exception] = []

        def one(i: int) -> None:
            try:
                answers.append(ask(client, f"req-{i}"))
            except openai.APIError as exc:
                answers.append(exc)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        # All three at the instance at once: none waits in the front queue.
        wait_until(lambda: in_flight(d, "a") == 3, 10, "three in flight")
        for t in threads:
            t.join()
        assert len(answers) == 3 and not any(isinstance(a, Exception) for a in answers)


def test_a_reload_keeps_the_reported_capacity(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a"], "max_concurrent = 1\n") as (d, _):
        fake(d, "a", "_control", {"capacity": 4, "pages": ["free"] * 4})
        wait_until(lambda: backends(d)["a"]["max_concurrent"] == 4, 30, "capacity 4")
        config = d.config.read_text().replace("max_concurrent = 1", "max_concurrent = 2")
        d.write_config(config)
        d.ctl("reload", check=True)  # applied when it returns: the pages still count
        assert backends(d)["a"]["max_concurrent"] == 4
