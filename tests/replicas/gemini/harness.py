"""Run the Gemini replica and mictl-instances on it with gemini.toml as it is."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import Proc
from tests.replicas import tls
from tests.replicas.tls import Replica

# The page, Google's sign-in, the upload host (push.clients6.google.com).
HOSTS = ["gemini.google.com", "accounts.google.com", "push.clients6.google.com"]
APP = "tests.replicas.gemini.app:app"


def replica(tmp: Path, pace_ms: float = 5) -> Replica:
    return Replica(APP, HOSTS, tmp, env={"REPLICA_PACE_MS": str(pace_ms)}).start()


def profile(path: Path, *, signed_in: bool = True) -> Path:
    """A storage_state as `mictl profile capture` saves it for Google: the
    session cookie SID on .google.com."""
    cookies = []
    if signed_in:
        cookies.append(
            {"name": "SID", "value": "replica-session", "domain": ".google.com", "path": "/",
             "expires": -1, "httpOnly": True, "secure": True, "sameSite": "Lax"}
        )  # fmt: skip
    path.write_text(json.dumps({"cookies": cookies, "origins": []}))
    path.chmod(0o600)
    return path


def instance(
    tmp: Path, rep: Replica, name: str, profile_path: Path, extra: list[str] | None = None
) -> tuple[Proc, int]:
    """A real mictl-instance on the bundled gemini.toml, unchanged."""
    return tls.instance(tmp, rep, "gemini", name, profile_path, extra)


def last_request(rep: Replica) -> dict:
    """What the replica's page last sent."""
    return tls.last_request(rep)
