"""Is the page signed in? By URL, title, cookies, selectors and texts."""

from __future__ import annotations

import re

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from instance_runner.sites import sel
from instance_runner.sites.types import SiteFile


async def signed_out_reason(page: Page, context: BrowserContext, site: SiteFile) -> str | None:
    """Why the page is signed out, or None when nothing says so."""
    login = site.login
    url = page.url
    for pattern in login.url_patterns:
        if re.search(pattern, url):
            return f"the page went to a sign-in URL ({url.split('?')[0]})"
    if login.title_markers:
        try:
            title = await page.title()
        except PlaywrightError:
            title = ""
        if any(m.lower() in title.lower() for m in login.title_markers):
            return f"the page is a sign-in page ({title!r})"
    if login.cookies:
        names = {c.get("name") for c in await context.cookies()}
        missing = [c for c in login.cookies if c not in names]
        if missing:
            return f"the session cookie is missing ({', '.join(missing)})"
    s, m = site.selectors, site.markers
    if s.logged_out and await sel.present(page, s.logged_out):
        return "the sign-in form is showing"
    if m.logged_out and not s.logged_in:
        body = (await page.inner_text("body")).lower()
        if any(marker.lower() in body for marker in m.logged_out):
            return "the page asks to sign in"
    return None


async def signed_in(page: Page, context: BrowserContext, site: SiteFile) -> bool:
    if await signed_out_reason(page, context, site):
        return False
    s = site.selectors
    return await sel.present(page, s.logged_in or s.prompt)


async def challenge_reason(page: Page, site: SiteFile) -> str | None:
    """Why the page is a human check (a Cloudflare interstitial, a captcha),
    or None. Told apart from a logout: the cookies may be fine."""
    hit = await sel.first(page, site.selectors.captcha) if site.selectors.captcha else None
    if hit:
        return f"a human check is on the page ({hit[0]})"
    if site.markers.captcha:
        try:
            title = await page.title()
        except PlaywrightError:
            title = ""
        if any(m.lower() in title.lower() for m in site.markers.captcha):
            return f"the page is a human check ({title!r})"
    return None


def ready_selector(site: SiteFile) -> str:
    """What shows once the page has settled: signed in, signed out, or a human check."""
    s = site.selectors
    parts = (s.logged_in, s.logged_out, s.prompt, s.captcha)
    return ", ".join(x for x in (sel.any_of(p) for p in parts) if x)
