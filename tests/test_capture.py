"""`mictl profile capture` in a headed Chromium under Xvfb, with a scripted
sign-in; the saved profile then serves an instance."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from instance_runner.sites.demo.answers import answer
from tests.helpers import BIN, REPO, demo_site, runner
from tests.logins.demo import SESSION
from tests.xvfb import xvfb_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]
DEMO_LOGIN = str(REPO / "tests" / "logins" / "demo.py")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    tmp = tmp_path_factory.mktemp("site")
    proc, port = demo_site(tmp)
    yield tmp, port
    proc.stop()


def capture(
    out: Path, site_port: int, *args: str, login: str | None = DEMO_LOGIN, xvfb: bool = True
) -> subprocess.CompletedProcess[str]:
    argv = [str(BIN / "mictl"), "profile", "capture", "--site", "demo", "--timeout", "120"]
    argv += ["--url", f"http://127.0.0.1:{site_port}/", "--out", str(out), *args]
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    if login:
        env["MICTL_CAPTURE_LOGIN_SCRIPT"] = login
    if xvfb:
        argv = [xvfb_run(), "-a", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=240, env=env)


def test_capture_under_xvfb_saves_a_profile_an_instance_can_use(
    site: tuple[Path, int], tmp_path: Path
) -> None:
    tmp, site_port = site
    out = tmp_path / "profiles"
    result = capture(out, site_port, "demo-c")
    assert result.returncode == 0, result.stdout + result.stderr
    saved = out / "demo-c.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert f"saved {saved}" in result.stdout and "instance demo-c" in result.stdout
    cookies = {c["name"]: c["value"] for c in json.loads(saved.read_text())["cookies"]}
    assert cookies["demo_session"] == SESSION

    # The captured profile serves an instance.
    proc, port, _ = runner(tmp, site_port, name="captured", profile_text=saved.read_text())
    try:
        with openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0
        ) as client:
            reply = client.chat.completions.create(
                model="demo-fast", messages=[{"role": "user", "content": "hello from capture"}]
            )
        assert reply.choices[0].message.content == answer("demo-fast", "hello from capture")
    finally:
        proc.stop()

    # An existing profile is not replaced without --force.
    before = saved.read_bytes()
    again = capture(out, site_port, "demo-c", login=None)
    assert again.returncode == 2 and "--force" in again.stderr
    assert saved.read_bytes() == before


def test_capture_without_a_login_times_out_and_saves_nothing(
    site: tuple[Path, int], tmp_path: Path
) -> None:
    _, site_port = site
    out = tmp_path / "profiles"
    result = capture(out, site_port, "nobody", "--timeout", "3", login=None)
    assert result.returncode == 1 and "not signed in after 3s" in result.stderr
    assert not (out / "nobody.json").exists()


@pytest.mark.parametrize("name", ["../escape", ".hidden", "a b", "x/y"])
def test_capture_refuses_names_the_daemon_would_skip(tmp_path: Path, name: str) -> None:
    result = capture(tmp_path, 1, name, login=None, xvfb=False)
    assert result.returncode == 2 and "mictld would skip" in result.stderr
    assert not list(tmp_path.iterdir())


def test_no_display_gives_one_line_with_both_ways_out(tmp_path: Path) -> None:
    result = capture(tmp_path, 1, "someone", login=None, xvfb=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    line = lines[0]
    assert "no display" in line and "scp someone.json" in line
    assert "xvfb-run" in line and "--remote-debugging-port 9222" in line
    assert "ssh -L 9222:127.0.0.1:9222" in line
