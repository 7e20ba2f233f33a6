"""`discover = "dns:..."` and `nameserver` (daemon/config/dns_target.py), and the
config's checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.config import dns_target
from daemon.config import loader as config
from daemon.config.dns_target import Target
from daemon.config.schema import ConfigError

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
NAME = st.lists(LABEL, min_size=1, max_size=5).map(".".join)


def test_the_forms() -> None:
    name = "mictl-accounts.mictl.svc.cluster.local"
    assert dns_target.parse(f"dns:{name}:2048") == Target(name, 2048, False)
    assert dns_target.parse(f"dns:{name}.:2048") == Target(name, 2048, False)
    srv = "_http._tcp.mictl-accounts.mictl.svc.cluster.local"
    assert dns_target.parse(f"dns:{srv}") == Target(srv, 0, True)
    assert dns_target.nameserver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert dns_target.nameserver("10.96.0.10") == ("10.96.0.10", 53)
    assert dns_target.nameserver("[::1]:53") == ("::1", 53)
    assert dns_target.nameserver("fd00::10") == ("fd00::10", 53)
    assert dns_target.host_url("127.0.0.2", 2048) == "http://127.0.0.2:2048/v1"
    assert dns_target.host_url("fd00::2", 2048) == "http://[fd00::2]:2048/v1"


@pytest.mark.parametrize(
    "bad",
    ["mictl:2048", "dns:", "dns:host", "dns:host:0", "dns:host:99999", "dns:a..b:1",
     "dns:-a:1", "dns:_x._tcp.host:2048", "dns:a b:1"],
)  # fmt: skip
def test_bad_discover_values_say_why(bad: str) -> None:
    with pytest.raises(ValueError, match=r"dns:|DNS name|port|SRV"):
        dns_target.parse(bad)


@given(NAME, st.integers(min_value=1, max_value=65535))
def test_any_name_and_port_round_trip(name: str, port: int) -> None:
    assert dns_target.parse(f"dns:{name}:{port}") == Target(name, port, False)


@given(st.text(max_size=80))
def test_parse_refuses_or_returns_a_target(text: str) -> None:
    try:
        target = dns_target.parse(text)
    except ValueError:
        return
    assert text.startswith("dns:") and target.name and (target.srv or target.port > 0)


@given(st.text(max_size=60))
def test_nameserver_refuses_or_returns_an_address(text: str) -> None:
    try:
        host, port = dns_target.nameserver(text)
    except ValueError:
        return
    assert host and 0 < port < 65536


def _load(tmp_path: Path, body: str) -> config.Config:
    path = tmp_path / "mictl.toml"
    path.write_text(body)
    return config.load(path, env={})


def test_the_config_checks_discover(tmp_path: Path) -> None:
    up = '[upstreams.accounts]\nkind = "mictld"\ndiscover = "dns:accounts.test:2048"\n'
    cfg = _load(tmp_path, up + 'nameserver = "127.0.0.1:5353"\n')
    assert cfg.upstreams["accounts"].discover == "dns:accounts.test:2048"
    for body, said in [
        (up + 'base_url = "http://h:1/v1"\n', "set base_url or discover"),
        ('[upstreams.x]\nkind = "mictld"\n', "set base_url or discover"),
        (up.replace('"mictld"', '"openai"'), 'discover: only for kind = "mictld"'),
        (up.replace("2048", "x"), "upstreams.accounts.discover: "),
        (up + 'nameserver = "dns.google"\n', "upstreams.accounts.nameserver: "),
    ]:
        with pytest.raises(ConfigError, match=said):
            _load(tmp_path, body)
