"""Is this browser signed in to the site? The site file's login rule, evaluated.

The rule comes from the site file: the `logged_in` / `logged_out` (and
`captcha`) selectors, the logged-out and captcha markers, and, where the site
file has them, URL, title and cookie conditions. Used by `mictl profile
capture` (wait until a person has signed in) and `mictl profile check`.
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
    url: str = ""  # regex the page URL matches
    title: str = ""  # regex the page title matches
    cookies: list[str] = []  # cookies that must all be present (names)
    out_selectors: list[str] = []
    out_url: str = ""  # e.g. accounts.google.com
    out_title: str = ""
    out_markers: list[str] = []
    captcha_selectors: list[str] = []
    captcha_markers: list[str] = []

    @property
    def positive(self) -> bool:
        return bool(self.selectors or self.url or self.title or self.cookies)


def as_list(value: Any) -> list[str]:
    """A selector field as a list of choices (a string or a fallback list)."""
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _get(obj: Any, *names: str) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value:
            return value
    return None


def rule_for(site: SiteFile) -> LoginRule:
    """The login rule a site file gives, whichever of its fields exist."""
    s, m = site.selectors, site.markers
    login = getattr(site, "login", None)  # the engine's [login] table, when there is one
    return LoginRule(
        selectors=as_list(s.logged_in),
        url=_get(login, "url", "logged_in_url") or "",
        title=_get(login, "title", "logged_in_title") or "",
        cookies=as_list(_get(login, "cookies", "cookie", "logged_in_cookies")),
        out_selectors=as_list(s.logged_out),
        out_url=_get(login, "logged_out_url", "out_url") or "",
        out_title=_get(login, "logged_out_title", "out_title") or "",
        out_markers=list(m.logged_out),
        captcha_selectors=as_list(_get(s, "captcha")),
        captcha_markers=as_list(_get(m, "captcha")),
    )


async def _any(page: Page, selectors: list[str]) -> bool:
    for selector in selectors:
        try:
            if await page.query_selector(selector):
                return True
        except PlaywrightError:
            continue  # an invalid selector, or the page navigated meanwhile
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
    if (
        (rule.out_url and re.search(rule.out_url, url))
        or (rule.out_title and re.search(rule.out_title, title, re.IGNORECASE))
        or (rule.out_selectors and await _any(page, rule.out_selectors))
    ):
        return "logged_out"
    if not rule.positive:
        return "unknown"
    if rule.url and not re.search(rule.url, url):
        return "unknown"
    if rule.title and not re.search(rule.title, title, re.IGNORECASE):
        return "unknown"
    if rule.cookies:
        names = {c["name"] for c in await context.cookies()}
        if not set(rule.cookies) <= names:
            return "logged_out"
    if rule.selectors and not await _any(page, rule.selectors):
        if rule.out_markers:
            text = text if text is not None else await _text(page)
            if any(x.lower() in text for x in rule.out_markers):
                return "logged_out"
        return "unknown"
    return "logged_in"
