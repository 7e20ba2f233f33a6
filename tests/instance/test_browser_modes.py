"""The browser a site file (or the operator) chooses, in real Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import openai
import pytest

from tests.helpers import BIN, DEMO_PROFILES, Proc, demo_site, free_port, port_open, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def start(tmp: Path, site_port: int, mode: str, env: dict[str, str]) -> tuple[Proc, int]:
    profile = tmp / f"{mode}.json"
    profile.write_text((DEMO_PROFILES / "demo-a.json").read_text())
    port = free_port()
    argv = [str(BIN / "mictl-instance"), "--profile", str(profile), "--port", str(port),
            "--site", "demo", "--site-url", f"http://127.0.0.1:{site_port}/",
            "--browser-mode", mode]  # fmt: skip
    proc = Proc(argv, tmp / f"{mode}.log", env=env)

    def up() -> bool:
        if proc.proc.poll() is not None:
            raise AssertionError(f"runner exited {proc.proc.returncode}:\n{proc.output()}")
        return port_open(port)

    wait_until(up, 60, f"the {mode} instance")
    return proc, port


def answer(port: int) -> str:
    with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0) as c:
        reply = c.chat.completions.create(
            model="demo-fast", messages=[{"role": "user", "content": "hi"}]
        )
        return reply.choices[0].message.content or ""


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed")
def test_headed_runs_under_its_own_xvfb(tmp_path: Path) -> None:
    site, site_port = demo_site(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    proc, port = start(tmp_path, site_port, "headed", env)
    try:
        assert answer(port)
        log = proc.output()
        assert "headed browser on Xvfb display" in log and "chromium, headed)" in log
        xvfb = [p for p in os.listdir("/proc") if p.isdigit() and _child_named(p, "Xvfb", proc)]
        assert xvfb, "the instance's own Xvfb"
    finally:
        proc.stop()
        site.stop()


def test_headed_without_a_display_falls_back_to_full_headless(tmp_path: Path) -> None:
    site, site_port = demo_site(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env["PATH"] = str(BIN)  # no Xvfb to be found
    proc, port = start(tmp_path, site_port, "headed", env)
    try:
        assert answer(port)
        log = proc.output()
        assert "no display and no Xvfb" in log and "chromium, headless)" in log
    finally:
        proc.stop()
        site.stop()


def _child_named(pid: str, name: str, parent: Proc) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return (
        stat.split(" (", 1)[1].startswith(name + ")")
        and int(stat.rsplit(")", 1)[1].split()[1]) == parent.proc.pid
    )
