"""Two AI Studio accounts behind mictld, each through its own proxy
(`[profiles.overrides.NAME] proxy`), in real Chromium against the replica.
The browsers get no --host-resolver-rules: the replica's names reach it
only through a proxy (tests/connect_proxy.py maps them), so every answer
proves its account's proxy carried it. Each proxy's log shows only its own
account; a proxy killed mid-run takes its account out of routing (the front
still answers, on the other) until it is back; no password is ever in a
log, `mictl status`, `mictl health` or /metrics."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import openai
import pytest

from tests.connect_proxy import ConnectProxy
from tests.helpers import Mictld, free_port, free_port_block, wait_until
from tests.replicas.aistudio import harness
from tests.replicas.aistudio.answers import answer
from tests.replicas.tls import Replica
from tests.site_kit import replica_fixture, write_config

pytestmark = [pytest.mark.browser, pytest.mark.slow]
MODEL = "gemini-2.5-pro"
SECRETS = {"alice": "alice-Pw-7Hq2xLm", "bob": "bob-Pw-Q9z4TkR1"}


rep = replica_fixture(harness, "replica", scope="function")


def tunnels(proxy: ConnectProxy) -> list[tuple[str, str]]:
    """(target, user) of each tunnel the proxy opened."""
    found = []
    for line in proxy.lines():
        m = re.fullmatch(r"CONNECT (\S+) user=(\S+) 200", line)
        if m:
            found.append((m[1], m[2]))
    return found


def test_two_accounts_two_proxies_one_goes_away_and_comes_back(
    tmp_path: Path, rep: Replica
) -> None:
    mapping = {h: f"127.0.0.1:{rep.port}" for h in harness.HOSTS}
    proxies = {
        name: ConnectProxy(free_port(), tmp_path / f"{name}-proxy.log", name, pw, mapping).start()
        for name, pw in SECRETS.items()
    }
    d = Mictld(tmp_path, base_port=free_port_block(4), router="")
    for name in SECRETS:
        harness.profile(d.profiles / f"{name}.json")
    alice_creds = tmp_path / "alice.proxy"
    alice_creds.write_text(f"alice:{SECRETS['alice']}\n")
    alice_creds.chmod(0o600)
    write_config(
        d,
        rep,
        "aistudio",
        args=[f"--ignore-certificate-errors-spki-list={rep.spki}"],
        more=f"""
        [profiles.overrides.alice]
        proxy = "http://127.0.0.1:{proxies["alice"].port}"
        proxy_credentials_file = "alice.proxy"
        [profiles.overrides.bob]
        proxy = "http://127.0.0.1:{proxies["bob"].port}"
        proxy_credentials_env = "BOB_PROXY_AUTH"
        """,
    )
    d.start(env={"BOB_PROXY_AUTH": f"bob:{SECRETS['bob']}"})
    client = openai.OpenAI(
        base_url=f"http://127.0.0.1:{d.front_port}/v1", api_key="x", max_retries=0, timeout=90
    )
    try:

        def health() -> dict[str, dict]:
            out = d.ctl("health", "--json")
            return {b["name"]: b for b in json.loads(out.stdout)} if out.returncode == 0 else {}

        def routable(*names: str) -> dict[str, dict] | None:
            h = health()
            return h if all(h.get(n, {}).get("routable") for n in names) else None

        def ask(n: int, tag: str) -> None:
            for i in range(n):
                q = f"{tag} {i}"
                got = client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": q}]
                )
                assert got.choices[0].message.content == answer(MODEL, q)

        both = wait_until(lambda: routable("alice", "bob"), 180, "both accounts routable")
        for name, proxy in proxies.items():
            assert both[name]["proxy"] == f"http://127.0.0.1:{proxy.port}"
        status = {p["name"]: p for p in json.loads(d.ctl("status", "--json").stdout)}
        assert status["alice"]["proxy"] == f"http://127.0.0.1:{proxies['alice'].port}"
        for name, proxy in proxies.items():  # and in the tables an operator reads
            assert f"proxy http://127.0.0.1:{proxy.port}" in d.ctl("status", name).stdout
            assert f"http://127.0.0.1:{proxy.port}" in d.ctl("health", name).stdout

        ask(6, "both")
        served = health()
        assert served["alice"]["served"] > 0 and served["bob"]["served"] > 0
        for name, proxy in proxies.items():
            seen = tunnels(proxy)
            assert ("aistudio.google.com:443", name) in seen, (name, seen)
            assert {user for _, user in seen} == {name}, (name, seen)  # its own account only

        # Alice's proxy goes away mid-run: she leaves routing, the front
        # answers on Bob, and `mictl health` / status say why.
        proxies["alice"].stop()

        def alice_out() -> dict[str, dict] | None:
            h = health()
            out = h["alice"]["health"] == "proxy_unreachable" and not h["alice"]["routable"]
            return h if out and h["bob"]["routable"] else None

        wait_until(alice_out, 60, "alice out of routing: proxy unreachable")
        status = {p["name"]: p for p in json.loads(d.ctl("status", "--json").stdout)}
        assert status["alice"]["routing"] == "proxy unreachable"
        assert "proxy unreachable" in d.ctl("status").stdout
        before = health()
        ask(4, "bob only")
        after = health()
        assert after["bob"]["served"] == before["bob"]["served"] + 4
        assert after["alice"]["served"] == before["alice"]["served"]
        assert d.program("alice").state == "RUNNING"  # no exit, no FATAL loop
        assert d.program("alice").restarts == 0

        # Back by itself once the proxy is.
        proxies["alice"].start()
        wait_until(lambda: routable("alice", "bob"), 90, "alice routable again")
        back = health()["alice"]["served"]
        ask(6, "both again")
        assert health()["alice"]["served"] > back
        assert {user for _, user in tunnels(proxies["alice"])} == {"alice"}
        assert {user for _, user in tunnels(proxies["bob"])} == {"bob"}

        # The passwords are nowhere an operator or a scraper looks.
        shown = [
            d.ctl("status", "--json").stdout,
            d.ctl("status").stdout,
            d.ctl("health", "--json").stdout,
            d.ctl("health").stdout,
            urllib.request.urlopen(f"http://127.0.0.1:{d.front_port}/metrics").read().decode(),
        ]
        for info in d.programs().values():
            if info.pid:
                shown.append(Path(f"/proc/{info.pid}/cmdline").read_text(errors="replace"))
    finally:
        client.close()
        d.cleanup()
        for proxy in proxies.values():
            proxy.stop()
    shown.append(d.output())
    shown += [p.read_text(errors="replace") for p in (tmp_path / "log").rglob("*") if p.is_file()]
    for text in shown:
        for secret in SECRETS.values():
            assert secret not in text
