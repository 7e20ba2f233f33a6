"""The instance's proxy watch (instance_runner/proxy.py) against real local
proxies, no browser: what `reach` says of a proxy that is there, gone,
refusing the credentials or speaking SOCKS5, and the watch's calls as the
proxy goes and comes back."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable

from common.proxy import Credentials, parse_url
from instance_runner.proxy import ProxyWatch, reach
from tests.helpers import free_port

GOOD = Credentials("alice", "s3cret-Xy81")

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def http_proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers a CONNECT with 200 for alice's credentials, else 407."""
    head = await reader.readuntil(b"\r\n\r\n")
    token = base64.b64encode(f"{GOOD.username}:{GOOD.password}".encode())
    ok = b"Proxy-Authorization: Basic " + token in head and head.startswith(b"CONNECT ")
    writer.write(b"HTTP/1.1 200 OK\r\n\r\n" if ok else b"HTTP/1.1 407 No\r\n\r\n")
    await writer.drain()
    writer.close()


def socks5(method: int) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(3)
        writer.write(bytes([5, method]))
        await writer.drain()
        writer.close()

    return handle


async def serve(handler: Handler, port: int) -> asyncio.Server:
    return await asyncio.start_server(handler, "127.0.0.1", port, reuse_address=True)


def test_reach_says_what_the_proxy_did() -> None:
    async def scenario() -> list[str]:
        port = free_port()
        url = parse_url(f"http://127.0.0.1:{port}")
        said = [await reach(url, GOOD, "site.example", 443)]  # nobody listens
        server = await serve(http_proxy, port)
        said.append(await reach(url, GOOD, "site.example", 443))
        said.append(await reach(url, Credentials("alice", "wrong"), "site.example", 443))
        said.append(await reach(url, None, "site.example", 443))
        server.close()
        for method in (0, 2):  # no authentication; username/password
            sport = free_port()
            s = await serve(socks5(method), sport)
            said.append(await reach(parse_url(f"socks5://127.0.0.1:{sport}"), None, "x", 443))
            s.close()
        return said

    refused, ok, wrong, none, socks_ok, socks_auth = asyncio.run(scenario())
    assert refused.startswith("cannot connect to the proxy")
    assert ok == ""
    assert wrong == "the proxy refused the credentials (407)"
    assert none.startswith("the proxy wants credentials (407)")
    assert socks_ok == ""
    assert "wants authentication" in socks_auth
    for words in (refused, wrong, none):
        assert GOOD.password not in words and "wrong" not in words


def test_the_watch_calls_down_once_and_up_once_the_proxy_is_back() -> None:
    async def scenario() -> list[str]:
        port = free_port()
        calls: list[str] = []
        back = asyncio.Event()

        async def on_up() -> bool:
            calls.append("up")
            back.set()
            return True

        watch = ProxyWatch(
            parse_url(f"http://127.0.0.1:{port}"),
            GOOD,
            ("site.example", 443),
            on_down=lambda reason: calls.append(f"down: {reason}"),
            on_up=on_up,
            every=0.05,
            retry_first=0.05,
            retry_max=0.2,
        )
        assert not await watch.check_now()  # nobody listens: down at once
        watch.start()
        await asyncio.sleep(0.3)  # retries meanwhile: still down, said once
        server = await serve(http_proxy, port)
        await asyncio.wait_for(back.wait(), 10)
        assert await watch.check_now() and not watch.down
        server.close()
        await server.wait_closed()
        watch.failed("net::ERR_PROXY_CONNECTION_FAILED")  # a page saw it
        assert watch.down
        watch.stop()
        return calls

    calls = asyncio.run(scenario())
    assert calls[0].startswith("down: cannot connect to the proxy")
    assert calls[1] == "up"
    assert calls[2] == "down: net::ERR_PROXY_CONNECTION_FAILED"
    assert len(calls) == 3


def test_the_watch_stays_down_while_the_pages_cannot_open() -> None:
    """The proxy answers but the page still fails (on_up says False): the
    account stays down and the watch tries again, on its backoff."""

    async def scenario() -> int:
        port = free_port()
        server = await serve(http_proxy, port)
        tries = 0

        async def on_up() -> bool:
            nonlocal tries
            tries += 1
            return tries >= 3

        watch = ProxyWatch(
            parse_url(f"http://127.0.0.1:{port}"),
            GOOD,
            ("site.example", 443),
            on_down=lambda reason: None,
            on_up=on_up,
            every=10,
            retry_first=0.02,
            retry_max=0.05,
        )
        watch.failed("net::ERR_TUNNEL_CONNECTION_FAILED")
        watch.start()
        deadline = asyncio.get_running_loop().time() + 20
        while watch.down and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        watch.stop()
        server.close()
        assert not watch.down
        return tries

    assert asyncio.run(scenario()) == 3
