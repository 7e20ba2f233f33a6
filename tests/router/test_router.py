"""The front router over real supervised fake instances, driven with the openai client."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest

from tests.conftest import FAKE, ask, backends, fake, fleet, front, raw_stream, routable
from tests.helpers import Mictld, wait_until

pytestmark = pytest.mark.slow

# ------------------------------------------------------------ strategies


def test_round_robin_spreads_evenly(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a", "b", "c"]) as (_, client):
        served = [ask(client) for _ in range(9)]
        assert collections.Counter(served) == {"a": 3, "b": 3, "c": 3}
        assert served[:3] == sorted(served[:3])  # a stable rotation


def test_weighted_follows_weights_smoothly(tmp_path: Path) -> None:
    router = 'strategy = "weighted"\nweights = { a = 3, b = 1 }\n'
    with fleet(tmp_path, ["a", "b"], router) as (_, client):
        served = [ask(client) for _ in range(8)]
        assert collections.Counter(served) == {"a": 6, "b": 2}
        assert served[:4].count("b") == 1  # interleaved, not a burst


def test_primary_first_spills_over_only_when_busy(tmp_path: Path) -> None:
    # Capacity 2: the primary takes two at once (round robin would split
    # them); only a third, with the primary full, spills over.
    router = 'strategy = "primary_first"\npriorities = { b = 1, a = 2 }\nmax_concurrent = 2\n'
    with fleet(tmp_path, ["a", "b"], router) as (d, client):
        assert {ask(client) for _ in range(4)} == {"b"}
        for name in ("a", "b"):  # busy until let go, however slow the machine
            fake(d, name, "_control", {"hold": True})
        results: list[str] = []
        threads = [threading.Thread(target=lambda: results.append(ask(client))) for _ in range(2)]
        for t in threads:
            t.start()
        wait_until(lambda: backends(d)["b"]["in_flight"] == 2, 30, "b holding both")
        assert backends(d)["a"]["in_flight"] == 0  # b had room: nothing spilled
        third = threading.Thread(target=lambda: results.append(ask(client)))
        third.start()
        wait_until(lambda: backends(d)["a"]["in_flight"] == 1, 30, "the third on a")
        for name in ("a", "b"):
            fake(d, name, "_control", {"hold": False})
        for t in [*threads, third]:
            t.join()
        assert sorted(results) == ["a", "b", "b"]


def test_least_busy_avoids_the_busy_instance(tmp_path: Path) -> None:
    # Capacity 3 each: a busy instance still has room, so only the strategy
    # (not capacity) keeps new requests off it. Round robin would alternate.
    router = 'strategy = "least_busy"\nmax_concurrent = 3\n'
    with fleet(tmp_path, ["a", "b"], router) as (d, client):
        for name in ("a", "b"):  # busy until let go, however slow the machine
            fake(d, name, "_control", {"hold": True})
        slow: list[str] = []
        threads = [threading.Thread(target=lambda: slow.append(ask(client))) for _ in range(2)]
        for t in threads:
            t.start()
        # One each (the second went to the idle one); then b is idle again.
        wait_until(lambda: backends(d)["b"]["in_flight"] == 1, 30, "b busy")
        assert backends(d)["a"]["in_flight"] == 1
        fake(d, "b", "_control", {"hold": False})
        wait_until(lambda: backends(d)["b"]["in_flight"] == 0, 30, "b idle")
        # A request sent to the busy a would wait there: the timeout fails it.
        served = [ask(client, timeout=20) for _ in range(4)]
        assert served == ["b", "b", "b", "b"]
        assert backends(d)["a"]["in_flight"] == 1  # a was busy throughout
        fake(d, "a", "_control", {"hold": False})
        for t in threads:
            t.join()
        assert sorted(slow) == ["a", "b"]


def test_response_time_prefers_the_fast_instance(tmp_path: Path) -> None:
    router = 'strategy = "response_time"\n'
    with fleet(tmp_path, ["a", "b"], router) as (d, client):
        fake(d, "a", "_control", {"delay": 0.3})
        warmup = [ask(client) for _ in range(2)]  # one each: unmeasured goes first
        assert sorted(warmup) == ["a", "b"]
        assert {ask(client) for _ in range(6)} == {"b"}


def test_random_reaches_everyone(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a", "b", "c"], 'strategy = "random"\n') as (_, client):
        assert set(ask(client) for _ in range(60)) == {"a", "b", "c"}


def test_sticky_user_keeps_its_instance_and_falls_back(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a", "b", "c"], 'sticky = "user"\n') as (d, client):
        homes = {u: ask(client, user=u) for u in ("u1", "u2", "u3", "u4", "u5", "u6")}
        assert len(set(homes.values())) > 1  # users are spread
        for u, home in homes.items():
            assert {ask(client, user=u) for _ in range(3)} == {home}
        victim = homes["u1"]
        d.client.call("POST", f"/v1/backends/{victim}/drain", dict)
        moved = ask(client, user="u1")
        assert moved != victim
        # Users who were elsewhere did not move.
        for u, home in homes.items():
            if home != victim:
                assert ask(client, user=u) == home


def test_model_aware_routing_and_unknown_model(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a", "b"]) as (d, client):
        fake(d, "a", "_control", {"models": ["m1"]})
        fake(d, "b", "_control", {"models": ["m2"]})
        wait_until(lambda: backends(d)["a"]["models"] == ["m1"], what="models learned")
        wait_until(lambda: backends(d)["b"]["models"] == ["m2"], what="models learned")
        assert {ask(client, model="m1") for _ in range(4)} == {"a"}
        assert {ask(client, model="m2") for _ in range(4)} == {"b"}
        assert [m.id for m in client.models.list()] == ["m1", "m2"]
        with pytest.raises(openai.NotFoundError) as info:
            ask(client, model="m3")
        assert info.value.code == "model_not_found"


# ------------------------------------------------------------- capacity


def test_queue_is_fifo_and_bounded(tmp_path: Path) -> None:
    router = "queue_size = 3\nqueue_timeout = 30\n"
    with fleet(tmp_path, ["a"], router) as (d, client):
        fake(d, "a", "_control", {"delay": 0.5})
        results: dict[int, object] = {}

        def one(i: int) -> None:
            try:
                results[i] = ask(client, f"req-{i}")
            except openai.APIStatusError as exc:
                results[i] = exc

        threads = []
        for i in range(6):  # 1 in flight + 3 queued + 2 refused
            t = threading.Thread(target=one, args=(i,))
            t.start()
            threads.append(t)
            wait_until(lambda i=i: _in_system(d) >= min(i + 1, 4), 10, "request placed")
        for t in threads:
            t.join()
        refused = [r for r in results.values() if isinstance(r, openai.APIStatusError)]
        assert len(refused) == 2
        assert all(r.status_code == 503 and r.response.headers.get("retry-after") for r in refused)
        assert fake(d, "a", "_stats")["order"] == [f"req-{i}" for i in range(4)]


def _in_system(d: Mictld) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{d.front_port}/metrics") as r:
        text = r.read().decode()
    values = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith(("mictl_queue_length", "mictl_in_flight"))
    }
    return int(sum(values.values()))


def test_queue_timeout_gives_503(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a"], "queue_timeout = 0.5\n") as (d, client):
        fake(d, "a", "_control", {"delay": 3})
        slow = threading.Thread(target=lambda: ask(client))
        slow.start()
        wait_until(lambda: backends(d)["a"]["in_flight"] == 1, what="busy")
        with pytest.raises(openai.APIStatusError) as info:
            ask(client)
        assert info.value.status_code == 503 and info.value.code == "queue_timeout"
        slow.join()


# ------------------------------------------------------ breakers, limits


def test_breaker_opens_half_opens_and_closes(tmp_path: Path) -> None:
    router = "max_retries = 0\n[router.breaker]\nfailures = 2\ncooldown = 1\n"
    with fleet(tmp_path, ["a", "b"], router) as (d, client):
        fake(d, "a", "_control", {"mode": "fail"})
        for _ in range(4):  # round robin: a fails twice
            with contextlib.suppress(openai.APIStatusError):
                ask(client)
        assert backends(d)["a"]["breaker"] == "open"
        assert {ask(client) for _ in range(4)} == {"b"}  # a gets nothing while open
        # After the cooldown one probe goes to a; it fails: open again, longer.
        wait_until(lambda: "a" in routable(d), 10, "half-open")
        results = set()
        for _ in range(2):
            try:
                results.add(ask(client))
            except openai.APIStatusError:
                results.add("failed")
        assert "failed" in results and backends(d)["a"]["breaker"] == "open"
        # Healed: the next probe succeeds and closes it.
        fake(d, "a", "_control", {"mode": "ok"})
        wait_until(lambda: "a" in routable(d), 10, "half-open again")
        wait_until(lambda: ask(client) == "a", 10, "a probed")
        assert backends(d)["a"]["breaker"] == "closed"
        d.ctl("breaker", "reset", "a", check=True)


def test_client_errors_never_open_the_breaker(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a"], "[router.breaker]\nfailures = 1\n") as (d, client):
        fake(d, "a", "_control", {"models": ["m1", "zz"]})
        wait_until(lambda: "zz" in backends(d)["a"]["models"], what="models")
        fake(d, "a", "_control", {"models": ["m1"]})  # now a 404 from the instance
        with pytest.raises(openai.NotFoundError):
            ask(client, model="zz")
        assert backends(d)["a"]["breaker"] == "closed"


def test_429_cools_that_model_and_all_cooling_gives_soonest_retry(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a", "b"]) as (d, client):
        fake(d, "a", "_control", {"mode": "rate_limit", "retry_after": 30})
        assert {ask(client) for _ in range(4)} == {"b"}  # a's 429 fails over to b
        assert backends(d)["a"]["breaker"] == "closed"  # not a fault
        assert "m1" in backends(d)["a"]["cooling"]
        assert ask(client, model="m2") in {"a", "b"}  # only m1 cools on a
        fake(d, "b", "_control", {"mode": "rate_limit", "retry_after": 12})
        with pytest.raises(openai.RateLimitError) as info:
            for _ in range(3):
                ask(client)
        assert 1 <= int(info.value.response.headers["retry-after"]) <= 12


def test_failover_before_first_byte(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a", "b"], 'strategy = "primary_first"\npriorities = { a = 1 }\n') as (
        d,
        client,
    ):
        fake(d, "a", "_control", {"mode": "hangup"})
        assert ask(client) == "b"
        assert ask(client, stream=False) == "b"
        # Stream too: nothing had reached the client.
        stream = client.chat.completions.create(
            model="m1", messages=[{"role": "user", "content": "x"}], stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices).startswith(
            "b"
        )


def test_no_retry_after_the_first_byte(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a", "b"], 'strategy = "primary_first"\npriorities = { a = 1 }\n') as (
        d,
        client,
    ):
        fake(d, "a", "_control", {"mode": "break", "delay": 0.5})
        raw = raw_stream(d, "m1")
        assert b'"content": "a"' in raw  # the start of a's answer arrived
        error_at = raw.index(b'"code":"upstream_reset"')
        assert raw.index(b"data: [DONE]") > error_at
        assert fake(d, "b", "_stats")["requests"] == 0  # never retried
        # A reset stream opened a's breaker at once; close it to try again: the
        # official client surfaces the error event as an exception.
        assert backends(d)["a"]["breaker"] == "open"
        d.ctl("breaker", "reset", "a", check=True)
        stream = client.chat.completions.create(
            model="m1", messages=[{"role": "user", "content": "x"}], stream=True
        )
        with pytest.raises(openai.APIError):
            for _ in stream:
                pass


def test_client_disconnect_cancels_upstream(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a"]) as (d, _):
        fake(d, "a", "_control", {"delay": 5})
        raw_stream(d, "m1", close_after=1)
        wait_until(lambda: fake(d, "a", "_stats")["cancelled"] == 1, 10, "upstream cancelled")
        assert fake(d, "a", "_stats")["completed"] == 0
        wait_until(lambda: backends(d)["a"]["in_flight"] == 0, 10, "slot freed")


def test_drain_sends_nothing_new_and_lets_in_flight_finish(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a", "b"]) as (d, client):
        fake(d, "a", "_control", {"delay": 1.5})
        fake(d, "b", "_control", {"delay": 1.5})
        results: list[str] = []
        threads = [threading.Thread(target=lambda: results.append(ask(client))) for _ in range(2)]
        for t in threads:
            t.start()
        wait_until(lambda: backends(d)["a"]["in_flight"] == 1, what="a busy")
        drained = d.ctl("drain", "a")  # waits for a's request to finish
        assert drained.returncode == 0, drained.stderr
        for t in threads:
            t.join()
        assert sorted(results) == ["a", "b"]
        fake(d, "b", "_control", {"delay": 0})
        assert {ask(client) for _ in range(4)} == {"b"}
        status = json.loads(d.ctl("status", "--json").stdout)
        assert {p["name"]: p["draining"] for p in status} == {"a": True, "b": False}
        d.ctl("undrain", "a", check=True)
        assert {ask(client) for _ in range(4)} == {"a", "b"}


def test_bad_requests_never_reach_an_instance(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a"], "max_body_bytes = 1000\n") as (d, _):
        cases = [
            (b"{not json", 400, "invalid_json"),
            (b'{"model": "m1"}', 400, "invalid_request"),
            (b'{"model": "m1", "messages": []}', 400, "invalid_request"),
            (
                json.dumps(
                    {"model": "m1", "messages": [{"role": "user", "content": "x" * 2000}]}
                ).encode(),
                413,
                "body_too_large",
            ),
            (
                b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}',
                404,
                "model_not_found",
            ),
        ]
        for body, status, code in cases:
            got, _, answer = front(d, body)
            assert (got, answer["error"]["code"]) == (status, code)
            assert answer["error"]["message"]
        assert fake(d, "a", "_stats")["requests"] == 0


def test_api_keys_are_required_when_configured(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("# team keys\nsecret-two\n")
    with fleet(tmp_path, ["a"], 'api_keys = ["secret-one"]\napi_keys_file = "keys"\n') as (d, _):
        body = b'{"model": "m1", "messages": [{"role": "user", "content": "x"}]}'
        assert front(d, body)[0] == 401
        assert front(d, body, {"Authorization": "Bearer wrong"})[0] == 401
        for key in ("secret-one", "secret-two"):
            assert front(d, body, {"Authorization": f"Bearer {key}"})[0] == 200
        assert "secret-one" not in d.output() and "secret-one" not in d.ctl("health").stdout


def test_public_bind_without_keys_is_refused(tmp_path: Path) -> None:
    d = Mictld(tmp_path, router='host = "0.0.0.0"\n')
    result = d.ctl("config", "check", str(d.config))
    assert result.returncode == 2 and "api_keys" in result.stderr


def test_health_endpoints(tmp_path: Path) -> None:
    with fleet(tmp_path, ["a"]) as (d, _):
        base = f"http://127.0.0.1:{d.front_port}"
        with urllib.request.urlopen(f"{base}/healthz") as r:
            assert json.loads(r.read())["status"] == "ok"
        with urllib.request.urlopen(f"{base}/readyz") as r:
            assert json.loads(r.read())["routable"] == ["a"]
        with urllib.request.urlopen(f"{base}/dashboard") as r:
            assert b"<title>mictl dashboard</title>" in r.read()
        with urllib.request.urlopen(f"{base}/dashboard.json") as r:
            snapshot = json.loads(r.read())
        seen = [(p["name"], p["backend"]["routable"]) for p in snapshot["programs"]]
        assert seen == [("a", True)]
        d.client.call("POST", "/v1/programs/a/stop", dict)
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{base}/readyz")
        assert info.value.code == 503
        info.value.close()


def test_recycling_after_n_requests_one_at_a_time(tmp_path: Path) -> None:
    env = {"MICTL_PROFILES__RECYCLE_AFTER_REQUESTS": "3"}
    with fleet(tmp_path, ["a", "b"], env=env) as (d, client):
        pids = {n: d.program(n).pid for n in "ab"}
        for _ in range(6):  # 3 each
            ask(client)
        for name in "ab":
            wait_until(
                lambda n=name: d.program(n).pid != pids[n] and d.program(n).state == "RUNNING",
                30,
                f"{name} recycled",
            )
        assert "restarting (recycle: 3 requests served)" in d.output()
        wait_until(lambda: routable(d) == {"a", "b"}, 30, "both back")
        assert ask(client) in {"a", "b"}


def test_upstream_with_api_key_takes_the_spill_over(tmp_path: Path) -> None:
    from tests.helpers import Proc, free_port, port_open

    port = free_port()
    paid = Proc(
        [sys.executable, str(FAKE), "--port", str(port), "--name", "paid"], tmp_path / "paid.log"
    )
    try:
        wait_until(lambda: port_open(port), 30, "paid upstream")
        body = f"""
        [upstreams.paid]
        base_url = "http://127.0.0.1:{port}/v1"
        api_key_env = "PAID_KEY"
        models = ["m1", "m2"]
        priority = 200
        max_concurrent = 4
        """
        router = 'strategy = "primary_first"\n'
        with fleet(
            tmp_path / "d", ["a"], router, body=body, env={"PAID_KEY": "sk-very-secret"}
        ) as (d, client):
            assert {ask(client) for _ in range(3)} == {"a"}  # the browser first
            fake(d, "a", "_control", {"delay": 1.5})
            slow = threading.Thread(target=lambda: ask(client))
            slow.start()
            wait_until(lambda: backends(d)["a"]["in_flight"] == 1, what="a busy")
            assert ask(client) == "paid"  # spill-over while a is busy
            slow.join()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats") as r:
                assert json.loads(r.read())["auth"] == "Bearer sk-very-secret"
            shown = d.ctl("health", "--json").stdout + d.ctl("status", "--json").stdout
            assert "sk-very-secret" not in shown + d.output()
            assert backends(d)["paid"]["kind"] == "upstream"
    finally:
        paid.stop()


def test_failed_probes_make_it_unhealthy_then_restart_it(tmp_path: Path) -> None:
    health = "unhealthy_after = 2\nrestart_after = 4\n"
    with fleet(tmp_path, ["a", "b"], health=health) as (d, client):
        pid = d.program("a").pid
        fake(d, "a", "_control", {"health": "fail"})
        wait_until(lambda: "a" not in routable(d), 10, "a unhealthy")
        assert {ask(client) for _ in range(3)} == {"b"}
        wait_until(lambda: d.program("a").pid not in (None, pid), 20, "a restarted")
        wait_until(lambda: routable(d) == {"a", "b"}, 20, "a healthy again")


def test_a_slow_starter_is_not_restarted_by_health_probes(tmp_path: Path) -> None:
    """Probes that fail before a new process first answers do not count."""
    health = "unhealthy_after = 1\nrestart_after = 2\n"  # 0.4 s of failures
    env = {"FAKE_START_DELAY": "2"}
    with fleet(tmp_path, ["a"], health=health, env=env) as (d, client):
        assert ask(client) == "a"
        assert d.program("a").restarts == 0
        assert "restarting (health" not in d.output()


# ------------------------------------------------------------------ chaos


@pytest.mark.timeout(240)
def test_chaos_sigkill_under_load_loses_nothing(tmp_path: Path) -> None:
    """Steady load from 6 clients while instances are SIGKILLed and restarted by
    the supervisor; one instance is always alive, so no request may fail."""
    names = ["a", "b", "c"]
    with fleet(tmp_path, names, "queue_timeout = 60\nmax_retries = 3\n") as (d, _client):
        for n in names:
            fake(d, n, "_control", {"delay": 0.05})
        stop = threading.Event()
        outcomes: list[object] = []

        def load() -> None:
            c = openai.OpenAI(
                base_url=f"http://127.0.0.1:{d.front_port}/v1",
                api_key="k",
                max_retries=0,
                timeout=90,
            )
            with c:
                while not stop.is_set():
                    try:
                        outcomes.append(ask(c))
                    except Exception as exc:
                        outcomes.append(exc)

        clients = [threading.Thread(target=load) for _ in range(6)]
        for t in clients:
            t.start()
        kills = 0
        for round_ in range(6):
            victim = names[round_ % 3]
            # Never kill the last routable one: wait until the others are up.
            wait_until(lambda v=victim: routable(d) >= set(names) - {v}, 60, "others routable")
            pid = d.program(victim).pid
            if pid:
                os.kill(pid, signal.SIGKILL)
                kills += 1
            wait_until(
                lambda v=victim, p=pid: (i := d.program(v)).state == "RUNNING" and i.pid != p,
                60,
                f"{victim} restarted",
            )
            # let load run against the restarted fleet before the next kill
            seen = len(outcomes)
            wait_until(lambda s=seen: len(outcomes) >= s + 6, 60, "load on the restarted fleet")
        stop.set()
        for t in clients:
            t.join(120)
        failures = [o for o in outcomes if isinstance(o, Exception)]
        assert kills == 6
        assert len(outcomes) > 50
        assert failures == []
        assert sum(d.program(n).restarts for n in names) == 6
