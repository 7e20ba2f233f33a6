"""Where things live by default; light enough for the CLI to import."""

from __future__ import annotations

import os
from pathlib import Path


def is_root() -> bool:
    return os.geteuid() == 0


def default_socket_path() -> str:
    if is_root():
        return "/run/mictl/mictl.sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/mictl-{os.getuid()}"
    return os.path.join(runtime, "mictl", "mictl.sock")


def default_state_dir() -> str:
    if is_root():
        return "/var/lib/mictl"
    return str(Path.home() / ".local" / "state" / "mictl")
