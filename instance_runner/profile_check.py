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
from instance_runner.launch import launch
from instance_runner.login_rule import LoginState, as_list, evaluate, rule_for
from instance_runner.sites.types import SiteFile


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
) -> ProfileReport:
    refused = cookie_check.file_problem(profile)
    if refused:  # Chromium would refuse the whole profile: say which cookie
        raise ValueError(f"profile {profile}: {refused}")
    rule = rule_for(site)
    async with async_playwright() as pw:
        browser = await launch(pw, executable=executable, headless=True, args=args)
        try:
            context = await browser.new_context(storage_state=profile)
            page = await context.new_page()
            await page.goto(site.url, timeout=site.timeouts.navigation * 1000)
            either = as_list(site.selectors.logged_in) + as_list(site.selectors.logged_out)
            either += rule.captcha_selectors
            if either:
                # Until the page shows one of them, or the site's ready timeout.
                shown = page.locator(either[0])
                for selector in either[1:]:
                    shown = shown.or_(page.locator(selector))
                with contextlib.suppress(PlaywrightError):
                    await shown.first.wait_for(timeout=site.timeouts.ready * 1000)
            state = await evaluate(rule, page, context)
            seen = await context.cookies([site.url, page.url])
        finally:
            await browser.close()
    return ProfileReport(profile, site.name, page.url, state, expiries(seen), time.time())
