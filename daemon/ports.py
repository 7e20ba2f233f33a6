"""Who holds a TCP port: for errors that say which port and which process.

"Exited too quickly" says nothing when an instance's port is taken; mictld
checks a program's port before spawning it and names the holder (from
/proc/net/tcp and the /proc/PID/fd links, bounded).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket

MAX_PIDS = 4096  # bound the scan of /proc on a crowded machine


def in_use(host: str, port: int) -> bool:
    """True when nothing can listen on (host, port) because something else does."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _listen_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            next(f, None)
            for line in f:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # LISTEN
                    inodes.add(inode)
    return inodes


def holder(port: int) -> str:
    """'pid 123 (python3)' for the process listening on `port`, or ''."""
    inodes = _listen_inodes(port)
    if not inodes:
        return ""
    targets = {f"socket:[{i}]" for i in inodes}
    pids = [p for p in os.listdir("/proc") if p.isdigit()][:MAX_PIDS]
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in targets:
                    with open(f"/proc/{pid}/comm") as f:
                        return f"pid {pid} ({f.read().strip()})"
    return ""


def describe_conflict(what: str, host: str, port: int) -> str:
    """'router.port 2048 on 127.0.0.1 is already in use by pid 12 (nginx)'."""
    who = holder(port)
    return f"{what} {port} on {host} is already in use" + (f" by {who}" if who else "")
