"""Routability through an operator's day: stop/start, restart, drain/undrain,
`--all`, a profile removed mid-stream, nothing routable, a reload that changes
the strategy. Real daemon, real supervised fake instances, the openai client."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import ask, backends, fake, fleet, front, raw_stream, routable
from tests.helpers import Mictld, wait_until

NAMES = ["a", "b"]


def reaches_everyone(d: Mictld, client, names: list[str] = NAMES) -> None:  # type: ignore[no-untyped-def]
    """Round robin over sequential requests: each instance answers some."""
    wait_until(lambda: set(names) <= routable(d), 30, f"{names} routable")
    assert {ask(client) for _ in range(2 * len(names))} == set(names)


def readyz(d: Mictld) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{d.front_port}/readyz") as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return json.loads(exc.read())


def test_stop_then_start_is_routable_again(tmp_path: Path) -> None:
    with fleet(tmp_path, NAMES) as (d, client):
        d.ctl("stop", "a", check=True)
        assert {ask(client) for _ in range(4)} == {"b"}
        d.ctl("start", "a", check=True)
        reaches_everyone(d, client)
        rows = {p["name"]: p for p in json.loads(d.ctl("status", "--json").stdout)}
        assert rows["a"]["routing"] == "routable" and rows["a"]["routable"]
        assert "RUNNING, routable" in d.ctl("status").stdout


def test_restart_is_routable_again(tmp_path: Path) -> None:
    with fleet(tmp_path, NAMES) as (d, client):
        d.ctl("restart", "a", check=True)
        reaches_everyone(d, client)


def test_drain_then_undrain_and_undrain_of_an_undrained_one(tmp_path: Path) -> None:
    with fleet(tmp_path, NAMES) as (d, client):
        d.ctl("drain", "a", check=True)
        assert {ask(client) for _ in range(4)} == {"b"}
        assert "RUNNING, drained" in d.ctl("status").stdout
        d.ctl("undrain", "a", check=True)
        reaches_everyone(d, client)
        again = d.ctl("undrain", "b")
        assert again.returncode == 1 and "not drained by the operator" in again.stderr


def test_stop_all_then_start_all(tmp_path: Path) -> None:
    with fleet(tmp_path, NAMES) as (d, client):
        d.ctl("stop", "--all", check=True)
        assert readyz(d)["ready"] is False
        d.ctl("start", "--all", check=True)
        wait_until(lambda: readyz(d)["ready"], 30, "/readyz ready")
        reaches_everyone(d, client)


def test_nothing_routable_fails_at_once_with_the_reason(tmp_path: Path) -> None:
    with fleet(tmp_path, NAMES, "queue_timeout = 60\n") as (d, _):
        for name in NAMES:
            d.ctl("drain", name, check=True)
        body = json.dumps({"model": "m1", "messages": [{"role": "user", "content": "x"}]})
        started = time.monotonic()
        status, _, payload = front(d, body.encode())
        assert time.monotonic() - started < 1.0
        assert status == 503
        assert payload["error"]["message"].endswith("all 2 instances drained")
        d.ctl("stop", "a", check=True)
        status, _, payload = front(d, body.encode())
        assert status == 503 and "a stopped" in payload["error"]["message"]
        assert "b drained" in payload["error"]["message"]


def test_a_request_that_can_be_served_later_still_queues(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a"], "queue_timeout = 60\n") as (d, client):
        d.ctl("stop", "a", check=True)
        answers: list[str] = []
        waiter = threading.Thread(target=lambda: answers.append(ask(client)))
        # Restarting: the request waits for it instead of failing.
        d.client.call("POST", "/v1/programs/a/start", dict, {"wait": 0})
        waiter.start()
        waiter.join(60)
        assert answers == ["a"]


def test_profile_removed_while_streaming_finishes_then_stops(tmp_path: Path) -> None:
    with fleet(tmp_path, NAMES, 'strategy = "primary_first"\npriorities = { a = 1 }\n') as (
        d,
        _,
    ):
        fake(d, "a", "_control", {"delay": 3})
        result: list[bytes] = []
        streaming = threading.Thread(target=lambda: result.append(raw_stream(d, "m1")))
        streaming.start()
        wait_until(lambda: backends(d)["a"]["in_flight"] == 1, 10, "a streaming")
        (d.profiles / "a.json").unlink()  # the watcher reloads
        streaming.join(30)
        raw = result[0]
        assert raw.count(b'"content": " ') == 10 and b"data: [DONE]" in raw
        assert b"error" not in raw
        wait_until(lambda: "a" not in d.programs(), 30, "a removed")


def test_reload_reports_a_strategy_change(tmp_path: Path) -> None:
    with fleet(tmp_path, NAMES, 'strategy = "round_robin"\n') as (d, _):
        text = d.config.read_text().replace('strategy = "round_robin"', 'strategy = "least_busy"')
        assert "least_busy" in text, "the test's config names its strategy"
        d.config.write_text(text)
        change = "router.strategy: 'round_robin' -> 'least_busy'"
        out = d.ctl("reload", check=True).stdout
        if f"changed: {change}" not in out:
            # The file watcher saw the edit first and applied it; it says so too.
            assert out.startswith("nothing changed")
            wait_until(lambda: change in d.output(), 10, "the watcher's reload line")
        assert change in d.output()  # the daemon's log names it either way
        again = json.loads(d.ctl("reload", "--json", check=True).stdout)
        assert again["changed"] == [] and again["restarted"] == []
