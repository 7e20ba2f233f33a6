"""A front mictld over other hosts' mictlds (`kind = "mictld"` upstreams), on loopback.

The first test runs "hosts" whose instances are fake upstreams (fast); the
second runs two hosts with the bundled demo (demo site + one real Chromium
instance each) and SIGKILLs one whole host under load.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from daemon.supervise import orphans
from instance_runner.sites.demo.answers import answer
from tests.helpers import (
    BIN,
    DEMO_PROFILES,
    REPO,
    Mictld,
    alive,
    descendants,
    free_port,
    free_port_block,
    running,
    wait_until,
)

FAKE = Path(__file__).resolve().parents[1] / "fake_upstream.py"
COMMAND = f"{sys.executable} {FAKE} --port {{port}} --name {{name}}"
HOST_KEY = "host-key-between-hosts"


def backends(d: Mictld) -> dict[str, dict]:
    return {b["name"]: b for b in d.client.call("GET", "/v1/backends", list)}


def upstream(name: str, port: int, key_file: Path) -> str:
    return f"""
    [upstreams.{name}]
    base_url = "http://127.0.0.1:{port}/v1"
    kind = "mictld"
    api_key_file = "{key_file}"
    """


def key_file(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "host.key"
    path.write_text(HOST_KEY + "\n")
    path.chmod(0o600)
    return path


def test_a_mictld_host_is_routable_after_its_readyz_and_cools_per_model(tmp_path: Path) -> None:
    keys = key_file(tmp_path / "keys")
    policy = "[profiles.program]\nstartsecs = 0\nautorestart = true\nstopwaitsecs = 3\n"
    host_router = f'api_keys_file = "{keys}"\n'
    with (
        running(tmp_path / "host", policy, router=host_router, command=COMMAND) as host,
        running(tmp_path / "front", router="") as front_d,
    ):
        front_d.write_config(front_d.config.read_text() + upstream("hosta", host.front_port, keys))
        plan = subprocess.run(
            [str(BIN / "mictld"), "--dry-run", "-c", str(front_d.config)],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        assert any(line.split()[:2] == ["hosta", "mictld"] for line in plan.splitlines()), plan
        front_d.start()
        # No host yet: the front knows it, but it takes work only once its /readyz passed.
        seen = backends(front_d)["hosta"]
        assert (seen["kind"], seen["routable"], seen["health"]) == ("mictld", False, "starting")

        host.add_profile("a")
        host.start()
        wait_until(lambda: backends(front_d)["hosta"]["routable"], 30, "hosta routable")
        assert backends(front_d)["hosta"]["models"] == ["m1", "m2"]  # from its /v1/models
        # Its capacity too: one fake account, one request at a time (the config says 8).
        assert backends(front_d)["hosta"]["max_concurrent"] == 1
        # A reload that changes the host's settings keeps what the front learned of it.
        front_d.write_config(front_d.config.read_text() + "weight = 2\n")
        assert front_d.ctl("reload").returncode == 0
        assert backends(front_d)["hosta"]["models"] == ["m1", "m2"]
        assert front_d.output().count("hosta: starting") == 1, front_d.output()
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{front_d.front_port}/v1",
            api_key="k",
            max_retries=0,
            timeout=30,
        )
        with client:
            assert {m.id for m in client.models.list()} == {"m1", "m2"}
            reply = client.chat.completions.create(
                model="m1", messages=[{"role": "user", "content": "hi"}]
            )
            assert reply.choices[0].message.content == "a"  # through the host, with its key
            assert backends(host)["a"]["served"] == 1

            # The host's only account is rate limited for m1: the host answers 429
            # with Retry-After, which cools that host for m1 only.
            port = host.program("a").port
            control = f"http://127.0.0.1:{port}/_control"
            _post(control, {"mode": "rate_limit", "retry_after": 40})
            with pytest.raises(openai.RateLimitError):
                client.chat.completions.create(
                    model="m1", messages=[{"role": "user", "content": "hi"}]
                )
            cooling = backends(front_d)["hosta"]["cooling"]
            assert set(cooling) == {"m1"} and 30 < cooling["m1"] <= 40
            _post(control, {"mode": "ok"})
            reply = client.chat.completions.create(
                model="m2", messages=[{"role": "user", "content": "hi"}]
            )
            assert reply.choices[0].message.content == "a"

            # The host drains its account: its /readyz says not ready.
            assert host.ctl("drain", "a").returncode == 0
            wait_until(lambda: not backends(front_d)["hosta"]["routable"], 10, "hosta not ready")
            assert backends(front_d)["hosta"]["health"] == "unhealthy"
            assert host.ctl("undrain", "a").returncode == 0
            wait_until(lambda: backends(front_d)["hosta"]["routable"], 10, "hosta ready again")
        shown = front_d.ctl("health", "--json").stdout + front_d.output()
        assert HOST_KEY not in shown


def _post(url: str, payload: dict) -> None:
    import urllib.request

    with urllib.request.urlopen(url, json.dumps(payload).encode()) as r:
        r.read()


# ------------------------------------------------------- two demo hosts


class DemoHost:
    """`mictld -c etc/demo.toml` with one profile, everything in its own dir."""

    def __init__(self, root: Path, profile: str, keys: Path) -> None:
        self.root = root
        profiles = root / "profiles"
        profiles.mkdir(parents=True)
        (profiles / f"{profile}.json").write_text((DEMO_PROFILES / f"{profile}.json").read_text())
        site, self.port = free_port(), free_port()
        self.socket = root / "mictl.sock"
        self.env = {
            **os.environ,
            "MICTL_DAEMON__SOCKET": str(self.socket),
            "MICTL_DAEMON__STATE_DIR": str(root / "state"),
            "MICTL_DAEMON__LOG_DIR": str(root / "log"),
            "MICTL_PROFILES__DIR": str(profiles),
            "MICTL_ROUTER__PORT": str(self.port),
            "MICTL_ROUTER__API_KEYS_FILE": str(keys),
            "MICTL_PROFILES__BASE_PORT": str(free_port_block(4)),
            "MICTL_PROGRAMS__DEMO-SITE__COMMAND": f"mictl-demo-site --port {site}",
            "MICTL_PROFILES__PROGRAM__ENVIRONMENT": f'MICTL_SITE_URL="http://127.0.0.1:{site}/"',
        }
        out = open(root / "mictld.out", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(BIN / "mictld"), "-c", str(REPO / "etc" / "demo.toml")],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        out.close()

    def kill_everything(self) -> list[int]:
        """SIGKILL the daemon and every process below it, all at once."""
        pids = descendants(self.proc.pid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait()
        return pids

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        orphans.cleanup(str(self.root / "state"), timeout=5)


@contextlib.contextmanager
def demo_hosts(tmp_path: Path, keys: Path) -> Iterator[tuple[DemoHost, DemoHost]]:
    hosts: list[DemoHost] = []
    try:
        hosts.append(DemoHost(tmp_path / "hosta", "demo-a", keys))
        hosts.append(DemoHost(tmp_path / "hostb", "demo-b", keys))
        yield hosts[0], hosts[1]
    finally:
        for host in hosts:
            host.stop()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_demo_hosts_one_sigkilled_under_load_loses_no_request(tmp_path: Path) -> None:
    keys = key_file(tmp_path / "keys")
    with (
        demo_hosts(tmp_path, keys) as (a, b),
        running(tmp_path / "front", router="max_retries = 3\n") as front_d,
    ):
        body = upstream("hosta", a.port, keys) + upstream("hostb", b.port, keys)
        front_d.write_config(front_d.config.read_text() + body)
        front_d.start()
        wait_until(
            lambda: all(x["routable"] for x in backends(front_d).values()),
            180,
            "both hosts routable at the front",
        )
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{front_d.front_port}/v1",
            api_key="unused",
            max_retries=0,
            timeout=120,
        )
        with client:
            assert {m.id for m in client.models.list()} == {"demo-fast", "demo-smart", "demo-long"}
            stop = threading.Event()
            failures: list[str] = []

            def load(worker: int) -> None:
                i = 0
                while not stop.is_set():
                    prompt = f"worker {worker} question {i}"
                    i += 1
                    try:
                        reply = client.chat.completions.create(
                            model="demo-fast", messages=[{"role": "user", "content": prompt}]
                        )
                    except openai.OpenAIError as exc:
                        failures.append(f"{prompt}: {exc!r}")
                        continue
                    if reply.choices[0].message.content != answer("demo-fast", prompt):
                        failures.append(f"{prompt}: wrong answer")

            threads = [threading.Thread(target=load, args=(w,)) for w in range(3)]
            for t in threads:
                t.start()
            try:
                wait_until(
                    lambda: all(x["served"] >= 2 for x in backends(front_d).values()),
                    120,
                    "both hosts serving the load",
                )
                killed = a.kill_everything()
                wait_until(lambda: not any(alive(p) for p in killed), 10, "host a gone")
                wait_until(
                    lambda: not backends(front_d)["hosta"]["routable"], 30, "hosta not routable"
                )
                served_a = backends(front_d)["hosta"]["served"]
                served_b = backends(front_d)["hostb"]["served"]
                wait_until(
                    lambda: backends(front_d)["hostb"]["served"] >= served_b + 9,
                    120,
                    "load served by b after the kill",
                )
            finally:
                stop.set()
                for t in threads:
                    t.join(130)
            assert failures == []
            after = backends(front_d)
            assert after["hosta"]["served"] == served_a  # nothing more went to the dead host
            assert after["hostb"]["served"] >= served_b + 9
        health = front_d.ctl("health").stdout
        row = next(line.split() for line in health.splitlines() if line.startswith("hosta"))
        assert row[1:3] == ["mictld", "no"], health
        row = next(line.split() for line in health.splitlines() if line.startswith("hostb"))
        assert row[1:3] == ["mictld", "yes"], health


def test_a_host_503_asks_for_its_readyz_and_its_429_cools_that_model() -> None:
    from daemon.router.classify import classify

    busy, broken, limited = (classify("mictld", status) for status in (503, 502, 429))
    assert (busy.outcome, busy.retry, busy.probe) == ("neutral", True, True)
    assert (broken.outcome, broken.retry, broken.probe) == ("fail", True, True)
    assert (limited.cool, limited.retry) == (True, True)
    assert classify("upstream", 503).probe is False  # a plain upstream has nothing to probe
