"""Where things live by default; light enough for the CLI to import."""

from __future__ import annotations

import os


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
    from pathlib import Path  # only here: pathlib costs `mictl status` ~15 ms to import

    return str(Path.home() / ".local" / "state" / "mictl")
