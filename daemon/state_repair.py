"""Reading the state file without trusting it.

The state file is the daemon's own, but a disk, an editor or an older mictld
may have damaged it. Whatever it holds, mictld starts: what can be read is
kept (an operator's stop on one program survives a bad port on another),
what cannot is dropped and named, and `mictl status` shows the names.

    repair(raw bytes) -> (DaemonState, damage)

Pure: no I/O, never raises. Checked here: the file is a JSON object; each
program's entry and each of its keys separately; ports in 1..65535 and
unique (the second holder of a port loses it and gets a new one).
"""

from __future__ import annotations

from typing import Any

import msgspec

from daemon.types import DaemonState, ProgramState


def repair(raw: bytes) -> tuple[DaemonState, list[str]]:
    """The state `raw` holds, what could not be kept of it, and why."""
    try:
        doc = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError) as exc:
        return DaemonState(), [f"not JSON ({exc}): everything in it dropped"]
    if not isinstance(doc, dict):
        return DaemonState(), [f"not a JSON object but {type(doc).__name__}: dropped"]
    damage: list[str] = []
    entries = doc.get("programs", {})
    if not isinstance(entries, dict):
        damage.append(f"programs: not an object but {type(entries).__name__}: dropped")
        entries = {}
    programs: dict[str, ProgramState] = {}
    for name, entry in sorted(entries.items()):
        programs[name] = _program(name, entry, damage)
    _unique_ports(programs, damage)
    return DaemonState(programs=programs), damage


def _program(name: str, entry: Any, damage: list[str]) -> ProgramState:
    if not isinstance(entry, dict):
        damage.append(f"{name}: not an object but {type(entry).__name__}: dropped")
        return ProgramState()
    try:
        return msgspec.convert(entry, ProgramState)
    except (msgspec.ValidationError, RecursionError):
        pass
    kept: dict[str, Any] = {}
    for key, value in entry.items():
        try:
            msgspec.convert({key: value}, ProgramState)
        except (msgspec.ValidationError, RecursionError) as exc:
            message = str(exc).partition(" - at ")[0]
            damage.append(f"{name}.{key} = {_short(value)}: {message}: dropped")
        else:
            kept[key] = value
    return msgspec.convert(kept, ProgramState)


def _unique_ports(programs: dict[str, ProgramState], damage: list[str]) -> None:
    holder: dict[int, str] = {}
    for name, saved in programs.items():  # sorted: the first name keeps it
        if saved.port is None:
            continue
        if saved.port in holder:
            damage.append(
                f"{name}.port = {saved.port}: also {holder[saved.port]}'s: a new one is assigned"
            )
            saved.port = None
        else:
            holder[saved.port] = name


def release_port(programs: dict[str, ProgramState], port: int, why: str) -> list[str]:
    """Take `port` (the router's, say) from whoever holds it; their damage lines."""
    damage = []
    for name, saved in programs.items():
        if saved.port == port:
            saved.port = None
            damage.append(f"{name}.port = {port}: {why}: a new one is assigned")
    return damage


def _short(value: Any) -> str:
    text = msgspec.json.encode(value).decode(errors="replace")
    return text if len(text) <= 40 else text[:37] + "..."
