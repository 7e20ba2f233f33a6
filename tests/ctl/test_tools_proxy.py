"""The one-shot tools go out as the profile's instance does: `mictl site
check`, `site record`, `profile check` and `profile capture` with -c CONFIG
take profiles.overrides.NAME's site, proxy and credentials (or --proxy on the
command line), in real Chromium
against the AI Studio replica. The browser gets no --host-resolver-rules:
the replica's hostnames reach it only through tests/connect_proxy.py. A proxy
that is down is exit 4, naming the proxy and never the password."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctl.errors import EXIT_PROXY
from tests.connect_proxy import ConnectProxy
from tests.helpers import BIN, REPO, descendants, free_port, wait_until
from tests.recording import every_byte, mictl
from tests.replicas.aistudio import harness
from tests.replicas.tls import Replica
from tests.site_kit import replica_fixture
from tests.xvfb import xvfb_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SECRET = "T00l-pw-7qZx"


rep = replica_fixture(harness, "tools-proxy")


@pytest.fixture(scope="module")
def proxy(rep: Replica) -> Iterator[ConnectProxy]:
    mapping = {h: f"127.0.0.1:{rep.port}" for h in harness.HOSTS}
    p = ConnectProxy(free_port(), rep.tmp / "proxy.log", "alice", SECRET, mapping).start()
    yield p
    p.stop()


def config(rep: Replica, proxy_port: int) -> Path:
    """Profile alice's own site and proxy, with credentials in a 0600 file; the
    replica's certificate trusted by the override's own browser flag."""
    creds = rep.tmp / "alice.proxy"
    creds.write_text(f"alice:{SECRET}\n")
    creds.chmod(0o600)
    path = rep.tmp / "mictl.toml"
    path.write_text(
        textwrap.dedent(f"""
        [daemon]
        socket = "run/mictl.sock"
        state_dir = "state"
        log_dir = "log"
        [profiles]
        dir = "profiles"
        [profiles.overrides.alice]
        site = "aistudio"
        proxy = "http://127.0.0.1:{proxy_port}"
        proxy_credentials_file = "{creds}"
        browser_args = ["--ignore-certificate-errors-spki-list={rep.spki}"]
    """)
    )
    return path


def chromium_cmdlines(root: int) -> list[bytes]:
    """The command lines of the Chromium processes under `root`, once there are."""
    found = []
    for pid in descendants(root)[1:]:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"--remote-debugging-pipe" in cmdline:
            found.append(cmdline)
    return found


def tunnels(proxy: ConnectProxy, since: int) -> list[str]:
    return [line for line in proxy.lines()[since:] if line.startswith("CONNECT")]


def test_site_and_profile_check_go_through_the_profiles_proxy(
    rep: Replica, proxy: ConnectProxy
) -> None:
    cfg = config(rep, proxy.port)
    profile = harness.profile(rep.tmp / "alice.json")
    before = len(proxy.lines())
    argv = [str(BIN / "mictl"), "-c", str(cfg), "site", "check", "--profile", str(profile),
            "--site", "aistudio", "--screenshot", str(rep.tmp / "check.png"), "--json"]  # fmt: skip
    run = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    browsers = wait_until(lambda: chromium_cmdlines(run.pid), 60, "the tool's Chromium")
    stdout, stderr = run.communicate(timeout=120)
    out = subprocess.CompletedProcess(argv, run.returncode, stdout, stderr)
    assert out.returncode == 0, out.stdout + out.stderr
    assert any(b"--proxy-server" in c for c in browsers)
    assert not any(SECRET.encode() in c for c in browsers)  # by Playwright's pipe only
    assert json.loads(out.stdout)["logged_in"]
    seen = tunnels(proxy, before)
    assert any("aistudio.google.com:443 user=alice 200" in t for t in seen), seen
    assert all("user=alice" in t for t in seen if t.endswith(" 200")), seen
    assert SECRET not in out.stdout + out.stderr

    before = len(proxy.lines())
    checked = mictl("-c", str(cfg), "profile", "check", str(profile), "--site", "aistudio")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "logged in" in checked.stdout
    seen = tunnels(proxy, before)
    assert any("aistudio.google.com:443 user=alice 200" in t for t in seen), seen
    assert SECRET not in checked.stdout + checked.stderr


def test_the_command_lines_proxy_and_a_proxy_that_is_down(
    rep: Replica, proxy: ConnectProxy
) -> None:
    profile = harness.profile(rep.tmp / "bob.json")  # no override for bob: --proxy says it
    spki = f"--browser-arg=--ignore-certificate-errors-spki-list={rep.spki}"
    env = {**os.environ, "BOB_PROXY": f"alice:{SECRET}"}
    before = len(proxy.lines())
    common = ("site", "check", "--profile", str(profile), "--site", "aistudio", spki,
              "--screenshot", str(rep.tmp / "bob.png"),
              "--proxy-credentials-env", "BOB_PROXY")  # fmt: skip
    out = mictl(*common, "--proxy", f"http://127.0.0.1:{proxy.port}", "--json", env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    seen = tunnels(proxy, before)
    assert any("aistudio.google.com:443 user=alice 200" in t for t in seen), seen

    down = free_port()  # nothing listens there
    out = mictl(*common, "--proxy", f"http://127.0.0.1:{down}", env=env)
    assert out.returncode == EXIT_PROXY, out.stdout + out.stderr
    assert f"proxy http://127.0.0.1:{down}: cannot connect to the proxy" in out.stderr
    assert "Traceback" not in out.stderr and SECRET not in out.stdout + out.stderr

    checked = mictl("profile", "check", str(profile), "--site", "aistudio",
                    "--proxy", f"http://127.0.0.1:{down}",
                    "--proxy-credentials-env", "BOB_PROXY", env=env)  # fmt: skip
    assert checked.returncode == EXIT_PROXY, checked.stdout + checked.stderr
    assert f"proxy http://127.0.0.1:{down}" in checked.stderr and "Traceback" not in checked.stderr


def test_capture_signs_in_through_the_profiles_proxy(
    rep: Replica, proxy: ConnectProxy, tmp_path: Path
) -> None:
    """A headed browser on Xvfb, a scripted sign-in: the sign-in pages come
    through alice's proxy with her user, and the session is saved."""
    cfg = config(rep, proxy.port)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["MICTL_CAPTURE_LOGIN_SCRIPT"] = str(REPO / "tests" / "logins" / "aistudio.py")
    before = len(proxy.lines())
    result = subprocess.run(
        [xvfb_run(), "-a", str(BIN / "mictl"), "-c", str(cfg), "profile", "capture", "alice",
         "--out", str(tmp_path), "--timeout", "120"],
        capture_output=True, text=True, timeout=240, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "alice.json").exists()
    seen = tunnels(proxy, before)
    assert any("accounts.google.com:443 user=alice 200" in t for t in seen), seen
    assert SECRET not in result.stdout + result.stderr


def test_site_record_goes_out_as_the_profile_does(
    rep: Replica, proxy: ConnectProxy, tmp_path: Path
) -> None:
    """No --site: alice's own (profiles.overrides.alice site), through her
    proxy; the recording holds no password. A proxy that is down: exit 4
    before any browser starts."""
    cfg = config(rep, proxy.port)
    profile = harness.profile(rep.tmp / "alice.json")
    before = len(proxy.lines())
    out = tmp_path / "recording"
    made = mictl("-c", str(cfg), "site", "record", "--profile", str(profile),
                 "--out", str(out), "--prompt", "record me")  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    assert f"recorded aistudio into {out}" in made.stdout
    seen = tunnels(proxy, before)
    assert any("aistudio.google.com:443 user=alice 200" in t for t in seen), seen
    assert SECRET.encode() not in every_byte(out)
    assert SECRET not in made.stdout + made.stderr

    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    made = mictl("-c", str(cfg), "site", "record", "--profile", str(profile),
                 "--out", str(tmp_path / "down"), "--proxy", down)  # fmt: skip
    assert made.returncode == EXIT_PROXY, made.stdout + made.stderr
    assert f"proxy {down}: cannot connect to the proxy" in made.stderr
    assert "Traceback" not in made.stderr
