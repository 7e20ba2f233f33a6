"""An upstream's `discover = "dns:..."` and `nameserver = "..."`, parsed.

`dns:NAME:PORT` asks for NAME's A and AAAA records (every address is a host
listening on PORT); `dns:_SERVICE._tcp.NAME` asks for SRV records, which
name both. Pure functions: config/checks.py refuses a bad value at load,
router/discovery.py resolves a good one.
"""

from __future__ import annotations

import ipaddress
import re

import msgspec

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


class Target(msgspec.Struct, frozen=True):
    name: str  # a DNS name, no trailing dot
    port: int  # 0: from SRV records
    srv: bool


def parse(spec: str) -> Target:
    """Raise ValueError saying what is wrong with a `discover` value."""
    if not spec.startswith("dns:"):
        raise ValueError(f"{spec!r}: expected dns:NAME:PORT or dns:_SERVICE._tcp.NAME")
    rest = spec[4:]
    name, _, port_text = rest.rpartition(":") if ":" in rest else (rest, "", "")
    name = name.rstrip(".")
    if not name or len(name) > 253 or not all(_LABEL.match(x) for x in name.split(".")):
        raise ValueError(f"{spec!r}: {name!r} is not a DNS name")
    srv = name.startswith("_")
    if srv:
        if port_text:
            raise ValueError(f"{spec!r}: an SRV name takes its ports from its records")
        return Target(name, 0, True)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{spec!r}: needs a port, dns:NAME:PORT")
    return Target(name, int(port_text), False)


def nameserver(text: str) -> tuple[str, int]:
    """`HOST` or `HOST:PORT` ([v6]:PORT) of a nameserver address: (ip, port)."""
    host, port = text, "53"
    if text.startswith("["):
        host, _, tail = text[1:].partition("]")
        port = tail.removeprefix(":") or "53"
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{text!r}: a nameserver is an IP address (and :PORT)") from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: bad port")
    return host, int(port)


def host_url(address: str, port: int) -> str:
    """The OpenAI base URL of a mictld found at address:port."""
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}/v1"
