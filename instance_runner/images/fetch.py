"""An image URL a client gives, fetched by the instance itself: http(s)
only, within a size and a time, and never from an address the client should
not reach through mictl (loopback, private, link-local, anything not
global) unless the operator allows that network.

The check is made on the addresses the name resolves to, and the connection
goes to exactly those addresses (aiohttp's resolver is ours), so a name that
resolves differently a second time (DNS rebinding) gains nothing; each
redirect is checked again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import urllib.parse
from typing import Any

import aiohttp
import msgspec
from aiohttp.abc import AbstractResolver

from instance_runner.images.decode import Image, ImageError, from_data_url, image

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_REDIRECTS = 3
OFF_LOOP = 256 * 1024  # a data: URL longer than this is decoded in a worker thread


class Limits(msgspec.Struct, frozen=True):
    max_bytes: int = 20 * 1024 * 1024
    timeout: float = 10.0  # seconds for one URL, redirects included
    allow: tuple[str, ...] = ()  # networks a URL may reach though not global ("127.0.0.0/8")


def reachable(addr: Address, allow: list[Network]) -> bool:
    """May a client's URL lead here? Global addresses, and the allowed networks."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if any(addr in net for net in allow):
        return True
    return addr.is_global and not addr.is_multicast


class _Checked(AbstractResolver):
    """Resolve, refuse if any address is out of bounds, connect to those."""

    def __init__(self, allow: list[Network]) -> None:
        self.allow = allow

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[dict[str, Any]]:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM, family=family
            )
        except socket.gaierror as exc:
            raise ImageError(f"image URL host {host!r} does not resolve: {exc.strerror}") from None
        found = []
        for fam, _, proto, _, sockaddr in infos:
            addr = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
            _check(host, addr, self.allow)
            found.append(
                {
                    "hostname": host,
                    "host": str(addr),
                    "port": port,
                    "family": fam,
                    "proto": proto,
                    "flags": socket.AI_NUMERICHOST,
                }
            )
        return found

    async def close(self) -> None:
        return None


def _check(host: str, addr: Address, allow: list[Network]) -> None:
    if not reachable(addr, allow):
        raise ImageError(
            f"image URL host {host} is a private or local address ({addr}); "
            "mictl fetches images only from public addresses (the operator may "
            "allow a network: [images] allow_networks)",
            code="image_url_forbidden",
        )


async def load(url: str, limits: Limits) -> Image:
    """The image behind an `image_url`: a data: URL, or fetched."""
    if url[:5].lower() == "data:":
        if len(url) < OFF_LOOP:
            return from_data_url(url, max_bytes=limits.max_bytes)
        # megabytes of base64 to decode and hash: not on the event loop
        return await asyncio.to_thread(from_data_url, url, max_bytes=limits.max_bytes)
    allow = [ipaddress.ip_network(n, strict=False) for n in limits.allow]
    try:
        async with asyncio.timeout(limits.timeout):
            return await _fetch(url, limits, allow)
    except TimeoutError:
        raise ImageError(
            f"image URL did not answer within {limits.timeout:g}s", code="image_fetch_failed"
        ) from None


async def _fetch(url: str, limits: Limits, allow: list[Network]) -> Image:
    connector = aiohttp.TCPConnector(resolver=_Checked(allow), use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as http:
        for _ in range(MAX_REDIRECTS + 1):
            host = _host_of(url)
            literal = _literal(host)  # an address never reaches the resolver
            if literal is not None:
                _check(host, literal, allow)
            try:
                async with http.get(url, allow_redirects=False) as response:
                    if response.status in (301, 302, 303, 307, 308):
                        url = urllib.parse.urljoin(url, response.headers.get("Location", ""))
                        continue
                    if response.status != 200:
                        raise ImageError(
                            f"image URL answered HTTP {response.status}",
                            code="image_fetch_failed",
                        )
                    data = await _read(response, limits.max_bytes)
                    return image(data, max_bytes=limits.max_bytes, claimed=response.content_type)
            except aiohttp.ClientError as exc:
                raise ImageError(
                    f"image URL could not be fetched: {type(exc).__name__}",
                    code="image_fetch_failed",
                ) from None
    raise ImageError(f"image URL redirected more than {MAX_REDIRECTS} times")


def _host_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImageError("image_url must be a data: URL or an http(s) URL")
    return parts.hostname


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def _read(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    too_big = ImageError(f"image is over the limit of {max_bytes} bytes", 413, "image_too_large")
    if (response.content_length or 0) > max_bytes:
        raise too_big
    data = bytearray()
    async for chunk in response.content.iter_chunked(65536):
        data += chunk
        if len(data) > max_bytes:
            raise too_big
    return bytes(data)
