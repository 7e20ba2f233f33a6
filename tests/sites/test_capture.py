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


def _listening_addresses(port: int) -> set[str]:
    """Local addresses listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, _, hexport = local.rpartition(":")
                if state == "0A" and int(hexport, 16) == port:
                    found.add(address)
    return found


def test_no_display_way_out_sign_in_through_the_devtools_port(
    site: tuple[Path, int], tmp_path: Path
) -> None:
    """xvfb-run with --remote-debugging-port: the person signs in through the
    forwarded DevTools port (here: its protocol, as chrome://inspect does)."""
    import asyncio
    import urllib.request

    import aiohttp

    from tests.helpers import free_port, port_open, wait_until

    _, site_port = site
    out, port = tmp_path / "profiles", free_port()
    url = f"http://127.0.0.1:{site_port}/"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    argv = [xvfb_run(), "-a", str(BIN / "mictl"), "profile", "capture", "remote", "--site", "demo",
            "--url", url, "--out", str(out), "--timeout", "120", "--remote-debugging-port",
            str(port)]  # fmt: skip
    log = tmp_path / "capture.out"
    with open(log, "wb") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        wait_until(lambda: port_open(port), 60, "the DevTools port")
        assert _listening_addresses(port) <= {"0100007F", "00000000000000000000000001000000"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version") as r:
            assert "Headless" not in json.loads(r.read())["Browser"]  # a real window

        def page_on_site() -> list[dict]:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
                return [t for t in json.loads(r.read()) if t.get("url") == url]

        pages = wait_until(page_on_site, 60, "the sign-in page in the browser")
        wait_until(lambda: b"waiting..." in log.read_bytes(), 60, "capture to wait for a sign-in")

        async def sign_in(ws_url: str) -> None:
            async with aiohttp.ClientSession() as http, http.ws_connect(ws_url) as ws:
                cookie = {"name": "demo_session", "value": SESSION, "url": url}
                await ws.send_json({"id": 1, "method": "Network.setCookie", "params": cookie})
                while (await ws.receive_json()).get("id") != 1:
                    pass
                # Signed in: capture may save and close the browser before answering
                await ws.send_json({"id": 2, "method": "Page.reload", "params": {}})
                async for message in ws:
                    if message.type != aiohttp.WSMsgType.TEXT or '"id":2' in message.data:
                        break

        asyncio.run(sign_in(pages[0]["webSocketDebuggerUrl"]))
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()
    saved = json.loads((out / "remote.json").read_text())
    assert {c["name"]: c["value"] for c in saved["cookies"]}["demo_session"] == SESSION


def test_capture_refuses_a_name_the_config_gives_a_program(tmp_path: Path) -> None:
    cfg = tmp_path / "mictl.toml"
    cfg.write_text('[profiles]\ndir = "profiles"\n[programs.demo-site]\ncommand = "sleep 1"\n')
    result = subprocess.run(
        [str(BIN / "mictl"), "-c", str(cfg), "profile", "capture", "demo-site", "--site", "demo"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "[programs.demo-site]" in result.stderr


def test_closing_the_window_saves_nothing(site: tuple[Path, int], tmp_path: Path) -> None:
    _, site_port = site
    out = tmp_path / "profiles"
    result = capture(out, site_port, "closed", login=str(REPO / "tests" / "logins" / "close.py"))
    assert result.returncode == 1 and "window was closed; nothing saved" in result.stderr
    assert not out.exists() or not list(out.iterdir())


def test_a_display_that_is_not_there_fails_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "DISPLAY": ":97"}  # no X server answers there
    argv = [str(BIN / "mictl"), "profile", "capture", "x", "--site", "demo", "--out",
            str(tmp_path), "--timeout", "5"]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "could not open a browser window on display :97" in result.stderr
    assert not list(tmp_path.iterdir())
