"""Is a TCP port free, and if not, who holds it (best effort, Linux /proc).

The listening socket's inode comes from /proc/net/tcp{,6}; the process is
the one with `socket:[inode]` among its /proc/PID/fd links. Processes of
other users are not readable without privileges: then the holder is unknown.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket

import msgspec

LISTEN = "0A"  # TCP state in /proc/net/tcp


class Holder(msgspec.Struct, frozen=True):
    pid: int
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.command})"


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a listener could bind host:port now (SO_REUSEADDR, as uvicorn binds)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def listening_inodes(port: int) -> set[int]:
    """Inodes of sockets listening on `port`, any address, IPv4 or IPv6."""
    found: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f, None)  # header
                for line in f:
                    fields = line.split()
                    if len(fields) < 10 or fields[3] != LISTEN:
                        continue
                    if int(fields[1].rsplit(":", 1)[1], 16) == port:
                        found.add(int(fields[9]))
        except OSError:
            continue
    return found


def holders(port: int) -> list[Holder]:
    """The processes with a listening socket on `port` ([] when unknown)."""
    inodes = {f"socket:[{inode}]" for inode in listening_inodes(port) if inode}
    if not inodes:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fd_dir = f"/proc/{entry}/fd"
        try:
            links = os.listdir(fd_dir)
        except OSError:  # gone, or not ours to read
            continue
        for fd in links:
            with contextlib.suppress(OSError):
                if os.readlink(f"{fd_dir}/{fd}") in inodes:
                    found.append(Holder(int(entry), _command(int(entry))))
                    break
    return found


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().rstrip(b"\0").split(b"\0")
        text = " ".join(a.decode(errors="replace") for a in argv)
    except OSError:
        text = ""
    return (text[:117] + "...") if len(text) > 120 else text or "?"


def describe_taken(port: int) -> str:
    """'taken by pid 12 (cmd)', or 'taken (holder not visible)'."""
    found = holders(port)
    if not found:
        return "taken (holder not visible to this user)"
    return "taken by " + ", ".join(str(h) for h in found)
