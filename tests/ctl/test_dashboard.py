"""/dashboard in a real headless Chromium against a real mictld: live over
SSE, actions with the admin token (refused without), read-only without one,
a visible state when the stream drops, 1280 px and 390 px (screenshots in
test-artifacts/)."""

from __future__ import annotations

import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from instance_runner import chromium
from tests.helpers import LISTENER, REPO, Mictld, running

pytestmark = pytest.mark.browser

ARTIFACTS = REPO / "test-artifacts"
TOKEN = "dash-admin-7c1e"
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        exe = chromium.find(playwright_default=chromium.playwright_default())
        b = p.chromium.launch(executable_path=exe, args=chromium.flags([]))
        yield b
        b.close()


def command(flags: Path) -> str:
    """An instance that cannot start while its flag file exists."""
    listener = f"{sys.executable} {LISTENER} {{port}}"
    return f"sh -c 'test -e {flags}/{{name}}.down && exit 3; exec {listener}'"


def daemon(tmp: Path, dashboard: str) -> Mictld:
    flags = tmp / "flags"
    flags.mkdir()
    body = "[profiles.program]\nstartsecs = 1\nstartretries = 0\n" + dashboard
    router = 'strategy = "round_robin"\n'
    # The listener is no OpenAI server: its probes fail; no health restarts here.
    return Mictld(tmp, body, router=router, health="restart_after = 0\n", command=command(flags))


def state_of(page: Page, name: str) -> str:
    return page.locator(f"#row-{name}").get_attribute("data-state") or ""


def wait_state(page: Page, name: str, state: str) -> None:
    page.wait_for_function(
        "([n, s]) => { const r = document.getElementById('row-' + n);"
        " return r && r.dataset.state === s; }",
        arg=[name, state],
        timeout=WAIT_MS,
    )


def post(url: str, token: str | None = None) -> int:
    headers = {"X-Mictl-Admin-Token": token} if token else {}
    request = urllib.request.Request(url, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_live_dashboard_with_actions(tmp_path: Path, browser: Browser) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    d = daemon(tmp_path, f'[dashboard]\nadmin_token = "{TOKEN}"\n')
    try:
        d.start_with("a", "b")
        base = f"http://127.0.0.1:{d.front_port}"
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/dashboard")
        page.wait_for_selector("#conn.live", timeout=WAIT_MS)
        wait_state(page, "a", "RUNNING")
        wait_state(page, "b", "RUNNING")
        assert page.locator("#strategy").inner_text() == "round_robin"
        assert page.locator("meta[name=viewport]").count() == 1
        page.evaluate("window.__sameLoad = true")

        # SIGKILL b: it comes back by itself; the page sees it without a reload.
        b_pid = d.program("b").pid
        assert b_pid is not None
        os.kill(b_pid, signal.SIGKILL)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#events li')]"
            ".some(li => /b: RUNNING -> EXITED/.test(li.textContent))",
            timeout=WAIT_MS,
        )
        page.wait_for_function(
            "() => { const r = document.getElementById('row-b');"
            " return r.dataset.state === 'RUNNING'"
            " && r.querySelector('.restarts').textContent === '1'; }",
            timeout=WAIT_MS,
        )
        assert page.evaluate("window.__sameLoad") is True

        # SIGKILL a while it cannot start: the page shows it FATAL, and stays so.
        (tmp_path / "flags" / "a.down").touch()
        a_pid = d.program("a").pid
        assert a_pid is not None
        os.kill(a_pid, signal.SIGKILL)
        wait_state(page, "a", "FATAL")
        page.screenshot(path=str(ARTIFACTS / "dashboard-1280.png"), full_page=True)
        (tmp_path / "flags" / "a.down").unlink()

        # Restart from the page: refused without the token...
        page.get_by_role("button", name="restart a", exact=True).click()
        page.wait_for_function(
            "() => /restart a refused/.test(document.getElementById('notice').textContent)",
            timeout=WAIT_MS,
        )
        assert d.program("a").state == "FATAL"
        assert post(f"{base}/dashboard/api/programs/a/restart", "wrong") == 401
        # ...done with it, and reachable from the keyboard.
        page.fill("#token", TOKEN)
        page.press("#token", "Enter")
        for _ in range(60):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.getAttribute('aria-label')") == "restart a":
                break
        else:
            pytest.fail("the restart button of a is not reachable with Tab")
        page.keyboard.press("Enter")
        wait_state(page, "a", "RUNNING")
        d.wait_state("a", "RUNNING")

        # A phone's width: no sideways scrolling, the actions still there.
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(100)  # one layout pass; nothing here depends on its length
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.get_by_role("button", name="restart b", exact=True).is_visible()
        page.screenshot(path=str(ARTIFACTS / "dashboard-390.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})

        # A config change shows live: a new strategy, and no token = read-only.
        d.write_config(
            d.config.read_text()
            .replace('strategy = "round_robin"', 'strategy = "least_busy"')
            .replace(f'admin_token = "{TOKEN}"', 'admin_token = ""')
        )
        assert d.ctl("reload").returncode == 0
        page.wait_for_function(
            "() => document.getElementById('strategy').textContent === 'least_busy'",
            timeout=WAIT_MS,
        )
        page.wait_for_function(
            "() => /read-only/.test(document.getElementById('mode').textContent)", timeout=WAIT_MS
        )
        assert not page.get_by_role("button", name="restart a", exact=True).is_visible()
        assert post(f"{base}/dashboard/api/programs/a/restart", TOKEN) == 403

        # The stream drops with the daemon: the page says so.
        d.stop()
        page.wait_for_selector("#lost", state="visible", timeout=WAIT_MS)
        assert page.locator("#conn").inner_text() == "reconnecting"
    finally:
        d.cleanup()


def test_actions_need_the_token_over_plain_http(tmp_path: Path) -> None:
    body = f'[dashboard]\nadmin_token = "{TOKEN}"\n'
    with running(tmp_path, body, router="", health="restart_after = 0\n") as d:
        d.add_profile("a")
        d.start()
        d.wait_state("a", "RUNNING")
        roll = f"http://127.0.0.1:{d.front_port}/dashboard/api/rolling-restart"
        assert post(roll) == 401
        assert post(roll, TOKEN) == 202
        # a restarts, but its stand-in never passes a probe: the roll waits on it.
        assert post(roll, TOKEN) == 409
        d.wait_state("a", "RUNNING")
        url = f"http://127.0.0.1:{d.front_port}/dashboard/api/programs/a/stop"
        assert post(url) == 401 and post(url, TOKEN[:-1]) == 401
        assert d.program("a").state == "RUNNING"
        assert post(url, TOKEN) == 200
        d.wait_state("a", "STOPPED")
        assert (
            post(f"http://127.0.0.1:{d.front_port}/dashboard/api/programs/a/explode", TOKEN) == 404
        )
