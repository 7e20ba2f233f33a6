"""supervisord's `%(name)s` expansions in [programs.NAME] values.

As in supervisord's options.py: every string value may use `%(here)s` (the
config file's directory), `%(program_name)s`, `%(group_name)s`,
`%(host_node_name)s`, `%(process_num)d`, `%(numprocs)d` and `%(ENV_X)s` (the
daemon's environment, then the program's own `environment`, which is
expanded first). A literal `%` is written `%%`, as there. An unknown name
or a bad format refuses the file with supervisord's message and the key.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from typing import Any

from supervisor.datatypes import dict_of_key_value_pairs
from supervisor.options import expand

from common.names import NAME_RE


def program_expansions(
    name: str,
    here: str,
    environ: Mapping[str, str],
    *,
    process_num: int = 0,
    numprocs: int = 1,
    group: str = "",
) -> dict[str, Any]:
    found: dict[str, Any] = {f"ENV_{k}": v for k, v in environ.items()}
    found.update(
        here=here,
        program_name=name,
        group_name=group or name,
        host_node_name=platform.node(),
        process_num=process_num,
        numprocs=numprocs,
    )
    return found


def expand_program(options: dict[str, Any], expansions: dict[str, Any], key: str) -> dict[str, Any]:
    """A copy of one program's raw TOML table with every string expanded.

    Raises ValueError("KEY.OPTION: supervisord's message").
    """

    def one(option: str, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return expand(value, expansions, f"{key}.{option}")
        except ValueError as exc:
            raise ValueError(f"{key}.{option}: {exc}") from None

    out = dict(options)
    env = out.get("environment")
    if isinstance(env, str):
        env = one("environment", env)
        out["environment"] = env
        try:
            pairs = dict_of_key_value_pairs(env)
        except ValueError:
            pairs = {}  # the schema names the key when it parses it
    elif isinstance(env, dict):
        env = {k: one(f"environment.{k}", v) for k, v in env.items()}
        out["environment"] = env
        pairs = env
    else:
        pairs = {}
    expansions = {**expansions, **{f"ENV_{k}": v for k, v in pairs.items()}}
    for option, value in out.items():
        if option != "environment":
            out[option] = one(option, value)
    return out


MAX_NUMPROCS = 1000  # supervisord has no bound; 2**32 copies would hang the load


def copies(
    name: str, options: dict[str, Any], here: str, environ: Mapping[str, str], group: str = ""
) -> list[tuple[str, dict[str, Any]]]:
    """supervisord's `numprocs`: one [programs.NAME] -> its processes, each
    with its options expanded (`%(process_num)d` and the rest).

    Outside a group, one process keeps NAME. Several are
    `NAME:<process_name>`, where process_name (supervisord's key) must use
    %(process_num); mictld's default is "%(process_num)02d": web:00, web:01...
    `mictl restart 'web:*'` takes them all. A member of [groups.GROUP] is
    `GROUP:<process_name>` (default NAME, or NAME_00... with numprocs), as
    supervisord names it. Raises ValueError("programs.NAME.KEY: ...").
    """
    key = f"programs.{name}"
    options = dict(options)
    numprocs = integer(options.pop("numprocs", 1), f"{key}.numprocs")
    start = integer(options.pop("numprocs_start", 0), f"{key}.numprocs_start")
    template = str(options.pop("process_name", ""))
    if not 1 <= numprocs <= MAX_NUMPROCS or start < 0:
        raise ValueError(f"{key}.numprocs: must be 1..{MAX_NUMPROCS} (and numprocs_start >= 0)")
    if numprocs > 1 and template and "%(process_num)" not in template:
        raise ValueError(f"{key}.process_name: must use %(process_num) when numprocs > 1")
    if group:
        default = "%(program_name)s_%(process_num)02d" if numprocs > 1 else "%(program_name)s"
    else:
        default = "%(process_num)02d"
    template = template or default
    out = []
    for num in range(start, start + numprocs):
        found = program_expansions(
            name, here, environ, process_num=num, numprocs=numprocs, group=group
        )
        expanded = expand_program(options, found, key)
        if numprocs == 1 and not group:
            out.append((name, expanded))
            continue
        process = expand(template, found, f"{key}.process_name")
        if not NAME_RE.match(process):
            raise ValueError(f"{key}.process_name: {process!r} must match {NAME_RE.pattern}")
        out.append((f"{group or name}:{process}", expanded))
    return out


def integer(value: Any, key: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None
