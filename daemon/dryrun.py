"""`mictld --dry-run -c FILE`: what would start, on which ports, and whether
it fits in memory, without starting or writing anything.

Exit 0 when it would start cleanly, 2 with the reasons otherwise (a port
taken, a profile unusable, more memory than the machine has available, a
mictld already running on the same state dir).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import socket

import msgspec

from common import ports
from common.files import read_regular
from daemon import state_repair
from daemon.config import loader as config_mod
from daemon.config import shards
from daemon.profiles import MAX_PROFILE_BYTES, assign_ports, profile_names, validate_profile
from daemon.state import StateStore
from daemon.types import DaemonState

# Memory of one instance (PSS of runner, Playwright driver and Chromium tree),
# from bench/instance_memory.py as bench/RESULTS.md reports it: 361 MB alone, 222 MB
# each when four run at once (they share pages). Hence the first instance at
# the first figure and every further one at the second.
FIRST_INSTANCE_MB = 361
FURTHER_INSTANCE_MB = 222


class Row(msgspec.Struct, kw_only=True):
    name: str
    kind: str  # instance | program | front | upstream | mictld
    port: int | None = None
    port_status: str = "-"  # free | taken by ... | -
    site: str = "-"
    profile: str = "-"
    starts: bool = True
    note: str = ""


class Report(msgspec.Struct, kw_only=True):
    config: str
    socket: str
    state_dir: str
    rows: list[Row]
    instances: int
    estimate_mb: int
    per_instance: str
    available_mb: int | None
    problems: list[str]
    warnings: list[str]


class _ReadOnlyStore(StateStore):
    """The state file as the daemon would read it, never written nor moved."""

    def _read(self) -> DaemonState:
        try:
            with open(self.path, "rb") as f:
                return state_repair.repair(f.read())[0]
        except OSError:
            return DaemonState()

    def release_port(self, port: int, why: str) -> None:
        state_repair.release_port(self.data.programs, port, why)

    def save(self) -> None:
        pass

    def save_soon(self) -> None:
        pass


def mem_available_mb() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def estimate_mb(count: int, instance_mb: int | None) -> tuple[int, str]:
    if instance_mb is not None:
        return count * instance_mb, f"{instance_mb} MB each (--instance-mb)"
    if count == 0:
        return 0, "none"
    total = FIRST_INSTANCE_MB + FURTHER_INSTANCE_MB * (count - 1)
    return total, (
        f"{FIRST_INSTANCE_MB} MB for the first, {FURTHER_INSTANCE_MB} MB each further "
        "(bench/instance_memory.py)"
    )


def _port_of(argv: tuple[str, ...]) -> int | None:
    """A program's port when its command says `--port N` (best effort)."""
    for i, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--port=") else None
        if arg == "--port" and i + 1 < len(argv):
            value = argv[i + 1]
        if value is not None and value.isdigit():
            return int(value)
    return None


def _check_port(row: Row, host: str, problems: list[str]) -> None:
    if row.port is None:
        return
    try:
        free = ports.is_free(row.port, host)
    except OSError as exc:
        row.port_status = f"cannot check ({exc.strerror})"
        return
    if free:
        row.port_status = "free"
        return
    row.port_status = ports.describe_taken(row.port)
    if row.starts:
        problems.append(f"{row.name}: port {row.port} is {row.port_status}")


def _daemon_running(cfg: config_mod.Config) -> str | None:
    """Another mictld on this state dir (its lock) or socket, said in words."""
    lock = os.path.join(cfg.daemon.state_dir, "mictld.lock")
    with contextlib.suppress(OSError):
        fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            return f"a mictld (pid {holder}) is already running on {cfg.daemon.state_dir}"
        finally:
            os.close(fd)
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(cfg.daemon.socket)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ECONNREFUSED):
                return None
        else:
            return f"a daemon already answers on {cfg.daemon.socket}"
    return None


