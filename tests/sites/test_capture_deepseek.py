"""Capture, check, record and replay against the DeepSeek replica, served
under its real hostname over HTTPS, with the bundled deepseek.toml as is: a
login kept in localStorage (userToken), not in a cookie, from a scripted
sign-in to a recording that replays."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import openai
import pytest

from tests.helpers import BIN, REPO
from tests.recording import mictl
from tests.replicas.deepseek import harness
from tests.replicas.deepseek.answers import TOKEN, answer
from tests.replicas.tls import Replica
from tests.site_kit import record_and_replay, replica_fixture
from tests.xvfb import xvfb_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]


rep = replica_fixture(harness, "deepseek")


def client(port: int) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_capture_keeps_the_login_from_local_storage_and_serves(rep: Replica) -> None:
    """`mictl profile capture` (a scripted sign-in in the page's own form)
    waits for the localStorage login, saves it in the profile's origins,
    and an instance on that profile answers until the token expires."""
    config = rep.tmp / "capture.toml"
    config.write_text(
        '[daemon]\nsocket = "run/mictl.sock"\nstate_dir = "state"\nlog_dir = "log"\n'
        f'[profiles]\ndir = "{rep.tmp / "profiles"}"\nsite = "deepseek"\n'
        f"[profiles.browser]\nargs = {json.dumps(rep.browser_args)}\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["MICTL_CAPTURE_LOGIN_SCRIPT"] = str(REPO / "tests" / "logins" / "deepseek.py")
    result = subprocess.run(
        [xvfb_run(), "-a", str(BIN / "mictl"), "-c", str(config), "profile", "capture", "acct",
         "--timeout", "60"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    saved = rep.tmp / "profiles" / "acct.json"
    state = json.loads(saved.read_text())
    stored = {
        (o["origin"], i["name"]): i["value"] for o in state["origins"] for i in o["localStorage"]
    }
    assert json.loads(stored[(harness.ORIGIN, "userToken")])["value"] == TOKEN
    proc, port = harness.instance(rep.tmp, rep, "acct", saved)
    try:
        with client(port) as c:
            got = c.chat.completions.create(model="deepseek-chat", messages=ask("captured"))
            assert got.choices[0].message.content == answer("captured")
            # The token then expires (the site's 401): logged out, not retried.
            with pytest.raises(openai.APIStatusError) as info:
                c.chat.completions.create(model="deepseek-chat", messages=ask("[expired] hi"))
        assert info.value.status_code == 503 and info.value.code == "logged_out"
    finally:
        proc.stop()


def profile_check(rep: Replica, profile: Path, site: str) -> tuple[int, str]:
    config = rep.tmp / "check.toml"
    config.write_text(
        '[daemon]\nsocket = "run/mictl.sock"\nstate_dir = "state"\nlog_dir = "log"\n'
        f'[profiles]\ndir = "profiles"\nsite = "deepseek"\n'
        f"[profiles.browser]\nargs = {json.dumps(rep.browser_args)}\n"
    )
    out = mictl("-c", str(config), "profile", "check", str(profile), "--site", site, "--json")
    assert TOKEN not in out.stdout + out.stderr
    return out.returncode, out.stdout + out.stderr


def test_profile_check_reads_the_login_from_local_storage(rep: Replica) -> None:
    """With the sign-in URL and form rules taken out of the site file, only
    [login] local_storage can tell the profile without its userToken."""
    code, out = profile_check(rep, harness.profile(rep.tmp / "pc-in.json"), "deepseek")
    assert code == 0 and json.loads(out)["state"] == "logged_in", out
    bundled = Path(__file__).resolve().parents[2] / "instance_runner/sites/deepseek.toml"
    text = bundled.read_text()
    cut = ["url_patterns = ['^https://chat\\.deepseek\\.com/sign_in']\n",
           "logged_out = 'input[type=\"password\"]'\n"]  # fmt: skip
    assert all(c in text for c in cut)
    for c in cut:
        text = text.replace(c, "")
    text = text.replace("ready = 30", "ready = 3")  # (nothing it waits for shows)
    variant = rep.tmp / "deepseek-storage-only.toml"
    variant.write_text(text)
    nobody = harness.profile(rep.tmp / "pc-out.json", token=None)
    code, out = profile_check(rep, nobody, str(variant))
    assert code == 1 and json.loads(out)["state"] == "logged_out", out
    variant.write_text(text.replace('local_storage = ["userToken"]\n', ""))
    code, out = profile_check(rep, nobody, str(variant))
    assert json.loads(out)["state"] == "unknown", out  # the rule above is what told it


def test_record_then_replay_round_trips_with_no_secret(rep: Replica) -> None:
    """`site record` on the replica (the browser flags through the config's
    [profiles.browser] args, as an operator would give them), then `site
    replay` of the recording: the answer comes back, no token is on disk."""
    profile = harness.profile(rep.tmp / "record.json")
    meta, whole = record_and_replay(rep, "deepseek", profile, "deepseek-reasoner")
    assert TOKEN.encode() not in whole
    assert meta["answer"] == answer("record me", thinking=True)
