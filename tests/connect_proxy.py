"""A small HTTP CONNECT proxy for tests, as a real process.

It logs one line per CONNECT (`CONNECT host:port user=NAME status`, never a
password), wants `Proxy-Authorization: Basic` for --user/--password when
given (407 otherwise), and sends each --map HOST to a local address instead
of resolving it: the replica under its real hostname, reached only through
this proxy. Stopped and started again on the same port (`ConnectProxy`).

    python -m tests.connect_proxy --port N --log FILE [--user U --password P]
        [--map aistudio.google.com=127.0.0.1:4433 ...]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import sys
from pathlib import Path

from tests.helpers import Proc, port_open, wait_until


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()


class Server:
    def __init__(self, log: Path, user: str, password: str, mapping: dict[str, str]) -> None:
        self.log, self.user, self.password, self.mapping = log, user, password, mapping

    def note(self, line: str) -> None:
        with self.log.open("a") as f:
            f.write(line + "\n")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, *_ = [*lines[0].split(" "), "", ""]
        headers = dict(
            (k.strip().lower(), v.strip()) for k, _, v in (h.partition(":") for h in lines[1:] if h)
        )
        user, password = "", ""
        auth = headers.get("proxy-authorization", "")
        if auth.lower().startswith("basic "):
            with contextlib.suppress(ValueError):
                decoded = base64.b64decode(auth[6:]).decode()
                user, _, password = decoded.partition(":")
        if method != "CONNECT":
            self.note(f"{method} {target} user={user or '-'} 405")
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        if self.user and (user, password) != (self.user, self.password):
            self.note(f"CONNECT {target} user={user or '-'} 407")
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
            )
            await writer.drain()
            writer.close()
            return
        host, _, port = target.rpartition(":")
        address = self.mapping.get(host, f"{host}:{port}")
        to_host, _, to_port = address.rpartition(":")
        try:
            up_reader, up_writer = await asyncio.open_connection(to_host, int(to_port))
        except OSError:
            self.note(f"CONNECT {target} user={user or '-'} 502")
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        self.note(f"CONNECT {target} user={user or '-'} 200")
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--user", default="")
    p.add_argument("--password", default=os.environ.get("PROXY_PASSWORD", ""))
    p.add_argument("--map", action="append", default=[], metavar="HOST=ADDR:PORT")
    args = p.parse_args()
    mapping = dict(m.split("=", 1) for m in args.map)
    server = Server(Path(args.log), args.user, args.password, mapping)

    async def serve() -> None:
        srv = await asyncio.start_server(server.handle, "127.0.0.1", args.port, reuse_address=True)
        async with srv:
            await srv.serve_forever()

    asyncio.run(serve())


class ConnectProxy:
    """The proxy as a child process that the test stops and starts again on
    the same port; its password goes by the environment, not its argv."""

    def __init__(
        self, port: int, log: Path, user: str, password: str, mapping: dict[str, str]
    ) -> None:
        self.port, self.log, self.user, self.password = port, log, user, password
        self.mapping = mapping
        self.proc: Proc | None = None

    def start(self) -> ConnectProxy:
        argv = [sys.executable, "-m", "tests.connect_proxy", "--port", str(self.port),
                "--log", str(self.log), "--user", self.user,
                *[f"--map={h}={a}" for h, a in self.mapping.items()]]  # fmt: skip
        root = str(Path(__file__).resolve().parents[1])
        env = {"PYTHONPATH": root, "PROXY_PASSWORD": self.password}
        self.proc = Proc(argv, self.log.with_suffix(".out"), env=env)
        wait_until(lambda: port_open(self.port), 30, f"the proxy on port {self.port}")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


if __name__ == "__main__":
    main()