class _Collect(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


def plan(cfg: config_mod.Config, *, instance_mb: int | None = None) -> Report:
    """What would start; what profiles.py would log goes into the warnings."""
    warnings: list[str] = []
    handler = _Collect(warnings)
    logger = logging.getLogger("mictld")
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        return _plan(cfg, instance_mb, warnings)
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _plan(cfg: config_mod.Config, instance_mb: int | None, warnings: list[str]) -> Report:
    problems: list[str] = []
    store = _ReadOnlyStore(cfg.daemon.state_dir)
    rows: list[Row] = []
    for spec in config_mod.program_specs(cfg):
        row = Row(name=spec.name, kind="program", port=_port_of(spec.argv), starts=spec.autostart)
        row.note = " ".join(spec.argv)
        rows.append(row)
    profiles = profile_names(cfg.profiles.dir, shards.mine(cfg.profiles))
    for clash in sorted(set(profiles) & {r.name for r in rows}):
        warnings.append(f"profile {clash} skipped: a [programs.{clash}] has the same name")
        del profiles[clash]
    router_port = cfg.router.port if cfg.router.enabled else None
    assigned = assign_ports(list(profiles), store, cfg.profiles.base_port, router_port)
    for name, pool in profiles.items():
        row = Row(name=name, kind="instance", port=assigned[name])
        row.site, row.profile = cfg.profiles.site, str(pool)
        try:
            validate_profile(read_regular(pool, MAX_PROFILE_BYTES))  # never a FIFO
        except (OSError, ValueError) as exc:
            row.starts, row.note = False, f"FATAL: {exc}"
            problems.append(f"{name}: profile {pool}: {exc}")
        rows.append(row)
    for row in rows:
        desired = store.data.programs.get(row.name)
        if row.starts and desired is not None and desired.desired == "stopped":
            row.starts, row.note = False, "stopped by an operator (state file)"
        elif row.kind == "program" and not row.starts and not row.note.startswith("FATAL"):
            row.note = "autostart = false"
    running = _daemon_running(cfg)
    if running:
        problems.append(running)
    for row in rows:
        _check_port(row, cfg.profiles.host if row.kind == "instance" else "127.0.0.1", problems)
    if cfg.router.enabled:
        front = Row(name="(front router)", kind="front", port=cfg.router.port)
        front.note = f"{cfg.router.host}:{cfg.router.port}, strategy {cfg.router.strategy}"
        _check_port(front, cfg.router.host, problems)
        rows.append(front)
    for name, up in sorted(cfg.upstreams.items()):
        kind = "mictld" if up.kind == "mictld" else "upstream"  # another host's front port
        rows.append(Row(name=name, kind=kind, note=up.base_url))
    count = sum(1 for r in rows if r.kind == "instance" and r.starts)
    estimate, per_instance = estimate_mb(count, instance_mb)
    available = mem_available_mb()
    if available is not None and estimate > available:
        problems.append(
            f"memory: {count} instances need about {estimate} MB, "
            f"{available} MB is available: they would not fit"
        )
    return Report(
        config=cfg.path,
        socket=cfg.daemon.socket,
        state_dir=cfg.daemon.state_dir,
        rows=rows,
        instances=count,
        estimate_mb=estimate,
        per_instance=per_instance,
        available_mb=available,
        problems=problems,
        warnings=warnings,
    )


def render(report: Report) -> str:
    lines = [
        f"mictld dry run of {report.config}",
        f"  control socket {report.socket}, state in {report.state_dir}",
        "",
    ]
    header = ["NAME", "KIND", "PORT", "PORT STATUS", "SITE", "PROFILE", "STARTS", "NOTE"]
    table = [header] + [
        [
            r.name,
            r.kind,
            str(r.port) if r.port is not None else "-",
            r.port_status,
            r.site,
            r.profile,
            "yes" if r.starts else "no",
            r.note,
        ]
        for r in report.rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
        lines.append("  " + "  ".join([*cells, row[-1]]).rstrip())
    available = f"{report.available_mb} MB" if report.available_mb is not None else "unknown"
    verdict = (
        "fits"
        if report.available_mb is None or report.estimate_mb <= report.available_mb
        else "WOULD NOT FIT"
    )
    lines += [
        "",
        f"  memory: {report.instances} instances, about {report.estimate_mb} MB "
        f"({report.per_instance}); available {available}: {verdict}",
    ]
    lines += [f"  warning: {w}" for w in report.warnings]
    if report.problems:
        lines += ["", "would not start cleanly:"] + [f"  - {p}" for p in report.problems]
    else:
        lines += ["", "ok: it would start"]
    return "\n".join(lines)


def run(cfg: config_mod.Config, *, instance_mb: int | None = None, as_json: bool = False) -> int:
    report = plan(cfg, instance_mb=instance_mb)
    if as_json:
        print(msgspec.json.format(msgspec.json.encode(report)).decode())
    else:
        print(render(report))
    return 2 if report.problems else 0
