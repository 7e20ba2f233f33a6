"""Upstream hosts found in DNS: `[upstreams.X] kind = "mictld"` with
`discover = "dns:NAME:PORT"` (A/AAAA) or `"dns:_SERVICE._tcp.NAME"` (SRV).

Each address the name lists is one backend, `X@ADDRESS:PORT`, a mictld host
like any other: it comes in STARTING and takes work once its /readyz passes
(health.py). An address the name no longer lists is drained (nothing new,
in-flight requests finish, up to router.drain_timeout) and then removed;
one that comes back while draining is probed again. The name is re-resolved
on its answer's TTL (between MIN_TTL and MAX_TTL), sooner while one of its
hosts fails its probes, and again after a failed lookup; a lookup that gets
no answer changes nothing (a DNS outage drains no one), a name that does
not exist (NXDOMAIN) or has no records drains every host.

Lookups are dnspython's asyncio resolver (the event loop never waits): the
system's resolv.conf, or `nameserver = "IP:PORT"`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver
from dns.asyncresolver import Resolver

from daemon.config.dns_target import Target, host_url, nameserver, parse
from daemon.config.schema import Config, UpstreamSection
from daemon.router.backend import Backend
from daemon.router.pool import Pool
from daemon.router.routability import Drain, Phase, ProcessUp, Undrain

log = logging.getLogger("mictld.discovery")

MIN_TTL = 1.0
MAX_TTL = 30.0
RETRY = 1.0  # after a failed lookup, doubling up to MAX_TTL
Found = set[tuple[str, int]]  # (address, port)


def make_resolver(server: str = "", timeout: float = 3.0) -> dns.asyncresolver.Resolver:
    """`server` ("IP[:PORT]"), or the system's resolv.conf (read here, once)."""
    resolver = dns.asyncresolver.Resolver(configure=not server)
    if server:
        ip, port = nameserver(server)
        resolver.nameservers, resolver.port = [ip], port
    resolver.lifetime = timeout
    return resolver


async def resolve(
    target: Target, server: str = "", timeout: float = 3.0, *, resolver: Resolver | None = None
) -> tuple[Found, float]:
    """Every (address, port) the name lists and the answer's TTL. NXDOMAIN and
    no records are an empty answer; no answer at all raises DNSException."""
    resolver = resolver or make_resolver(server, timeout)
    found: Found = set()
    ttls: list[float] = []
    if target.srv:
        hosts: list[tuple[str, int]] = []
        for rr, ttl in await _records(resolver, target.name, "SRV"):
            hosts.append((str(rr.target).rstrip("."), rr.port))
            ttls.append(ttl)
        for host, port in hosts:
            for address, ttl in await _addresses(resolver, host):
                found.add((address, port))
                ttls.append(ttl)
    else:
        for address, ttl in await _addresses(resolver, target.name):
            found.add((address, target.port))
            ttls.append(ttl)
    return found, min(ttls, default=MIN_TTL * 5)


