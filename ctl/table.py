"""`mictl status`'s table and footer, and the column layout other commands
share. Imports neither click nor msgspec: the status fast path
(`ctl/entry.py`) prints with it from plain JSON dicts, the click command from
msgspec Structs; one implementation, so the two cannot drift apart.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing (and re with it) costs ~20 ms
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

STATE_COLOURS = {
    "RUNNING": "green",
    "STARTING": "yellow",
    "STOPPING": "yellow",
    "BACKOFF": "red",
    "FATAL": "red",
    "EXITED": "magenta",
}

# click.style(text, fg=NAME)'s bytes: the colour's SGR code, the text, a reset
# (the reset comes even without a colour, as click.style's reset=True has it).
_ANSI_FG = {"red": 31, "green": 32, "yellow": 33, "magenta": 35}
_RESET = "\x1b[0m"


def style(text: str, fg: str | None) -> str:
    """What click.style(text, fg=fg) returns, for the colours above."""
    return (f"\x1b[{_ANSI_FG[fg]}m" if fg else "") + text + _RESET


def field(record: Any, name: str) -> Any:
    """`record.name` of a Struct, `record[name]` of a decoded JSON object."""
    return record[name] if isinstance(record, dict) else getattr(record, name)


def fmt_uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d{s // 3600 % 24}h"
    return f"{s // 3600}:{s // 60 % 60:02}:{s % 60:02}"


def columns(
    header: list[str],
    rows: list[list[str]],
    colour_second: Callable[[str, list[str]], str] | None = None,
) -> str:
    """Aligned columns like `docker ps`; the last one is not padded."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for i, row in enumerate([header, *rows]):
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)] + [row[-1]]
        if colour_second and i > 0:
            cells[1] = colour_second(cells[1], row)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def status_table(programs: Sequence[Any], colour: bool) -> str:
    """`mictl status`'s table of ProgramInfo records (Structs or dicts)."""
    extra = any(field(p, "routing") is not None for p in programs)
    header = ["NAME", "STATE", "PID", "UPTIME", "PORT", "RESTARTS"]
    if extra:
        header += ["INFLIGHT", "BREAKER"]
    header.append("DESCRIPTION")
    rows = []
    for p in programs:
        state, routing = field(p, "state"), field(p, "routing")
        # Like docker's STATUS: the process state, then whether it takes work.
        row = [
            field(p, "name"),
            f"{state}, {routing}" if routing and state == "RUNNING" else state,
            str(field(p, "pid") or "-"),
            fmt_uptime(field(p, "uptime")),
            str(field(p, "port") or "-"),
            str(field(p, "restarts")),
        ]
        if extra:
            in_flight = field(p, "in_flight")
            row += [str(in_flight if in_flight is not None else "-"), field(p, "breaker") or "-"]
        desc = field(p, "description")
        if state in ("FATAL", "BACKOFF"):
            desc = field(p, "reason") or desc
        if field(p, "desired") == "stopped" and state in ("STOPPED", "EXITED"):
            desc = f"stopped by operator; {desc}"
        proxy = p.get("proxy") if isinstance(p, dict) else getattr(p, "proxy", "")
        if proxy:  # scheme://host:port: the config never holds credentials
            desc = f"{desc}; proxy {proxy}"
        if field(p, "warning"):
            desc = f"{desc}; WARNING: {field(p, 'warning')}"
        row.append(desc)
        rows.append(row)

    def coloured(cell: str, row: list[str]) -> str:
        return style(cell, STATE_COLOURS.get(row[1].split(",")[0]))

    return columns(header, rows, colour_second=coloured if colour else None)


def status_footer(info: Any) -> list[tuple[bool, str]]:
    """The lines `mictl status` prints under the table, from GET /v1/daemon's
    DaemonInfo (a Struct or a dict), in order: (to stderr?, line)."""
    lines = []
    front, state_error = field(info, "front"), field(info, "state_error")
    if front:
        lines.append(
            (False, f"front port {front}: {field(info, 'queue_length')} waiting in the queue")
        )
    if info.get("draining") if isinstance(info, dict) else info.draining:
        lines.append(
            (True, "mictl: mictld is drained (drain --all): new requests get 503; undrain --all")
        )
    if state_error:
        lines.append((True, f"mictl: warning: {state_error} (operator stops are not saved)"))
    damaged = info.get("state_damage") if isinstance(info, dict) else info.state_damage
    for damage in damaged or []:
        lines.append((True, f"mictl: warning: state file damaged at start: {damage}"))
    log_error = info.get("log_error") if isinstance(info, dict) else info.log_error
    if log_error:
        lines.append((True, f"mictl: warning: mictld's own log: {log_error}"))
    roll = field(info, "roll")
    if roll is not None and (field(roll, "running") or field(roll, "stopped")):
        state = "running" if field(roll, "running") else f"stopped: {field(roll, 'stopped')}"
        batches = len(field(roll, "batches"))
        lines.append(
            (False, f"rolling restart {state}: {field(roll, 'done')}/{batches} batches done")
        )
    return lines
