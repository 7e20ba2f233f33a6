"""Capture, check, record and replay against the AI Studio replica, served
under its real hostnames over HTTPS, with the bundled aistudio.toml as is:
the whole loop from a person's sign-in to a regression test."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.helpers import BIN, REPO
from tests.logins import aistudio as login
from tests.recording import every_byte, mictl, modes
from tests.replicas.aistudio import app as replica_app
from tests.replicas.aistudio.answers import DEFAULT_MODEL, answer
from tests.replicas.aistudio.harness import instance, replica
from tests.replicas.tls import Replica
from tests.xvfb import xvfb_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]
EMAIL, NAME = replica_app.ACCOUNT_EMAIL, replica_app.ACCOUNT_NAME


@pytest.fixture(scope="module")
def rep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    # Paced so that "while streaming" is a moment a snapshot can catch.
    started = replica(tmp_path_factory.mktemp("replica"), pace_ms=5)
    yield started
    started.stop()


def config(tmp: Path, rep: Replica) -> Path:
    """A mictl config whose instances drive the replica: [profiles.browser]
    args map the real hostnames to it, as a test's instances get them."""
    path = tmp / "mictl.toml"
    path.write_text(
        textwrap.dedent(f"""
        [daemon]
        socket = "run/mictl.sock"
        state_dir = "state"
        log_dir = "log"
        [profiles]
        dir = "profiles"
        site = "aistudio"
        [profiles.browser]
        args = {json.dumps(rep.browser_args)}
    """)
    )
    return path


def profile(path: Path, *, ui: str = "new", drop: str = "", expires: float = 0) -> Path:
    cookies = [c for c in login.cookies(expires) if c["name"] != drop]
    if ui == "old":
        cookies.append({**login.cookies()[0], "name": "replica_ui", "value": "old",
                        "domain": "aistudio.google.com"})  # fmt: skip
    path.write_text(json.dumps({"cookies": cookies, "origins": []}))
    path.chmod(0o600)
    return path


def test_capture_with_a_scripted_login_serves_an_instance(rep: Replica, tmp_path: Path) -> None:
    cfg = config(tmp_path, rep)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["MICTL_CAPTURE_LOGIN_SCRIPT"] = str(REPO / "tests" / "logins" / "aistudio.py")
    result = subprocess.run(
        [xvfb_run(), "-a", str(BIN / "mictl"), "-c", str(cfg), "profile", "capture", "acct",
         "--timeout", "120"],
        capture_output=True, text=True, timeout=240, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    saved = tmp_path / "profiles" / "acct.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert f"mictld -c {cfg} picks it up as instance acct" in result.stdout
    cookies = {c["name"]: c["value"] for c in json.loads(saved.read_text())["cookies"]}
    assert cookies["SID"] == login.COOKIES["SID"]

    proc, port = instance(tmp_path, rep, "acct", saved)
    try:
        with openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0, timeout=120
        ) as client:
            reply = client.chat.completions.create(
                model=DEFAULT_MODEL, messages=[{"role": "user", "content": "captured and asked"}]
            )
        assert reply.choices[0].message.content == answer(DEFAULT_MODEL, "captured and asked")
    finally:
        proc.stop()


def test_profile_check_logged_in_logged_out_and_expiry(rep: Replica, tmp_path: Path) -> None:
    cfg = config(tmp_path, rep)
    expires = time.time() + 30 * 86400 + 3600
    good = profile(tmp_path / "good.json", expires=expires)
    result = mictl("-c", str(cfg), "profile", "check", str(good))
    assert result.returncode == 0 and ": logged in" in result.stdout, result.stdout + result.stderr
    day = time.strftime("%Y-%m-%d", time.gmtime(expires))
    assert f"cookie SID (.google.com): {day}" in result.stdout and "(in 30 days)" in result.stdout
    assert not any(v in result.stdout + result.stderr for v in login.COOKIES.values())

    gone = profile(tmp_path / "gone.json", drop="SID")  # the session cookie removed
    result = mictl("-c", str(cfg), "profile", "check", str(gone), "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["state"] == "logged_out"
    assert report["url"].startswith("https://accounts.google.com/")


def record(cfg: Path, prof: Path, out: Path, prompt: str) -> tuple[float, float]:
    began = time.time()
    result = mictl("-c", str(cfg), "site", "record", "--profile", str(prof), "--site", "aistudio",
                   "--out", str(out), "--prompt", prompt)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "site file aistudio verified 20" in result.stdout
    return began, time.time()


def auth_values(began: float, ended: float) -> set[str]:
    """Every SAPISIDHASH the page can have sent while recording."""
    found = set()
    for ts in range(int(began) - 2, int(ended) + 3):
        raw = f"{ts} {login.COOKIES['SAPISID']} https://aistudio.google.com"
        found.add(f"{ts}_{hashlib.sha1(raw.encode()).hexdigest()}")
    return found


def test_record_leaves_no_secret_and_replays(rep: Replica, tmp_path: Path) -> None:
    cfg = config(tmp_path, rep)
    out = tmp_path / "recording"
    began, ended = record(cfg, profile(tmp_path / "p.json"), out, "record this exchange")
    whole = every_byte(out)
    secrets = [*login.COOKIES.values(), *auth_values(began, ended), EMAIL, NAME]
    for secret in secrets:
        assert secret.encode() not in whole, secret
    assert modes(out) <= {0o700, 0o600}
    har = json.loads((out / "recording.har").read_text())
    generate = [e for e in har["log"]["entries"] if e["request"]["url"].endswith("GenerateContent")
                and e["request"]["method"] == "POST"]  # fmt: skip
    assert generate, "the answer's request is in the HAR"
    headers = {h["name"].lower(): h["value"] for h in generate[0]["request"]["headers"]}
    assert headers["authorization"] == "[redacted]"  # it was sent, and it is gone
    meta = json.loads((out / "meta.json").read_text())
    assert meta["answer"] == answer(DEFAULT_MODEL, "record this exchange")

    result = mictl("site", "replay", str(out), "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout
    assert report["ok"] and report["answer_matches"] and report["moved"] == []


def test_replay_of_the_older_ui_names_exactly_the_selectors_that_moved(
    rep: Replica, tmp_path: Path
) -> None:
    cfg = config(tmp_path, rep)
    out = tmp_path / "old-ui"
    record(cfg, profile(tmp_path / "old.json", ui="old"), out, "[slow] the older page")
    result = mictl("site", "replay", str(out), "--site", "aistudio", "--json")
    report = json.loads(result.stdout)
    # Roles the older UI renders differently (tests/replicas/aistudio/static/app.js):
    # the composer (prompt box, run button, its running state) and the
    # logged-in marker that is part of it. The answer's markup is the same.
    assert report["moved"] == ["idle", "logged_in", "prompt", "send", "stop"], report["roles"]
    assert report["missing"] == [] and report["answer_matches"] and report["ok"]
    text = mictl("site", "replay", str(out), "--site", "aistudio").stdout
    assert "moved: idle, logged_in, prompt, send, stop" in text
