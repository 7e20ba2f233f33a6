"""What every mictl command shares: exit codes, the socket client with its
errors translated for the CLI, JSON output (tables: ctl/table.py)."""

from __future__ import annotations

import fnmatch
import sys
from typing import Any

import click
import msgspec

from ctl.client import ApiError, Client, DaemonUnreachable
from ctl.errors import EXIT_FAILED, Failed, Unreachable, Usage
from daemon.paths import default_socket_path
from daemon.types import ProgramInfo


def socket_from(config_path: str | None) -> str:
    if not config_path:
        return default_socket_path()
    from daemon.config import loader as daemon_config  # only now: it is slow to import

    try:
        return daemon_config.load(config_path).daemon.socket
    except daemon_config.ConfigError as exc:
        raise Usage(str(exc)) from None


class Ctl:
    """What ctx.obj holds: the socket client, with errors translated for the CLI."""

    def __init__(self, socket_path: str) -> None:
        self.client = Client(socket_path)

    def call(self, method: str, path: str, type: Any, **query: Any) -> Any:
        try:
            return self.client.call(method, path, type, query or None)
        except DaemonUnreachable as exc:
            raise Unreachable(
                f"{exc}: is mictld running? start it with `mictld -c CONFIG` "
                "or `systemctl start mictld`"
            ) from None
        except ApiError as exc:
            if exc.status == 404 or exc.status == 400:
                raise Usage(str(exc)) from None
            raise Failed(str(exc)) from None

    def stream(self, path: str, **query: Any) -> Any:
        try:
            yield from self.client.stream(path, query)
        except DaemonUnreachable as exc:
            raise Unreachable(f"{exc}: is mictld running?") from None
        except ApiError as exc:
            raise (Usage if exc.status in (400, 404) else Failed)(str(exc)) from None


pass_ctl = click.make_pass_decorator(Ctl)


def emit_json(data: Any) -> None:
    click.echo(msgspec.json.format(msgspec.json.encode(data)).decode())


def names_or_all(ctl: Ctl, names: tuple[str, ...], all_: bool) -> list[str]:
    if all_ and names:
        raise Usage("give program names or --all, not both")
    if all_:
        return [p.name for p in ctl.call("GET", "/v1/programs", list[ProgramInfo])]
    if not names:
        raise Usage("name at least one program, or use --all")
    return expand_patterns(ctl, names)


def expand_patterns(ctl: Ctl, names: tuple[str, ...]) -> list[str]:
    """`web:*` or `web:` (supervisorctl's group syntax: numprocs copies, a
    [groups.web]'s members; any glob) -> the matching names."""
    names = tuple(f"{n}*" if n.endswith(":") else n for n in names)
    if not any(c in n for n in names for c in "*?["):
        return list(names)
    known = [p.name for p in ctl.call("GET", "/v1/programs", list[ProgramInfo])]
    found: list[str] = []
    for name in names:
        matches = fnmatch.filter(known, name) if any(c in name for c in "*?[") else [name]
        if not matches:
            raise Usage(f"no program matches {name!r}")
        found += [m for m in matches if m not in found]
    return found


def operate(
    ctl: Ctl, verb: str, names: list[str], wait: bool, as_json: bool, ok_states: set[str]
) -> None:
    """Run one verb on many programs in parallel (each waits on its own)."""

    def one(name: str) -> ProgramInfo:
        return ctl.call("POST", f"/v1/programs/{name}/{verb}", ProgramInfo, wait=int(wait))

    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(names) or 1)) as pool:
        futures = {name: pool.submit(one, name) for name in names}
    results, errors = [], []
    worst = 0
    for name, future in futures.items():
        try:
            results.append(future.result())
        except click.ClickException as exc:
            errors.append(f"{name}: {exc.format_message()}")
            worst = max(worst, exc.exit_code)
    report(results, wait, as_json, ok_states, errors=errors, worst=worst)


def report(
    results: list[ProgramInfo],
    wait: bool,
    as_json: bool,
    ok_states: set[str],
    *,
    errors: list[str] | None = None,
    worst: int = 0,
) -> None:
    """Print each program's outcome; exit non-zero if one is not in ok_states."""
    if as_json:
        emit_json(results)
    for info in results:
        good = not wait or info.state in ok_states
        if not as_json:
            detail = f" ({info.reason})" if info.reason and not good else ""
            click.echo(f"{info.name}: {info.state}{detail}")
        if not good:
            worst = max(worst, EXIT_FAILED)
    for line in errors or []:
        click.echo(f"mictl: {line}", err=True)
    if worst:
        sys.exit(worst)
