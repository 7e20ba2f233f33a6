"""Run the AI Studio replica and mictl-instances on it with aistudio.toml as it is."""

from __future__ import annotations

import json
import ssl
import urllib.request
from pathlib import Path

from tests.helpers import Proc
from tests.replicas import tls
from tests.replicas.tls import Replica

HOSTS = ["aistudio.google.com", "accounts.google.com", "alkalimakersuite-pa.clients6.google.com"]
APP = "tests.replicas.aistudio.app:app"


def replica(tmp: Path, pace_ms: float = 5) -> Replica:
    return Replica(APP, HOSTS, tmp, env={"REPLICA_PACE_MS": str(pace_ms)}).start()


def dom_site(tmp: Path) -> Path:
    """aistudio.toml reading the answer from the page (the DOM source)
    instead of from its GenerateContent request."""
    bundled = Path(__file__).resolve().parents[3] / "instance_runner/sites/aistudio.toml"
    text = bundled.read_text()
    network = '[stream]\nsource = "network"'
    assert network in text, "aistudio.toml no longer reads the network as expected"
    path = tmp / "aistudio-dom.toml"
    path.write_text(text.replace(network, '[stream]\nsource = "dom"'))
    return path


def profile(
    path: Path,
    *,
    signed_in: bool = True,
    ui: str = "new",
    trusted_only: bool = False,
    keeps_prompt: bool = False,
    loses_first_click: bool = False,
) -> Path:
    """A storage_state as `mictl profile capture` would save it for Google
    (`ui`, `trusted_only`, `keeps_prompt`, `loses_first_click`: replica-only
    switches, see app.py)."""
    cookies = []
    if signed_in:
        cookies.append(_cookie("SID", "replica-session", ".google.com"))
    if ui == "old":
        cookies.append(_cookie("replica_ui", "old", "aistudio.google.com"))
    if trusted_only:
        cookies.append(_cookie("replica_trusted_only", "1", "aistudio.google.com"))
    if keeps_prompt:
        cookies.append(_cookie("replica_keeps_prompt", "1", "aistudio.google.com"))
    if loses_first_click:
        cookies.append(_cookie("replica_loses_first_click", "1", "aistudio.google.com"))
    path.write_text(json.dumps({"cookies": cookies, "origins": []}))
    path.chmod(0o600)
    return path


def _cookie(name: str, value: str, domain: str) -> dict[str, object]:
    return {
        "name": name,
        "value": value,
        "domain": domain,
        "path": "/",
        "expires": -1,
        "httpOnly": True,
        "secure": True,
        "sameSite": "None",
    }


def instance(
    tmp: Path, rep: Replica, name: str, profile_path: Path, extra: list[str] | None = None
) -> tuple[Proc, int]:
    """A real mictl-instance on the bundled aistudio.toml, unchanged."""
    return tls.instance(tmp, rep, "aistudio", name, profile_path, extra)


def slow_loads(rep: Replica, seconds: float) -> None:
    """Serve every page load `seconds` late from now on."""
    context = ssl.create_default_context(cafile=str(rep.cert))
    context.check_hostname = False
    url = f"https://127.0.0.1:{rep.port}/replica/slow-loads?seconds={seconds}"
    urllib.request.urlopen(urllib.request.Request(url, method="POST"), context=context).close()


def last_request(rep: Replica) -> dict:
    """What the replica's page last sent."""
    return tls.last_request(rep)
