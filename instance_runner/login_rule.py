"""Is this browser signed in to the site? The site file's login rule, evaluated.

The rule comes from the site file: the `logged_in` / `logged_out` / `captcha`
selectors, the logged-out and captcha markers, and the [login] table (sign-in
URL patterns, sign-in page titles, the session cookies, the localStorage keys
a login is kept in). Used by `mictl profile capture` (wait until a person has
signed in) and `mictl profile check`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec
from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from instance_runner.sites.types import SiteFile

LoginState = Literal["logged_in", "logged_out", "captcha", "unknown"]


class LoginRule(msgspec.Struct, kw_only=True):
    """Every condition given must hold for `logged_in`."""

    selectors: list[str] = []  # one of them present
    cookies: list[str] = []  # cookies that must all be present (names)
    local_storage: list[str] = []  # the page's localStorage keys that must all be present
    out_selectors: list[str] = []  # any present: signed out
    out_urls: list[str] = []  # regexes: the page went to a sign-in URL
    out_titles: list[str] = []  # title substrings of a sign-in page
    out_markers: list[str] = []  # page texts that ask to sign in
    captcha_selectors: list[str] = []
    captcha_markers: list[str] = []

    @property
    def positive(self) -> bool:
        return bool(self.selectors or self.cookies or self.local_storage)


def as_list(value: Any) -> list[str]:
    """A selector field as a list of choices (a string or a fallback list)."""
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value if v]


def rule_for(site: SiteFile) -> LoginRule:
    """The login rule a site file gives (its [login] table, selectors, markers)."""
    s, m = site.selectors, site.markers
    login = getattr(site, "login", None)
    return LoginRule(
        selectors=as_list(s.logged_in) or as_list(s.prompt),
        cookies=as_list(getattr(login, "cookies", None)),
        local_storage=as_list(getattr(login, "local_storage", None)),
        out_selectors=as_list(s.logged_out),
        out_urls=as_list(getattr(login, "url_patterns", None)),
        out_titles=as_list(getattr(login, "title_markers", None)),
        out_markers=list(m.logged_out),
        captcha_selectors=as_list(getattr(s, "captcha", None)),
        captcha_markers=as_list(getattr(m, "captcha", None)),
    )


async def _any(page: Page, selectors: list[str]) -> bool:
    for selector in selectors:
        try:
            if await page.query_selector(selector):
                return True
        except PlaywrightError:
            continue  # an invalid selector, or the page navigated meanwhile
    return False


async def _stored(page: Page, keys: list[str]) -> bool:
    """Whether the page's localStorage holds every key (a login kept there)."""
    try:
        script = "(keys) => keys.every((k) => localStorage.getItem(k) !== null)"
        return bool(await page.evaluate(script, keys))
    except PlaywrightError:
        return False


async def _text(page: Page) -> str:
    try:
        return (await page.inner_text("body", timeout=2000)).lower()
    except PlaywrightError:
        return ""


async def evaluate(rule: LoginRule, page: Page, context: BrowserContext) -> LoginState:
    """What the page shows now: signed in, signed out, a captcha, or unknown."""
    url = page.url
    try:
        title = await page.title()
    except PlaywrightError:
        title = ""
    text = None
    if rule.captcha_selectors and await _any(page, rule.captcha_selectors):
        return "captcha"
    if rule.captcha_markers:
        text = await _text(page)
        if any(x.lower() in text for x in rule.captcha_markers):
            return "captcha"
    title_l = title.lower()
    if (
        any(re.search(p, url) for p in rule.out_urls)
        or any(t.lower() in title_l for t in rule.out_titles)
        or (rule.out_selectors and await _any(page, rule.out_selectors))
    ):
        return "logged_out"
    if not rule.positive:
        return "unknown"
    if rule.cookies:
        names = {c["name"] for c in await context.cookies()}
        if not set(rule.cookies) <= names:
            return "logged_out"
    if rule.local_storage and not await _stored(page, rule.local_storage):
        return "logged_out"
    if rule.selectors and not await _any(page, rule.selectors):
        if rule.out_markers:
            text = text if text is not None else await _text(page)
            if any(x.lower() in text for x in rule.out_markers):
                return "logged_out"
        return "unknown"
    return "logged_in"
