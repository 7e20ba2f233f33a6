"""`mictl profile check`: open the site headless with a profile and say
whether it is signed in, signed out or at a captcha, with the expiry dates of
the cookies the site gets (never their values). Never writes the profile."""

from __future__ import annotations

import contextlib
import time

import msgspec
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from common import cookie_check
from common.cookies import CookieExpiry, expiries
from instance_runner.sites import login, sel
from instance_runner.sites.login import LoginState
from instance_runner.sites.types import SiteFile
from instance_runner.tools.launch import Network, launch


class ProfileReport(msgspec.Struct):
    profile: str
    site: str
    url: str  # where the page ended up
    state: LoginState
    cookies: list[CookieExpiry]
    checked_at: float


async def check_profile(
    profile: str,
    site: SiteFile,
    *,
    executable: str = "",
    args: list[str] | None = None,
    net: Network | None = None,
) -> ProfileReport:
    """With `net`: through the profile's proxy, in its locale and time zone.
    Raises ProxyUnreachable when that proxy gives no way to the site."""
    refused = cookie_check.file_problem(profile)
    if refused:  # Chromium would refuse the whole profile: say which cookie
        raise ValueError(f"profile {profile}: {refused}")
    net = net or Network()
    await net.preflight(site.url)
    async with async_playwright() as pw:
        browser = await launch(pw, executable=executable, headless=True, args=args, net=net)
        try:
            context = await browser.new_context(storage_state=profile, **net.context_options())
            page = await context.new_page()
            try:
                await page.goto(site.url, timeout=site.timeouts.navigation * 1000)
            except PlaywrightError as exc:
                failed = net.failure(exc)
                if failed:
                    raise failed from None
                raise
            s = site.selectors
            either = sel.options(s.logged_in) + sel.options(s.logged_out) + sel.options(s.captcha)
            if either:
                # Until the page shows one of them, or the site's ready timeout.
                shown = page.locator(either[0])
                for selector in either[1:]:
                    shown = shown.or_(page.locator(selector))
                with contextlib.suppress(PlaywrightError):
                    await shown.first.wait_for(timeout=site.timeouts.ready * 1000)
            state = await login.state(page, context, site)
            seen = await context.cookies([site.url, page.url])
        finally:
            await browser.close()
    return ProfileReport(profile, site.name, page.url, state, expiries(seen), time.time())
