"""The durable state file: what the daemon learned, kept across restarts.

Config is what the operator writes; this is what the daemon learned (desired
state per program, ports, last exits, restart counts). They never mix.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable

import msgspec

from common.files import atomic_write, private_dir, read_regular
from daemon import state_repair
from daemon.types import DaemonState, ProgramState

log = logging.getLogger("mictld.state")

MAX_STATE_BYTES = 64 * 2**20  # a FIFO or a runaway file is refused, not read forever


class StateStore:
    def __init__(
        self, state_dir: str, *, on_forget: Callable[[str], None] = lambda name: None
    ) -> None:
        self.path = os.path.join(state_dir, "state.json")
        # What was wrong with the file at start and was dropped (mictl status).
        self.damage: list[str] = []
        self.data = self._read()
        self._save_pending = False
        # Why the last write failed (None: saved). An operator's stop that is
        # not on disk is forgotten by the next daemon: this is shown in
        # `mictl status` and fails the command that asked for it.
        self.error: str | None = None
        self.on_forget = on_forget  # a program left the config

    def _read(self) -> DaemonState:
        try:
            raw = read_regular(self.path, MAX_STATE_BYTES)
        except FileNotFoundError:
            return DaemonState()
        except OSError as exc:
            self._damaged([f"unreadable ({exc.strerror or exc}): everything in it dropped"])
            return DaemonState()
        state, damage = state_repair.repair(raw)
        self._damaged(damage)
        return state

    def _damaged(self, damage: list[str]) -> None:
        """Never refuse to start over learned state: keep what can be read,
        name the rest (log, `mictl status`), keep the file for a post-mortem."""
        if not damage:
            return
        self.damage += damage
        kept = self.path + ".corrupt"
        log.warning("state file %s damaged (kept as %s): %s", self.path, kept, "; ".join(damage))
        with contextlib.suppress(OSError):
            os.replace(self.path, kept)

    def release_port(self, port: int, why: str) -> None:
        """A saved port that must not be used (the router's): reassigned, and said."""
        self._damaged(state_repair.release_port(self.data.programs, port, why))

    def program(self, name: str) -> ProgramState:
        return self.data.programs.setdefault(name, ProgramState())

    def forget(self, name: str) -> None:
        self.data.programs.pop(name, None)
        self.save_soon()
        self.on_forget(name)

    def save(self) -> bool:
        """Write the state file; on failure log once, keep the reason, return False."""
        self._save_pending = False
        try:
            atomic_write(self.path, msgspec.json.format(msgspec.json.encode(self.data)), 0o600)
        except OSError as exc:
            why = f"cannot write {self.path}: {exc.strerror or exc}"
            if why != self.error:
                log.error("%s; what the daemon learned (an operator's stop) is not saved", why)
            self.error = why
            return False
        if self.error is not None:
            log.info("state file %s written again", self.path)
        self.error = None
        return True

    def save_soon(self) -> None:
        """Coalesce the writes of one loop iteration (20 exits at once: one write)."""
        if self._save_pending:
            return
        self._save_pending = True
        try:
            asyncio.get_running_loop().call_soon(self.save)
        except RuntimeError:
            self.save()


def check_writable(state_dir: str) -> None:
    """Raise OSError unless files can be created in `state_dir` (made 0700)."""
    private_dir(state_dir)
    probe = os.path.join(state_dir, f".write-test.{os.getpid()}")
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    os.close(fd)
    os.unlink(probe)
