"""Issue 28 item 3: an instance's port answers only mictld.

Under a real mictld (the demo: two browser instances), each instance refuses
any request without its key with an OpenAI-shaped 401, from this uid and
from another one; the front keeps answering; the key is in a 0600 file and
nowhere else (not in argv, status, health, /metrics or any log).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from common import instance_auth
from tests import demo_daemon
from tests.demo_daemon import Demo
from tests.helpers import BIN, free_port, wait_until

GOOD = {"model": "demo-fast", "messages": [{"role": "user", "content": "hello there"}]}
FRONT_KEY = "front-key-for-clients"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("auth")
    keys = root.parent / "front-keys"
    keys.write_text(FRONT_KEY + "\n")
    keys.chmod(0o600)
    with demo_daemon.demo(root, {"MICTL_ROUTER__API_KEYS_FILE": str(keys)}) as d:
        wait_until(lambda: d.routable() >= {"demo-a", "demo-b"}, 120, "both demo instances")
        yield d


def port_of(d: Demo, name: str) -> int:
    return int(d.health()[name]["url"].removesuffix("/v1").rsplit(":", 1)[1])


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def assert_refused(status: int, body: bytes) -> None:
    assert status == 401, (status, body[:200])
    error = json.loads(body)["error"]
    assert error["code"] == "invalid_api_key" and error["type"] and error["message"]


@pytest.mark.browser
@pytest.mark.slow
def test_an_instance_port_refuses_requests_without_its_key(demo: Demo) -> None:
    port = port_of(demo, "demo-a")
    body = json.dumps(GOOD).encode()
    assert_refused(*_post(port, body, {}))
    assert_refused(*_post(port, body, {"Authorization": f"Bearer {FRONT_KEY}"}))
    assert_refused(*_post(port, body, {"Authorization": "Bearer " + "x" * 43}))
    for path in ("/health", "/v1/models", "/nowhere"):
        assert_refused(*get(f"http://127.0.0.1:{port}{path}"))
    # mictld's key passes; the front, with a client's key, answers as before.
    key = demo.instance_key("demo-a")
    status, answer = _post(port, body, {"Authorization": f"Bearer {key}"})
    assert status == 200, answer
    front = _post(demo.front, body, {"Authorization": f"Bearer {FRONT_KEY}"})
    assert front[0] == 200, front
    assert json.loads(front[1])["choices"][0]["message"]["content"]
    assert demo.routable() >= {"demo-a", "demo-b"}, "the probes send the key"


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root")
def test_another_local_user_is_refused_too(demo: Demo) -> None:
    port = port_of(demo, "demo-b")
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    curl = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-H", "content-type: application/json"]
    result = subprocess.run(
        [*as_nobody, *curl, "--data", json.dumps(GOOD), url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    body, _, status = result.stdout.rpartition("\n")
    assert_refused(int(status), body.encode())
    # ...and cannot read the key it would need.
    cat = subprocess.run(
        [*as_nobody, "cat", str(demo.root / "state" / "keys" / "demo-b.key")],
        capture_output=True,
        timeout=30,
    )
    assert cat.returncode != 0 and not cat.stdout


@pytest.mark.browser
@pytest.mark.slow
def test_the_key_is_in_its_file_and_nowhere_else(demo: Demo) -> None:
    keys = demo.root / "state" / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    secrets = {}
    for name in ("demo-a", "demo-b"):
        path = keys / f"{name}.key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        secrets[name] = demo.instance_key(name)
        assert len(secrets[name]) >= 40
    assert secrets["demo-a"] != secrets["demo-b"], "one key per instance"
    # A request through the front, so the logs have something to say.
    front = _post(demo.front, json.dumps(GOOD).encode(), {"Authorization": f"Bearer {FRONT_KEY}"})
    assert front[0] == 200
    said = [
        demo.ctl("status", "--json").stdout,
        demo.ctl("health", "--json").stdout,
        demo.ctl("status").stdout,
        get(f"http://127.0.0.1:{demo.front}/metrics", {"Authorization": f"Bearer {FRONT_KEY}"})[
            1
        ].decode(),
    ]
    assert all(said), "each of them answered"
    for path in (demo.root / "log").rglob("*"):
        if path.is_file():
            said.append(path.read_text(errors="replace"))
    said.append((demo.root.parent / f"{demo.root.name}.mictld.out").read_text(errors="replace"))
    for pid in _instance_pids(demo):
        said.append(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"))
    for name, key in secrets.items():
        leaks = [text[:80] for text in said if key in text]
        assert not leaks, f"{name}'s key shown in {leaks}"


def _instance_pids(d: Demo) -> list[int]:
    rows = json.loads(d.ctl("status", "--json").stdout)
    pids = [r["pid"] for r in rows if r["name"] in ("demo-a", "demo-b") and r.get("pid")]
    assert len(pids) == 2, rows
    return pids


def _post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    req = urllib.request.Request(url, body, {"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


# ------------------------------------------------------- the runner by hand


def test_a_runner_with_an_empty_key_file_refuses_to_start(tmp_path: Path) -> None:
    """A key file that holds no key is a config error (exit 78), said by its
    path; a runner without --key-file is open (tests/instance/test_instance.py)."""
    key = tmp_path / "empty.key"
    key.write_text("\n")
    profile = tmp_path / "p.json"
    profile.write_text('{"cookies": [], "origins": []}')
    argv = [str(BIN / "mictl-instance"), "--profile", str(profile), "--port", str(free_port())]
    result = subprocess.run(
        [*argv, "--key-file", str(key)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 78, result.stderr
    assert str(key) in result.stderr and "empty" in result.stderr


def test_keys_are_made_once_private_and_compared_whole(tmp_path: Path) -> None:
    path = instance_auth.key_path(str(tmp_path / "state"), "a")
    key = instance_auth.ensure_key(path)
    assert instance_auth.ensure_key(path) == key, "kept across daemon starts"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert instance_auth.authorized(key.encode(), f"Bearer {key}".encode())
    assert instance_auth.authorized(key.encode(), f"bearer {key}".encode())
    for wrong in (b"", key.encode(), f"Bearer {key[:-1]}".encode(), f"Bearer {key}x".encode()):
        assert not instance_auth.authorized(key.encode(), wrong), wrong
    os.unlink(path)
    assert instance_auth.ensure_key(path) != key, "deleting the file rotates it"


def test_every_instance_command_gets_its_key_file(tmp_path: Path) -> None:
    """The default command (--key-file), a profiles.command template
    ({key_file}) and any command (MICTL_INSTANCE_KEY_FILE) all get the path."""
    from daemon.config import loader as config
    from daemon.profiles import build, instance_argv
    from daemon.state import StateStore

    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "a.json").write_text('{"cookies": [], "origins": []}')
    head = '[daemon]\nstate_dir = "s"\nlog_dir = "l"\n[profiles]\ndir = "p"\n'
    (tmp_path / "m.toml").write_text(head)
    plain = config.load(tmp_path / "m.toml", env={})
    expected = str(tmp_path / "s" / "keys" / "a.key")
    argv = instance_argv(plain, "a", 3001, "copy.json", tmp_path / "p" / "a.json")
    assert argv[argv.index("--key-file") + 1] == expected
    (tmp_path / "m.toml").write_text(head + 'command = "run --port {port} --key {key_file}"\n')
    templated = config.load(tmp_path / "m.toml", env={})
    (tmp_path / "s").mkdir(mode=0o700)
    spec = build(templated, StateStore(str(tmp_path / "s")))[0]
    assert spec.argv[-1] == expected and ("MICTL_INSTANCE_KEY_FILE", expected) in spec.environment
    assert Path(expected).read_text().strip() and not spec.fatal_reason
