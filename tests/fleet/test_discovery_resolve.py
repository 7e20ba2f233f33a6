"""router/discovery.resolve against a real DNS server (dnslib) on loopback:
A, SRV (targets and ports), a name that does not exist, no server at all."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import dns.exception
import pytest
from dnslib import QTYPE, RR, SRV, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from daemon.config.dns_target import parse
from daemon.router.discovery import resolve
from tests.helpers import free_port

RECORDS = {
    ("hosts.test", QTYPE.A): [A("127.0.0.2"), A("127.0.0.3")],
    ("_mictl._tcp.hosts.test", QTYPE.SRV): [
        SRV(target="a.hosts.test", port=2048),
        SRV(target="b.hosts.test", port=2049),
    ],
    ("a.hosts.test", QTYPE.A): [A("127.0.0.5")],
    ("b.hosts.test", QTYPE.A): [A("127.0.0.6")],
}
KNOWN = {name for name, _ in RECORDS}


class Zone(BaseResolver):
    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".")
        for rdata in RECORDS.get((name, request.q.qtype), []):
            reply.add_answer(RR(request.q.qname, request.q.qtype, rdata=rdata, ttl=7))
        if name not in KNOWN:
            reply.header.rcode = 3  # NXDOMAIN
        return reply


@pytest.fixture
def nameserver() -> Iterator[str]:
    port = free_port()
    quiet = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data")
    server = DNSServer(Zone(), port=port, address="127.0.0.1", logger=quiet)
    server.start_thread()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()
        server.server.server_close()


def test_a_records(nameserver: str) -> None:
    found, ttl = asyncio.run(resolve(parse("dns:hosts.test:2048"), nameserver))
    assert found == {("127.0.0.2", 2048), ("127.0.0.3", 2048)} and ttl == 7


def test_srv_records_name_hosts_and_ports(nameserver: str) -> None:
    found, ttl = asyncio.run(resolve(parse("dns:_mictl._tcp.hosts.test"), nameserver))
    assert found == {("127.0.0.5", 2048), ("127.0.0.6", 2049)} and ttl == 7


def test_a_name_that_does_not_exist_has_no_hosts(nameserver: str) -> None:
    found, _ = asyncio.run(resolve(parse("dns:gone.test:2048"), nameserver))
    assert found == set()


def test_no_answer_at_all_is_an_error_not_an_empty_list() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind(("127.0.0.1", 0))
        server = f"127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(dns.exception.DNSException):
            asyncio.run(resolve(parse("dns:hosts.test:2048"), server, timeout=0.5))
