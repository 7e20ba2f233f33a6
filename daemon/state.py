"""The durable state file: what the daemon learned, kept across restarts.

Config is what the operator writes; this is what the daemon learned (desired
state per program, ports, last exits, restart counts). They never mix.
"""

from __future__ import annotations

import asyncio
import logging
import os

import msgspec

from common.files import atomic_write
from daemon.types import DaemonState, ProgramState

log = logging.getLogger("mictld.state")


class StateStore:
    def __init__(self, state_dir: str) -> None:
        self.path = os.path.join(state_dir, "state.json")
        self.data = self._read()
        self._save_pending = False

    def _read(self) -> DaemonState:
        try:
            with open(self.path, "rb") as f:
                return msgspec.json.decode(f.read(), type=DaemonState)
        except FileNotFoundError:
            return DaemonState()
        except (msgspec.DecodeError, OSError) as exc:
            # Never refuse to start over learned state: start afresh, say so,
            # and keep the unreadable file for a post-mortem.
            log.warning("state file %s unreadable (%s); starting with empty state", self.path, exc)
            os.replace(self.path, self.path + ".corrupt")
            return DaemonState()

    def program(self, name: str) -> ProgramState:
        return self.data.programs.setdefault(name, ProgramState())

    def forget(self, name: str) -> None:
        self.data.programs.pop(name, None)
        self.save_soon()

    def save(self) -> None:
        self._save_pending = False
        atomic_write(self.path, msgspec.json.format(msgspec.json.encode(self.data)), 0o600)

    def save_soon(self) -> None:
        """Coalesce the writes of one loop iteration (20 exits at once: one write)."""
        if self._save_pending:
            return
        self._save_pending = True
        try:
            asyncio.get_running_loop().call_soon(self.save)
        except RuntimeError:
            self.save()
