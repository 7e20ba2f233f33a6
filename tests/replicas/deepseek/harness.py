"""Run the DeepSeek replica and mictl-instances on it with deepseek.toml as it is."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import Proc
from tests.replicas import tls
from tests.replicas.deepseek.answers import TOKEN
from tests.replicas.tls import Replica

HOSTS = ["chat.deepseek.com"]
APP = "tests.replicas.deepseek.app:app"
ORIGIN = "https://chat.deepseek.com"


def replica(tmp: Path, pace_ms: float = 5) -> Replica:
    return Replica(APP, HOSTS, tmp, env={"REPLICA_PACE_MS": str(pace_ms)}).start()


def profile(path: Path, *, token: str | None = TOKEN) -> Path:
    """A storage_state as `mictl profile capture` saves it for DeepSeek: the
    login is in the origin's localStorage (userToken), not in a cookie."""
    storage = []
    if token is not None:
        value = json.dumps({"value": token, "__version": "0"})
        storage.append({"name": "userToken", "value": value})
    origins = [{"origin": ORIGIN, "localStorage": storage}]
    path.write_text(json.dumps({"cookies": [], "origins": origins}))
    path.chmod(0o600)
    return path


def instance(
    tmp: Path, rep: Replica, name: str, profile_path: Path, extra: list[str] | None = None
) -> tuple[Proc, int]:
    """A real mictl-instance on the bundled deepseek.toml, unchanged."""
    return tls.instance(tmp, rep, "deepseek", name, profile_path, extra)


def last_request(rep: Replica) -> dict:
    """What the replica's page last sent."""
    return tls.last_request(rep)
