"""Helpers for record/replay tests: run the commands, read a whole recording."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

from tests.helpers import BIN


def mictl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "mictl"), *args], capture_output=True, text=True, timeout=240, env=env
    )


def every_byte(directory: Path) -> bytes:
    """Every file of a recording, plus every HAR body decoded from base64."""
    blobs = []
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            blobs.append(path.read_bytes())
    har = json.loads((directory / "recording.har").read_text())
    for entry in har["log"]["entries"]:
        content = entry["response"].get("content", {})
        if content.get("encoding") == "base64" and content.get("text"):
            blobs.append(base64.b64decode(content["text"]))
    return b"\n".join(blobs)


def modes(directory: Path) -> set[int]:
    return {p.stat().st_mode & 0o777 for p in [directory, *directory.rglob("*")]}
