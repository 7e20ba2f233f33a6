"""supervisord program options mictld takes beyond its own core set.

`user` and `umask` are honoured (the child drops privileges before exec, as
supervisord's does); options with no meaning here (`serverurl`, the capture
and event keys of supervisord's event system) are accepted with a warning
that names the key, so a supervisord config loads instead of being refused.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
from typing import Any

from supervisor import datatypes

from daemon.types import Identity

log = logging.getLogger("mictld.config")

IGNORED = (
    "serverurl",
    "stdout_capture_maxbytes",
    "stderr_capture_maxbytes",
    "stdout_events_enabled",
    "stderr_events_enabled",
)


def drop_ignored(options: dict[str, Any], key: str) -> dict[str, Any]:
    """A copy without the keys that mean nothing here; one warning each."""
    for option in IGNORED:
        if option in options:
            log.warning("%s.%s: accepted and ignored (no use in mictld)", key, option)
    return {k: v for k, v in options.items() if k not in IGNORED}


def identity(user: str) -> Identity | None:
    """`user = NAME|UID` -> its uid, primary gid and groups. Raises ValueError."""
    if not user:
        return None
    uid = datatypes.name_to_uid(user)
    record = pwd.getpwuid(uid)
    groups = tuple(g.gr_gid for g in grp.getgrall() if record.pw_name in g.gr_mem)
    return Identity(uid, record.pw_gid, (record.pw_gid, *groups))


def umask(value: str | int) -> int:
    """`umask = "022"` -> 0o022; "" -> -1 (inherit, as Popen takes it)."""
    if value == "":
        return -1
    return datatypes.octal_type(str(value))


# The umask mictld was started with, before it set its own 077: a program's
# unless its `umask` says otherwise, as supervisord passes on its own.
_started_with = -1


def remember_umask(mask: int) -> None:
    global _started_with
    _started_with = mask


def spawn_umask(configured: int) -> int:
    """The umask a program starts with (-1: leave the daemon's)."""
    return configured if configured >= 0 else _started_with


def supervisor_env(name: str, server_url: str) -> dict[str, str]:
    """What supervisord puts in every program's environment (before the
    program's own `environment`, which may override it). `g:p` is process
    `p` of group `g`; a name without a group is its own group, as there."""
    group, _, process = name.rpartition(":")
    env = {
        "SUPERVISOR_ENABLED": "1",
        "SUPERVISOR_PROCESS_NAME": process,
        "SUPERVISOR_GROUP_NAME": group or process,
    }
    if server_url:
        env["SUPERVISOR_SERVER_URL"] = server_url
    return env


def cannot_drop(ident: Identity | None) -> str | None:
    """supervisord's refusal when the daemon cannot switch to `user`."""
    if ident is None or ident.uid == os.geteuid() or os.geteuid() == 0:
        return None
    return f"couldn't setuid to {ident.uid}: Can't drop privilege as nonroot user"
