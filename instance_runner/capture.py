"""`mictl profile capture`: a person signs in in a visible Chromium; we keep
the session as a Playwright storage_state.

The browser starts with no cookies on the site's page, which sends a signed-out
visitor to its sign-in page. We wait until the site file's login rule holds,
then take the context's storage_state. Nothing is written here: the caller
decides where the profile goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import time
from collections.abc import Awaitable, Callable

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, async_playwright

from instance_runner.launch import launch
from instance_runner.login_rule import evaluate, rule_for
from instance_runner.sites.types import SiteFile

LoginDriver = Callable[[Page], Awaitable[None]]


class CaptureError(Exception):
    pass


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def load_driver(path: str) -> LoginDriver:
    """A test's scripted login: a Python file with `async def login(page)`."""
    spec = importlib.util.spec_from_file_location("mictl_login_driver", path)
    if spec is None or spec.loader is None:
        raise CaptureError(f"cannot load the login script {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.login  # type: ignore[no-any-return]


async def capture(
    site: SiteFile,
    *,
    executable: str = "",
    args: list[str] | None = None,
    timeout: float = 600.0,
    driver: LoginDriver | None = None,
    debug_port: int | None = None,
    say: Callable[[str], None] = print,
) -> bytes:
    """Open the site headed, wait for a sign-in, return the storage_state JSON."""
    rule = rule_for(site)
    if not rule.positive:
        raise CaptureError(
            f"site {site.name} has no logged-in rule (selector, URL, title or cookie): "
            "cannot tell when you have signed in"
        )
    extra = list(args or [])
    if debug_port:
        # Chromium binds it to 127.0.0.1 only; reach it through an SSH tunnel.
        extra.append(f"--remote-debugging-port={debug_port}")
    async with async_playwright() as pw:
        browser = await launch(pw, executable=executable, headless=False, args=extra)
        try:
            context = await browser.new_context(no_viewport=True)
            page = await context.new_page()
            start_url = getattr(site, "login_url", "") or site.url
            try:
                await page.goto(start_url, timeout=site.timeouts.navigation * 1000)
            except PlaywrightError as exc:
                if not browser.is_connected():
                    raise CaptureError("the browser was closed; nothing saved") from None
                # e.g. the person (or a redirect) navigated first: carry on
                say(f"note: {start_url} did not finish loading ({str(exc).splitlines()[0]})")
            say(f"sign in to {site.name} in the browser window ({start_url}); waiting...")
            driving = asyncio.create_task(driver(page)) if driver else None
            deadline = time.monotonic() + timeout
            while True:
                # The person may open tabs: any page of the context counts.
                try:
                    states = [await evaluate(rule, p, context) for p in context.pages]
                except PlaywrightError:
                    if not browser.is_connected():
                        raise CaptureError("the browser was closed; nothing saved") from None
                    states = []  # a page closed or navigated meanwhile: look again
                if "logged_in" in states:
                    break
                if driving and driving.done() and driving.exception():
                    raise CaptureError(f"the login script failed: {driving.exception()}")
                if time.monotonic() > deadline:
                    raise CaptureError(f"not signed in after {timeout:g}s; nothing saved")
                if not browser.is_connected() or not context.pages:
                    raise CaptureError("the browser window was closed; nothing saved")
                await asyncio.sleep(0.5)  # a person is typing: no hurry
            if driving and not driving.done():
                driving.cancel()
            state = await context.storage_state()
        finally:
            with contextlib.suppress(PlaywrightError):
                await browser.close()
    return json.dumps(state, indent=2).encode()
