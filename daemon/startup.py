"""What mictld checks and prepares before it serves (issue 9's hardening).

- a state dir it cannot write is refused in one line, before anything runs
  (an operator's stop would otherwise be lost silently);
- the soft descriptor limit goes up to the hard one, and the front port gets
  its limits (common/guard.py) so that idle clients cannot take the
  descriptors spawning needs;
- the front port is bound before the control socket, so a taken port names
  itself and its holder and leaves no stale socket behind.
"""

from __future__ import annotations

import contextlib
import errno
import resource
import socket

from common import ports, serving
from common.guard import Limits
from daemon.config.loader import RouterSection
from daemon.state import check_writable


def state_dir_refusal(state_dir: str) -> str | None:
    """Why mictld cannot use `state_dir`, or None."""
    try:
        check_writable(state_dir)
    except OSError as exc:
        return f"cannot write the state dir {state_dir}: {exc.strerror or exc}"
    return None


def raise_fd_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard one: room for connections and spawns."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def front_limits(r: RouterSection) -> Limits:
    return Limits(
        header_timeout=r.header_timeout,
        keepalive_timeout=r.keepalive_timeout,
        max_connections=r.max_connections,
        max_connections_per_client=r.max_connections_per_client,
        max_header_bytes=r.max_header_bytes,
    )


def bind_front(r: RouterSection) -> socket.socket:
    """The front port's socket, or SocketInUse naming the port and its holder."""
    try:
        return serving.bind_tcp(r.host, r.port)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise serving.SocketInUse(
            f"the front port (router.port) {r.port} on {r.host} is {ports.describe_taken(r.port)}"
        ) from None
