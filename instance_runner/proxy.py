"""The profile's proxy, watched: is it there, and does it take our credentials?

`reach()` asks the proxy for a tunnel to the site (HTTP CONNECT, or a SOCKS5
greeting) the way Chromium would, and says why not in words that never hold
the credentials. `ProxyWatch` asks every few seconds while the proxy works,
and with a backoff (1 s doubling to 10 s) while it does not; each change is
one call to `on_down(reason)` or `on_up()`. A page that fails on the proxy,
or a request that fails, asks at once (`check_now`). The runner never exits
for a proxy: the supervisor would only restart it into the same proxy.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable

from common.proxy import Credentials, ProxyURL

log = logging.getLogger("mictl.instance")

WATCH_EVERY = 5.0  # seconds between checks while the proxy works
RETRY_FIRST = 1.0  # ...and while it does not, doubling up to RETRY_MAX
RETRY_MAX = 10.0
TIMEOUT = 5.0


async def reach(
    proxy: ProxyURL,
    credentials: Credentials | None,
    host: str,
    port: int,
    *,
    timeout: float = TIMEOUT,
) -> str:
    """Empty when the proxy answers a tunnel request to host:port (whatever the
    site then does: that is the site's business), else why not."""
    try:
        return await asyncio.wait_for(_ask(proxy, credentials, host, port), timeout)
    except TimeoutError:
        return f"no answer from the proxy within {timeout:g}s"
    except ssl.SSLError as exc:
        return f"TLS with the proxy failed ({exc.reason or 'handshake'})"
    except OSError as exc:
        return f"cannot connect to the proxy ({exc.strerror or type(exc).__name__})"
    except (asyncio.IncompleteReadError, ConnectionError):
        return "the proxy closed the connection"


async def _ask(proxy: ProxyURL, credentials: Credentials | None, host: str, port: int) -> str:
    tls = ssl.create_default_context() if proxy.scheme == "https" else None
    reader, writer = await asyncio.open_connection(proxy.host, proxy.port, ssl=tls)
    try:
        if proxy.scheme == "socks5":
            return await _socks5(reader, writer)
        lines = [f"CONNECT {host}:{port} HTTP/1.1", f"Host: {host}:{port}"]
        if credentials is not None:
            token = f"{credentials.username}:{credentials.password}".encode()
            lines.append(f"Proxy-Authorization: Basic {base64.b64encode(token).decode()}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        status_line = await reader.readline()
        parts = status_line.split()
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            return "the proxy does not speak HTTP"
        if parts[1] == b"407":
            return (
                "the proxy refused the credentials (407)"
                if credentials
                else ("the proxy wants credentials (407); set proxy_credentials_file or _env")
            )
        return ""
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def _socks5(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
    writer.write(b"\x05\x01\x00")  # SOCKS5, one method: no authentication
    await writer.drain()
    version, method = await reader.readexactly(2)
    if version != 5:
        return "the proxy does not speak SOCKS5"
    if method != 0:
        return "the SOCKS5 proxy wants authentication (Chromium offers none)"
    return ""


class ProxyWatch:
    def __init__(
        self,
        proxy: ProxyURL,
        credentials: Credentials | None,
        target: tuple[str, int],
        *,
        on_down: Callable[[str], None],
        on_up: Callable[[], Awaitable[bool]],
        every: float = WATCH_EVERY,
        retry_first: float = RETRY_FIRST,
        retry_max: float = RETRY_MAX,
    ) -> None:
        self.proxy = proxy
        self.credentials = credentials
        self.target = target
        self.on_down = on_down
        self.on_up = on_up  # True when the account works again (its page may reopen)
        self.every, self.retry_first, self.retry_max = every, retry_first, retry_max
        self.down = False
        self.reason = ""
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def failed(self, reason: str) -> None:
        """A page saw the proxy fail (Chromium's net:: error): down now; the
        next check comes on the backoff's schedule, not at once (a tunnel
        the proxy cannot open to a site that is down must not spin)."""
        if not self.down:
            self.down, self.reason = True, reason
            self.on_down(reason)

    async def check_now(self) -> bool:
        """Ask the proxy now (a request failed): True when it answers."""
        async with self._lock:
            await self._check()
        return not self.down

    async def _check(self) -> None:
        reason = await reach(self.proxy, self.credentials, *self.target)
        if reason:
            if not self.down or reason != self.reason:
                self.down, self.reason = True, reason
                self.on_down(reason)
        elif self.down and await self._back():
            self.down, self.reason = False, ""

    async def _back(self) -> bool:
        try:
            return await self.on_up()
        except Exception as exc:  # the watch must outlive anything a page does
            log.warning("could not resume after the proxy came back: %s", type(exc).__name__)
            return False

    async def _run(self) -> None:
        delay = self.retry_first
        while True:
            async with self._lock:
                await self._check()
            if self.down:
                wait, delay = delay, min(delay * 2, self.retry_max)
            else:
                wait, delay = self.every, self.retry_first
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
