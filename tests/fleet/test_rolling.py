"""A rolling restart of the demo's instances under steady client load."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest

from instance_runner.sites.demo.answers import answer
from tests.demo_daemon import demo
from tests.helpers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

INSTANCES = {"demo-a", "demo-b"}


def test_rolling_restart_under_load_fails_no_request(tmp_path: Path) -> None:
    with demo(tmp_path) as d:
        wait_until(lambda: d.routable() == INSTANCES, 120, "both demo instances")
        pids = {p["name"]: p["pid"] for p in json.loads(d.ctl("status", "--json").stdout)}
        stop = threading.Event()
        failures: list[str] = []
        served: list[str] = []

        def load(worker: int) -> None:
            client = openai.OpenAI(
                base_url=f"http://127.0.0.1:{d.front}/v1", api_key="x", max_retries=0, timeout=120
            )
            with client:
                i = 0
                while not stop.is_set():
                    prompt = f"worker {worker} question {i}"
                    try:
                        if i % 2:
                            stream = client.chat.completions.create(
                                model="demo-fast",
                                messages=[{"role": "user", "content": prompt}],
                                stream=True,
                            )
                            text = "".join(
                                c.choices[0].delta.content or "" for c in stream if c.choices
                            )
                        else:
                            reply = client.chat.completions.create(
                                model="demo-fast", messages=[{"role": "user", "content": prompt}]
                            )
                            text = reply.choices[0].message.content or ""
                        if text != answer("demo-fast", prompt):
                            failures.append(f"{prompt}: wrong answer {text!r}")
                        served.append(prompt)
                    except openai.OpenAIError as exc:
                        failures.append(f"{prompt}: {exc}")
                    i += 1

        not_ready: list[dict] = []

        def watch_ready() -> None:
            """One batch at a time: something stays routable throughout."""
            while not stop.is_set():
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{d.front}/readyz") as r:
                        r.read()
                except urllib.error.HTTPError as exc:
                    with exc:
                        not_ready.append(json.loads(exc.read()))
                stop.wait(0.05)

        workers = [threading.Thread(target=load, args=(w,)) for w in range(3)]
        workers.append(threading.Thread(target=watch_ready))
        for w in workers:
            w.start()
        try:
            wait_until(lambda: len(served) >= 3, 60, "load running")
            rolled = d.ctl("restart", "--all", "--rolling")
            at_roll_end = len(served)
            wait_until(lambda: len(served) >= at_roll_end + 3, 60, "load after the roll")
        finally:
            stop.set()
            for w in workers:
                w.join(120)
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        assert failures == []
        assert not_ready == []
        after = {p["name"]: p["pid"] for p in json.loads(d.ctl("status", "--json").stdout)}
        assert all(after[n] != pids[n] for n in INSTANCES)  # each one restarted
        assert after["demo-site"] == pids["demo-site"]  # the site program was left alone
        out = d.ctl("events", "--json", "-n", "2000").stdout
        events = [json.loads(line) for line in out.splitlines()]
        restarts = [e["program"] for e in events if e["kind"] == "restart"]
        assert sorted(restarts) == sorted(INSTANCES)  # once each
        roll = [e["detail"] for e in events if e["kind"] == "roll"]
        assert roll == [
            "batch 1/2: demo-a",
            "batch 1/2 routable",
            "batch 2/2: demo-b",
            "batch 2/2 routable",
            "done",
        ]
