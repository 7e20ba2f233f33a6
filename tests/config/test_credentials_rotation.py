"""New proxy credentials in the same file reach the instance: mictld's
watcher sees the file change (in a folder of its own, beside neither the
config nor the profiles), the reload restarts that instance alone, and no
log says what the credentials are. The same credentials written again
restart nothing."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from common.proxy import Credentials
from daemon.config.overrides import stamp
from daemon.types import DaemonInfo
from tests.helpers import LISTENER, Mictld, running, stays, wait_until

OLD, NEW = "alice:Old-pw-3xQ7", "alice:New-pw-9kT2"


def write_private(path: Path, text: str) -> None:
    """As an operator's tooling writes a secret: a new file renamed over the old."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text + "\n")
    tmp.chmod(0o600)
    os.replace(tmp, path)


def within(check: Callable[[], object], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def reloads(d: Mictld) -> float:
    info = d.client.call("GET", "/v1/daemon", DaemonInfo)
    return info.last_reload.at if info.last_reload else 0.0


def test_new_credentials_in_the_same_file_restart_that_instance_alone(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    creds = secrets / "alice.proxy"
    write_private(creds, OLD)
    body = f"""
        [profiles.overrides.alice]
        proxy = "http://127.0.0.1:9"
        proxy_credentials_file = "{creds}"
        [profiles.overrides.bob]
        proxy = "http://127.0.0.1:9"
    """
    listener = f"{sys.executable} {LISTENER} {{port}} {{flags}}"  # {flags}: the proxy's
    with running(tmp_path, body, command=listener) as d:
        d.start_with("alice", "bob")
        pids = {n: d.program(n).pid for n in ("alice", "bob")}

        # Until the watcher is live: a change it always sees (the config, unchanged).
        def seen_a_reload() -> bool:
            before = reloads(d)
            d.config.write_text(d.config.read_text())
            return within(lambda: reloads(d) > before, 1.5)

        wait_until(seen_a_reload, 60, "the config watcher to be live")

        before = reloads(d)
        write_private(creds, OLD)  # the same credentials: a reload, no restart
        wait_until(lambda: reloads(d) > before, 30, "a reload for the rewritten file")
        stays(lambda: {n: d.program(n).pid for n in pids} == pids, 2, "no restart")

        write_private(creds, NEW)
        alice = wait_until(
            lambda: (p := d.program("alice")).state == "RUNNING" and p.pid != pids["alice"] and p,
            30,
            "alice restarted with her new credentials",
        )
        assert alice.pid != pids["alice"] and d.program("bob").pid == pids["bob"]
        info = d.client.call("GET", "/v1/daemon", DaemonInfo)
        assert info.last_reload is not None and info.last_reload.restarted == ["alice"]

        logs = d.output() + "".join(
            p.read_text(errors="replace") for p in (tmp_path / "log").rglob("*") if p.is_file()
        )
        for secret in (OLD, NEW):
            assert secret.split(":")[1] not in logs


def test_the_stamp_tells_credentials_apart_and_holds_nothing_of_them() -> None:
    old, new = Credentials(*OLD.split(":")), Credentials(*NEW.split(":"))
    assert stamp(old) == stamp(Credentials(*OLD.split(":"))) != stamp(new)
    assert stamp(Credentials("ab", "c")) != stamp(Credentials("a", "bc"))
    for part in (*OLD.split(":"), *NEW.split(":")):
        assert part not in stamp(old) + stamp(new)