async def _records(
    resolver: dns.asyncresolver.Resolver, name: str, rdtype: str
) -> list[tuple[object, float]]:
    try:
        answer = await resolver.resolve(name, rdtype, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    ttl = float(answer.rrset.ttl) if answer.rrset is not None else MIN_TTL
    return [(rr, ttl) for rr in answer]


async def _addresses(resolver: dns.asyncresolver.Resolver, name: str) -> list[tuple[str, float]]:
    v4, v6 = await asyncio.gather(_records(resolver, name, "A"), _records(resolver, name, "AAAA"))
    return [(str(rr.address), ttl) for rr, ttl in [*v4, *v6]]  # type: ignore[attr-defined]


class Watch:
    """One discovering upstream: its lookups and the backends they made."""

    def __init__(self, name: str, up: UpstreamSection, owner: Discovery) -> None:
        self.name, self.up, self.owner = name, up, owner
        self.target = parse(up.discover)
        self.members: dict[str, Backend] = {}
        self.task: asyncio.Task[None] | None = None
        self.last_error = ""

    async def run(self) -> None:
        retry, resolver = RETRY, None
        while True:
            try:
                if resolver is None:  # again after a failure: resolv.conf may have changed
                    resolver = make_resolver(self.up.nameserver)
                found, ttl = await resolve(self.target, resolver=resolver)
            except (dns.exception.DNSException, OSError) as exc:
                resolver = None
                if str(exc) != self.last_error:
                    log.warning("upstream %s: %s: %s", self.name, self.up.discover, exc)
                    self.last_error = str(exc)
                wait, retry = retry, min(retry * 2, MAX_TTL)
            else:
                self.last_error, retry = "", RETRY
                self.apply(found)
                wait = min(max(ttl, MIN_TTL), MAX_TTL)
            await self._sleep(wait)

    async def _sleep(self, seconds: float) -> None:
        """Until the next lookup: sooner (each second) while a host fails."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while loop.time() < until:
            await asyncio.sleep(min(MIN_TTL, until - loop.time()))
            if any(b.phase in (Phase.UNHEALTHY, Phase.DOWN) for b in self.members.values()):
                return

    def apply(self, found: Found) -> None:
        pool = self.owner.pool
        wanted = {f"{self.name}@{host_url(a, p)[7:-3]}": host_url(a, p) for a, p in found}
        for key, url in wanted.items():
            backend = self.members.get(key)
            if backend is None:
                backend = self.members[key] = self.owner.make(self.name, key, url, self.up)
                pool.backends[key] = backend
                log.info("upstream %s: %s appeared", self.name, url)
                pool.feed(backend, ProcessUp())  # probed before it takes work
            elif backend.draining:
                log.info("upstream %s: %s is back", self.name, url)
                self.owner.draining.pop(key).cancel()
                pool.feed(backend, Undrain("stop"))
        for key in set(self.members) - set(wanted):
            if key not in self.owner.draining:
                self.drain(key)
        pool.wake()

    def drain(self, key: str) -> None:
        backend = self.members[key]
        log.info("upstream %s: %s is gone; draining", self.name, backend.base_url)
        self.owner.pool.feed(backend, Drain("stop"))
        self.owner.draining[key] = asyncio.get_running_loop().create_task(self._remove(key))

    async def _remove(self, key: str) -> None:
        backend, pool = self.members[key], self.owner.pool
        if not await pool.idle(backend, pool.cfg.drain_timeout):
            log.warning("upstream %s: %s still busy after drain_timeout", self.name, key)
        self.owner.draining.pop(key, None)
        self.members.pop(key, None)
        if pool.backends.get(key) is backend:
            del pool.backends[key]
        pool.wake()

    def stop(self) -> None:
        """The upstream left the config: its hosts drain, no more lookups."""
        if self.task is not None:
            self.task.cancel()
        for key in list(self.members):
            if not self.owner.running:  # before the loop runs: nothing in flight
                self.owner.pool.backends.pop(key, None)
            elif key not in self.owner.draining:
                self.drain(key)


class Discovery:
    """Every discovering upstream of the config, live on reload."""

    def __init__(self, pool: Pool, make: Callable[[str, str, str, UpstreamSection], Backend]):
        self.pool, self.make = pool, make  # make(upstream, backend name, url, section)
        self.watches: dict[str, Watch] = {}
        self.draining: dict[str, asyncio.Task[None]] = {}
        self.running = False

    def owns(self, backend_name: str) -> bool:
        return backend_name in self.draining or any(
            backend_name in w.members for w in self.watches.values()
        )

    def configure(self, cfg: Config) -> None:
        wanted = {n: u for n, u in cfg.upstreams.items() if u.discover}
        for name in list(self.watches):
            watch, up = self.watches[name], wanted.get(name)
            same_name = up is not None and up.discover == watch.up.discover
            if up is None or not same_name or up.nameserver != watch.up.nameserver:
                watch.stop()  # a new name: a new watch; the old hosts drain
                del self.watches[name]
                continue
            watch.up = up  # same name, new settings: its hosts keep what they learned
            for key, b in watch.members.items():
                fresh = self.make(name, key, b.base_url, up)
                b.weight, b.priority, b.cap = fresh.weight, fresh.priority, fresh.cap
                b.max_concurrent = min(b.max_concurrent, fresh.cap)
                b.api_key, b.rpm = fresh.api_key, fresh.rpm
        for name, up in wanted.items():
            if name not in self.watches:
                self.watches[name] = Watch(name, up, self)
        if self.running:
            self._start()

    def _start(self) -> None:
        for watch in self.watches.values():
            if watch.task is None or watch.task.done():
                watch.task = asyncio.get_running_loop().create_task(watch.run())

    async def start(self) -> None:
        self.running = True
        self._start()

    async def close(self) -> None:
        self.running = False
        tasks = [w.task for w in self.watches.values() if w.task] + list(self.draining.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
