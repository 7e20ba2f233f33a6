"""Run Starlette apps inside the daemon's own loop, on sockets we create.

uvicorn would install its own signal handlers and chmod a Unix socket to 0666
for a moment; the daemon owns signals, and binds its sockets itself so the
control socket never exists with a looser mode than configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import grp
import os
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from starlette.types import ASGIApp, Receive

from common.guard import Limits, guarded_protocol
from common.wire import JsonProtocol


class SocketInUse(Exception):
    pass


class InLoopServer(uvicorn.Server):
    """uvicorn's server, without its signal handlers, and without its tick:
    uvicorn wakes ten times a second to look at should_exit (and refreshes
    its Date header every tenth time). Here the loop wakes once a second for
    the Date header, and at once when should_exit is set (from the loop).
    Its errors are JSON, parser errors included (common/wire.py)."""

    def __init__(self, config: uvicorn.Config) -> None:
        self._exit = asyncio.Event()
        if config.http == "auto":
            config.http = JsonProtocol
        super().__init__(config)

    @property
    def should_exit(self) -> bool:
        return self._exit.is_set()

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        if value:
            self._exit.set()
        else:
            self._exit.clear()

    async def main_loop(self) -> None:
        while not await self.on_tick(0):  # counter 0: the Date header, every time
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._exit.wait()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the daemon's dispatcher handles signals


def make_server(
    app: ASGIApp, *, graceful: float = 5.0, limits: Limits | None = None
) -> InLoopServer:
    """`limits` guards a TCP port against slow, idle and too many clients."""
    config = uvicorn.Config(
        app,
        lifespan="off",
        proxy_headers=False,  # nothing here reads client addresses
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=graceful,
        timeout_keep_alive=limits.keepalive_timeout if limits else 30,
        http=guarded_protocol(limits) if limits else "auto",
    )
    return InLoopServer(config)


def bind_unix(path: str, mode: int, group: str = "") -> socket.socket:
    """Bind a Unix socket with `mode`, replacing a stale one, refusing a live one."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o755 if mode & 0o077 else 0o700, exist_ok=True)
    if os.path.exists(path):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError as exc:
            if exc.errno not in (errno.ECONNREFUSED, errno.ENOTSOCK, errno.ENOENT):
                raise
            os.unlink(path)  # stale: its daemon is gone
        else:
            raise SocketInUse(f"{path} is served by a running daemon")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o777 & ~mode)  # born with the right mode: no window
    try:
        sock.bind(path)
    finally:
        os.umask(old_umask)
    os.chmod(path, mode)
    if group:
        os.chown(path, -1, grp.getgrnam(group).gr_gid)
    sock.listen(128)
    sock.setblocking(False)
    return sock


def bind_tcp(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets
    # only when the proto says TCP; without it, Nagle + delayed ACK add 40 ms
    # to every keep-alive request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class ClientGone(Exception):
    """The HTTP client disconnected while its request was being served."""


@contextlib.asynccontextmanager
async def cancel_on_disconnect(receive: Receive, grace: float = 0.05) -> AsyncIterator[None]:
    """Cancel the body of the `async with` if the HTTP client goes away,
    raising ClientGone in its place.

    Starlette cancels a streaming response on disconnect, but not an endpoint
    still working on a plain one; this covers that case. The watcher task
    starts only after `grace` seconds: most proxied requests finish sooner and
    cost a timer, not a task (about 10% of the router's throughput here).
    Use it once the request body has been read.
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    left = False
    watcher: asyncio.Task[None] | None = None

    async def watch() -> None:
        nonlocal left
        while (await receive())["type"] != "http.disconnect":
            pass
        left = True
        task.cancel()

    def start_watching() -> None:
        nonlocal watcher
        watcher = loop.create_task(watch())

    timer = loop.call_later(grace, start_watching)
    try:
        yield
    except asyncio.CancelledError:
        if not left:
            raise
        task.uncancel()
        raise ClientGone() from None
    finally:
        timer.cancel()
        if watcher is not None:
            watcher.cancel()
