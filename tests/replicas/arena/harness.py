"""Run the arena replica and talk to its control endpoint from tests."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.helpers import BIN, Proc, free_port, wait_until
from tests.replicas.arena.app import COOKIE, token_for
from tests.replicas.tls import Replica

HOSTS = ["arena.ai", "lmarena.ai", "www.lmarena.ai"]


def start(tmp: Path, accounts: list[str], pace: float = 0.01) -> Replica:
    env = {"ARENA_REPLICA_ACCOUNTS": ",".join(accounts), "ARENA_REPLICA_PACE": str(pace)}
    return Replica("tests.replicas.arena.app:app", HOSTS, tmp, env=env).start()


def profile(account: str | None, host: str = ".arena.ai") -> str:
    """A Playwright storage_state signed in as `account` on `host` (None: signed out)."""
    cookies = []
    if account is not None:
        cookies.append(
            {
                "name": COOKIE,
                "value": token_for(account),
                "domain": host,
                "path": "/",
                "expires": -1,
                "httpOnly": False,
                "secure": True,
                "sameSite": "Lax",
            }
        )
    return json.dumps({"cookies": cookies, "origins": []})


def _call(replica: Replica, path: str, body: dict[str, Any] | None = None) -> Any:
    context = ssl.create_default_context(cafile=str(replica.cert))
    context.check_hostname = False  # the cert names arena.ai; we dial 127.0.0.1
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"https://127.0.0.1:{replica.port}{path}",
        data=data,
        headers={"content-type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=10, context=context) as r:
        return json.loads(r.read())


def account(replica: Replica, name: str) -> dict[str, Any]:
    return _call(replica, f"/__replica/accounts/{name}")


def set_account(replica: Replica, name: str, **change: Any) -> dict[str, Any]:
    return _call(replica, f"/__replica/accounts/{name}", change)


def instance_argv(replica: Replica, *, probe: float = 10.0) -> list[str]:
    """mictl-instance's flags for the replica: the site file unchanged (real
    URLs, the replica reached through the browser's host rules)."""
    argv = ["--site", "lmarena", "--captcha-probe", str(probe)]
    return argv + [f"--browser-arg={a}" for a in replica.browser_args]


def instance(
    tmp: Path, replica: Replica, name: str, profile_text: str, extra: list[str] | None = None
) -> tuple[Proc, int]:
    """A real mictl-instance for one account; waits until it answers /health."""
    copy = tmp / f"{name}.json"
    copy.write_text(profile_text)
    copy.chmod(0o600)
    port = free_port()
    argv = [str(BIN / "mictl-instance"), "--profile", str(copy), "--port", str(port)]
    argv += ["--name", name, "--log-dir", str(tmp / "log"), *instance_argv(replica)]
    proc = Proc(argv + (extra or []), tmp / f"{name}.log")

    def settled() -> bool:
        if proc.proc.poll() is not None:
            raise AssertionError(f"instance exited {proc.proc.returncode}:\n{proc.output()}")
        report = health(port)
        return report is not None and report.get("state") not in (None, "starting")

    wait_until(settled, 90, f"instance {name}")
    return proc, port


def health(port: int, key: str = "") -> dict[str, Any] | None:
    """An instance's /health (`key`: the one mictld gave it, when under mictld)."""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/health", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())
    except OSError:
        return None
