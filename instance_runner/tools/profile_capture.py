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

from instance_runner.sites import login
from instance_runner.sites.types import SiteFile
from instance_runner.tools.launch import Network, launch

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
    net: Network | None = None,
) -> bytes:
    """Open the site headed, wait for a sign-in, return the storage_state JSON.
    With `net`, through the profile's proxy, in its locale and time zone (the
    site sees the sign-in come from where the instance will work)."""
    net = net or Network()
    if not login.has_rule(site):
        raise CaptureError(
            f"site {site.name} has no logged-in rule (selector, URL, title or cookie): "
            "cannot tell when you have signed in"
        )
    extra = list(args or [])
    if debug_port:
        # Chromium binds it to 127.0.0.1 only; reach it through an SSH tunnel.
        extra.append(f"--remote-debugging-port={debug_port}")
    start_url = getattr(site, "login_url", "") or site.url
    await net.preflight(start_url)
    async with async_playwright() as pw:
        browser = await launch(pw, executable=executable, headless=False, args=extra, net=net)
        try:
            context = await browser.new_context(no_viewport=True, **net.context_options())
            page = await context.new_page()
            try:
                await page.goto(start_url, timeout=site.timeouts.navigation * 1000)
            except PlaywrightError as exc:
                if not browser.is_connected():
                    raise CaptureError("the browser was closed; nothing saved") from None
                failed = net.failure(exc)
                if failed:  # no way to the site at all: nothing to sign in to
                    raise failed from None
                # e.g. the person (or a redirect) navigated first: carry on
                say(f"note: {start_url} did not finish loading ({str(exc).splitlines()[0]})")
            say(f"sign in to {site.name} in the browser window ({start_url}); waiting...")
            driving = asyncio.create_task(driver(page)) if driver else None
            deadline = time.monotonic() + timeout
            while True:
                # The person may open tabs: any page of the context counts.
                try:
                    states = [await login.state(p, context, site) for p in context.pages]
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
