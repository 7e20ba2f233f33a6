"""supervisord's `[group:x]` sections, spelled `[groups.x]` in mictld's TOML.

    [groups.backend]
    programs = ["api", "worker"]     # or supervisord's "api,worker"
    priority = 100                   # optional; orders the group as supervisord's

A member's processes are named `GROUP:PROCESS`, supervisord's namespec
(`backend:api`, `backend:worker`; a member with numprocs gives
`backend:worker_00`...), so `mictl start 'backend:*'` takes the whole group,
as `supervisorctl start backend:*` does, and `%(group_name)s` expands to the
group's name. As supervisord's, a group naming a program that does not exist
is refused; unlike supervisord's (which would run it twice), a program in two
groups is refused too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from supervisor.datatypes import list_of_strings

from common.names import NAME_RE
from daemon.config.schema import GroupSection


def members(groups: Mapping[str, GroupSection], programs: Mapping[str, Any]) -> dict[str, str]:
    """program name -> the group it is in. Raises ValueError("groups.X.KEY: why")."""
    member_of: dict[str, str] = {}
    for group, section in sorted(groups.items()):
        key = f"groups.{group}"
        if not NAME_RE.match(group):
            raise ValueError(f"{key}: name must match {NAME_RE.pattern}")
        names = section.programs
        if isinstance(names, str):
            names = list_of_strings(names)
        for name in names:
            if name not in programs:
                raise ValueError(f"{key}.programs: names unknown program {name!r}")
            if name in member_of:
                raise ValueError(
                    f"{key}.programs: {name!r} is already in group {member_of[name]!r} "
                    "(a program belongs to one group at most)"
                )
            member_of[name] = group
    for group in groups:
        if group in programs and member_of.get(group) != group:
            raise ValueError(
                f"groups.{group}: [programs.{group}] outside the group has the same name "
                f"(`{group}:*` would address both)"
            )
    return member_of


def group_priority(groups: Mapping[str, GroupSection], name: str) -> int | None:
    """The priority of the group process `name` belongs to, or None."""
    group, colon, _ = name.partition(":")
    section = groups.get(group) if colon else None
    return None if section is None else section.priority
