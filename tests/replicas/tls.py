"""Serve a replica of a real site over HTTPS under the site's real hostnames.

No machine here reaches the internet, so a replica (an ASGI app) is served
on 127.0.0.1 with a self-signed certificate for the real names, and Chromium
is told to resolve those names to it (`--host-resolver-rules`) and to accept
that one certificate (`--ignore-certificate-errors-spki-list`), so that a
site file is tested unchanged, real URLs included.

    replica = Replica("tests.replicas.aistudio.app:app", ["aistudio.google.com"], tmp)
    replica.start()
    ... mictl-instance ... + [f"--browser-arg={a}" for a in replica.browser_args]
    replica.stop()

Run as a program it is the server itself:
    python -m tests.replicas.tls APP --port N --cert C --key K [-- APP ARGS via env]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import BIN, Proc, free_port, port_open, wait_until


def make_cert(directory: Path, hosts: list[str]) -> tuple[Path, Path, str]:
    """A self-signed certificate for `hosts`: (cert, key, its SPKI sha256 in base64)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "replica.crt", directory / "replica.key"
    san = ",".join(f"DNS:{h}" for h in hosts)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", f"/CN={hosts[0]}", "-addext", f"subjectAltName={san}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    os.chmod(key, 0o600)
    der = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-pubkey", "-noout"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    spki = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "der"], input=der, check=True, capture_output=True
    ).stdout
    return cert, key, base64.b64encode(hashlib.sha256(spki).digest()).decode()


def browser_args(hosts: list[str], port: int, spki: str) -> list[str]:
    """Chromium flags that send `hosts` to 127.0.0.1:port and trust the replica's cert."""
    rules = ", ".join(f"MAP {h} 127.0.0.1:{port}" for h in hosts)
    return [f"--host-resolver-rules={rules}", f"--ignore-certificate-errors-spki-list={spki}"]


class Replica:
    """The replica as a real child process on its own port."""

    def __init__(self, app: str, hosts: list[str], tmp: Path, env: dict[str, str] | None = None):
        self.app, self.hosts, self.tmp, self.env = app, hosts, tmp, env or {}
        self.port = free_port()
        self.cert, self.key, self.spki = make_cert(tmp / "tls", hosts)
        self.proc: Proc | None = None

    @property
    def browser_args(self) -> list[str]:
        return browser_args(self.hosts, self.port, self.spki)

    def start(self) -> Replica:
        argv = [sys.executable, "-m", "tests.replicas.tls", self.app, "--port", str(self.port),
                "--cert", str(self.cert), "--key", str(self.key)]  # fmt: skip
        root = str(Path(__file__).resolve().parents[2])
        env = {**self.env, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = Proc(argv, self.tmp / "replica.log", env=env)
        wait_until(self._up, 30, f"the replica {self.app}")
        return self

    def _up(self) -> bool:
        assert self.proc is not None
        if self.proc.proc.poll() is not None:
            raise AssertionError(f"replica exited:\n{self.proc.output()}")
        return port_open(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


def instance(
    tmp: Path,
    rep: Replica,
    site: str,
    name: str,
    profile_path: Path,
    extra: list[str] | None = None,
) -> tuple[Proc, int]:
    """A real mictl-instance on the bundled site file `site`, unchanged,
    its browser pointed at the replica."""
    port = free_port()
    argv = [
        str(BIN / "mictl-instance"),
        "--profile", str(profile_path),
        "--port", str(port),
        "--site", site,
        "--name", name,
        "--log-dir", str(tmp / "log"),
        *[f"--browser-arg={a}" for a in rep.browser_args],
        *(extra or []),
    ]  # fmt: skip
    proc = Proc(argv, tmp / f"{name}.log")

    def up() -> bool:
        if proc.proc.poll() is not None:
            raise AssertionError(f"instance exited {proc.proc.returncode}:\n{proc.output()}")
        return port_open(port)

    wait_until(up, 90, f"instance {name}")
    return proc, port


def last_request(rep: Replica) -> dict:
    """What the replica's page last sent to the site (its /replica/last)."""
    import json
    import ssl
    import urllib.request

    context = ssl.create_default_context(cafile=str(rep.cert))
    context.check_hostname = False
    with urllib.request.urlopen(f"https://127.0.0.1:{rep.port}/replica/last", context=context) as r:
        return json.loads(r.read())


def main() -> None:
    import uvicorn

    p = argparse.ArgumentParser()
    p.add_argument("app")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    args = p.parse_args()
    uvicorn.run(
        args.app,
        host="127.0.0.1",
        port=args.port,
        ssl_certfile=args.cert,
        ssl_keyfile=args.key,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
