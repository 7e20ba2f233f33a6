"""`mictl profile check` in a real headless Chromium against the demo site,
and mictld's warning about session cookies that expire soon."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.cookies import expiring, when
from common.names import instance_name_error
from tests.helpers import BIN, DEMO_PROFILES, demo_site, running, wait_until

SECRET = "mictl-demo-a-5f2b9c1e"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    tmp = tmp_path_factory.mktemp("site")
    proc, port = demo_site(tmp)
    yield port
    proc.stop()


def check(profile: Path, site_port: int, *extra: str) -> tuple[int, str]:
    import subprocess

    argv = [str(BIN / "mictl"), "profile", "check", str(profile), "--site", "demo"]
    argv += ["--url", f"http://127.0.0.1:{site_port}/", *extra]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert SECRET not in result.stdout + result.stderr  # never a cookie's value
    return result.returncode, result.stdout + result.stderr


def profile_with(tmp: Path, name: str, cookies: list[dict]) -> Path:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps({"cookies": cookies, "origins": []}))
    return path


def demo_cookies() -> list[dict]:
    return json.loads((DEMO_PROFILES / "demo-a.json").read_text())["cookies"]


@pytest.mark.browser
def test_logged_in_logged_out_and_expiry(site: int, tmp_path: Path) -> None:
    code, out = check(DEMO_PROFILES / "demo-a.json", site)
    assert code == 0 and ": logged in" in out, out
    assert "cookie demo_session (127.0.0.1): session cookie" in out

    code, out = check(profile_with(tmp_path, "gone", []), site)
    assert code == 1 and "LOGGED OUT" in out, out

    soon = time.time() + 2 * 86400 + 3 * 3600
    cookies = [{**c, "expires": soon} for c in demo_cookies()]
    code, out = check(profile_with(tmp_path, "soon", cookies), site, "--json")
    report = json.loads(out)
    assert code == 0 and report["state"] == "logged_in"
    assert [(c["name"], round(c["expires"])) for c in report["cookies"]] == [
        ("demo_session", round(soon))
    ]
    code, out = check(profile_with(tmp_path, "soon", cookies), site)
    day = time.strftime("%Y-%m-%d", time.gmtime(soon))
    assert f"cookie demo_session (127.0.0.1): {day}" in out and "(in 2 days)" in out, out
    assert "warning: demo_session expires within 3 days" in out


def test_daemon_warns_when_session_cookies_expire_soon(tmp_path: Path) -> None:
    soon = time.time() + 3600
    later = time.time() + 30 * 86400
    with running(tmp_path) as d:  # [profiles] expiry_warning: 3 days
        d.add_profile(
            "short",
            json.dumps(
                {
                    "cookies": [
                        {**demo_cookies()[0], "expires": soon},
                        {**demo_cookies()[0], "name": "other", "expires": later},
                    ]
                }
            ),
        )
        d.add_profile("long", json.dumps({"cookies": [{**demo_cookies()[0], "expires": later}]}))
        d.start()
        wait_until(lambda: "session cookies expire soon" in d.output(), 30, "the warning")
        lines = [line for line in d.output().splitlines() if "expire soon" in line]
        assert len(lines) == 1 and "short" in lines[0] and "demo_session" in lines[0]
        assert "other" not in lines[0] and SECRET not in d.output()
        # ... and in status and the events, never with a cookie's value.
        status = d.ctl("status").stdout
        assert "WARNING" in status.split("short", 1)[1].splitlines()[0]
        assert "WARNING" not in status.split("long", 1)[1].splitlines()[0]
        events = d.ctl("events", "--json").stdout
        assert '"kind":"profile"' in events and '"program":"short"' in events
        assert SECRET not in status + events


def test_expiring_is_pure_and_honours_names_and_window() -> None:
    now = 1_000_000.0
    state = {
        "cookies": [
            {"name": "a", "domain": "x", "expires": now + 10},
            {"name": "b", "domain": "x", "expires": now + 1000},
            {"name": "c", "domain": "x", "expires": -1},
            {"name": "d", "domain": "x", "expires": now - 5},
        ]
    }
    assert [e.name for e in expiring(state, now, 100)] == ["d", "a"]
    assert [e.name for e in expiring(state, now, 100, ["a"])] == ["a"]
    assert [e.name for e in expiring(state, now, 2000)] == ["d", "a", "b"]
    assert "expired" in when(now - 5, now) and when(None).startswith("session cookie")


def test_instance_names_are_the_daemons() -> None:
    assert instance_name_error("user-a.1_x") is None
    for bad in ("../x", ".hidden", "a b", "x/y", ""):
        assert instance_name_error(bad)


@pytest.mark.browser
def test_captcha_and_unknown(site: int, tmp_path: Path) -> None:
    from instance_runner.sites.loader import BUNDLED

    demo = (BUNDLED / "demo.toml").read_text()
    captcha = tmp_path / "captcha.toml"  # as if a human check covered the page
    human_check = 'logged_in = "#chat"\ncaptcha = "#send"'
    captcha.write_text(demo.replace('logged_in = "#chat"', human_check))
    unknown = tmp_path / "unknown.toml"  # a page the rule cannot read
    demo = demo.replace('logged_in = "#chat"', 'logged_in = "#nothing-here"')
    unknown.write_text(demo.replace("[timeouts]\n", "[timeouts]\nready = 2\n"))
    profile = DEMO_PROFILES / "demo-a.json"
    for site_file, word in ((captcha, "CAPTCHA"), (unknown, "UNKNOWN")):
        code, out = check(profile, site, "--site", str(site_file))
        assert code == 1 and word in out, out
