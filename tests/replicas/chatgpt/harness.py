"""Run the ChatGPT replica and mictl-instances on it with chatgpt.toml as it is."""

from __future__ import annotations

import json
import ssl
import urllib.request
from pathlib import Path

from tests.helpers import Proc
from tests.replicas import tls
from tests.replicas.chatgpt.answers import COOKIE, SESSION
from tests.replicas.tls import Replica

HOSTS = ["chatgpt.com", "files.oaiusercontent.com"]  # the page, the blob store its uploads go to
APP = "tests.replicas.chatgpt.app:app"
ORIGIN = "https://chatgpt.com"


def replica(tmp: Path, pace_ms: float = 5) -> Replica:
    return Replica(APP, HOSTS, tmp, env={"REPLICA_PACE_MS": str(pace_ms)}).start()


def profile(path: Path, *, session: str | None = SESSION) -> Path:
    """A storage_state as `mictl profile capture` saves it for ChatGPT: the
    login is the session cookie on chatgpt.com."""
    cookies = []
    if session is not None:
        cookies.append(
            {
                "name": COOKIE,
                "value": session,
                "domain": "chatgpt.com",
                "path": "/",
                "expires": -1,
                "httpOnly": True,
                "secure": True,
                "sameSite": "Lax",
            }
        )
    path.write_text(json.dumps({"cookies": cookies, "origins": []}))
    path.chmod(0o600)
    return path


def instance(
    tmp: Path, rep: Replica, name: str, profile_path: Path, extra: list[str] | None = None
) -> tuple[Proc, int]:
    """A real mictl-instance on the bundled chatgpt.toml, unchanged."""
    return tls.instance(tmp, rep, "chatgpt", name, profile_path, extra)


def last_request(rep: Replica) -> dict:
    """What the replica's page last sent to the conversation."""
    return tls.last_request(rep)


def challenge(rep: Replica, on: bool) -> None:
    """Have Cloudflare challenge every page load of the replica (or stop)."""
    context = ssl.create_default_context(cafile=str(rep.cert))
    context.check_hostname = False
    url = f"https://127.0.0.1:{rep.port}/replica/challenge?on={int(on)}"
    with urllib.request.urlopen(urllib.request.Request(url, method="POST"), context=context):
        pass
