"""A front mictld that finds its hosts in DNS (`discover = "dns:NAME:PORT"`).

A DNS server in the test (dnslib) answers accounts.test with 127.0.0.2 and
127.0.0.3, where two account mictlds listen on one port (the whole of 127/8 is
loopback on Linux); their instances are fake upstreams that stream slowly.
Under load the test swaps 127.0.0.3 for 127.0.0.4: no request fails, .3 is
drained (its streams finish, it gets nothing new) and removed, .4 takes work
once its /readyz passed.
"""

from __future__ import annotations

import json
import sys
import threading
import urllib.request
from pathlib import Path

import openai
import pytest
from dnslib import QTYPE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from tests.helpers import Mictld, free_port, running, wait_until

FAKE = Path(__file__).resolve().parents[1] / "fake_upstream.py"
COMMAND = f"{sys.executable} {FAKE} --port {{port}} --name {{name}}"
NAME = "accounts.test"


class Zone(BaseResolver):
    """accounts.test's A records, changed by the test; TTL 1 s."""

    def __init__(self) -> None:
        self.addresses: list[str] = []
        self.asked = 0

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        self.asked += 1
        reply = request.reply()
        q = request.q
        if str(q.qname).rstrip(".") == NAME and q.qtype == QTYPE.A:
            for address in list(self.addresses):
                reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(address), ttl=1))
        return reply


def backends(d: Mictld) -> dict[str, dict]:
    return {b["name"]: b for b in d.client.call("GET", "/v1/backends", list)}


def slow(host: Mictld, account: str) -> None:
    """Its fake instance streams in about a second."""
    port = host.program(account).port
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/_control", json.dumps({"delay": 1.0}).encode()
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        r.read()


@pytest.mark.timeout(240)
def test_hosts_come_and_go_with_their_dns_records_and_no_request_fails(tmp_path: Path) -> None:
    zone = Zone()
    dns_port = free_port()
    quiet = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data")
    server = DNSServer(zone, port=dns_port, address="127.0.0.1", logger=quiet)
    server.start_thread()
    port = free_port()  # every account host's front port, each on its own address
    policy = "[profiles.program]\nstartsecs = 0\nautorestart = true\nstopwaitsecs = 3\n"
    front_body = f"""
    [upstreams.accounts]
    kind = "mictld"
    discover = "dns:{NAME}:{port}"
    nameserver = "127.0.0.1:{dns_port}"
    """
    hosts: dict[str, Mictld] = {}
    try:
        with (
            running(tmp_path / "h2", policy, router="", command=COMMAND) as h2,
            running(tmp_path / "h3", policy, router="", command=COMMAND) as h3,
            running(tmp_path / "h4", policy, router="", command=COMMAND) as h4,
            running(tmp_path / "front", front_body, router="max_retries = 3\n") as front,
        ):
            hosts = {"127.0.0.2": h2, "127.0.0.3": h3, "127.0.0.4": h4}
            for address, host in hosts.items():
                account = "acct" + address[-1]
                host.add_profile(account)
                host.start(env={"MICTL_ROUTER__HOST": address, "MICTL_ROUTER__PORT": str(port)})
                host.wait_state(account, "RUNNING")
                wait_until(lambda h=host: any(b["routable"] for b in backends(h).values()), 30)
                slow(host, account)
            zone.addresses = ["127.0.0.2", "127.0.0.3"]
            front.start()
            key = {a: f"accounts@{a}:{port}" for a in hosts}
            wait_until(
                lambda: all(
                    backends(front).get(key[a], {}).get("routable") for a in zone.addresses
                ),
                30,
                "both hosts routable at the front",
            )
            assert key["127.0.0.4"] not in backends(front)

            client = openai.OpenAI(
                base_url=f"http://127.0.0.1:{front.front_port}/v1",
                api_key="unused",
                max_retries=0,
                timeout=60,
            )
            stop = threading.Event()
            failures: list[str] = []
            served: dict[str, int] = {}

            def load(worker: int) -> None:
                while not stop.is_set():
                    try:
                        stream = client.chat.completions.create(
                            model="m1",
                            messages=[{"role": "user", "content": f"worker {worker}"}],
                            stream=True,
                        )
                        text = "".join(c.choices[0].delta.content or "" for c in stream)
                        who, _, rest = text.partition(" ")
                        if rest != " ".join(str(i) for i in range(10)):
                            failures.append(f"cut short: {text!r}")
                        served[who] = served.get(who, 0) + 1
                    except Exception as exc:  # every failure counts
                        failures.append(repr(exc))

            with client:
                workers = [threading.Thread(target=load, args=(i,)) for i in range(6)]
                for w in workers:
                    w.start()
                try:
                    wait_until(
                        lambda: served.get("acct2") and served.get("acct3"), 60, "both serve"
                    )
                    # A reload keeps the hosts it found and what it learned of them.
                    assert front.ctl("reload").returncode == 0
                    found = {k for k in backends(front) if k.startswith("accounts@")}
                    assert found == {key["127.0.0.2"], key["127.0.0.3"]}
                    assert front.output().count(f"{key['127.0.0.2']}: starting") == 1
                    # .3 goes, .4 comes, in one change of the zone, with streams in flight.
                    assert backends(front)[key["127.0.0.3"]]["in_flight"] > 0
                    zone.addresses = ["127.0.0.2", "127.0.0.4"]
                    wait_until(lambda: key["127.0.0.3"] not in backends(front), 60, ".3 removed")
                    gone_at = backends(h3)["acct3"]["served"]
                    wait_until(lambda: served.get("acct4", 0) >= 3, 60, ".4 takes work")
                    wait_until(lambda: served.get("acct2", 0) >= gone_at + 3, 60, "load goes on")
                finally:
                    stop.set()
                    for w in workers:
                        w.join(120)
            assert failures == []
            # Drained: every stream it had finished (no failure above), and
            # nothing reached it once the front had removed it.
            assert backends(h3)["acct3"]["served"] == gone_at
            log = front.output()
            assert f"{key['127.0.0.3']}: draining" in log
            # Probed before it took work: STARTING, then routable after its /readyz.
            starting = log.index(f"{key['127.0.0.4']}: starting")
            assert log.index(f"{key['127.0.0.4']}: routable") > starting
    finally:
        server.stop()
        server.server.server_close()
