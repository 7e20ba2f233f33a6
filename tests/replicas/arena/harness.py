"""Run the arena replica and talk to its control endpoint from tests."""

from __future__ import annotations

import json
import ssl
import urllib.request
from pathlib import Path
from typing import Any

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
