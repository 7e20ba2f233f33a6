"""Selectors with fallbacks: a site file's selector is one CSS selector or
an ordered list of them; the first that matches wins."""

from __future__ import annotations

from playwright.async_api import ElementHandle, Page
from playwright.async_api import Error as PlaywrightError

from instance_runner.sites.types import Sel, SiteFile


def options(sel: Sel) -> list[str]:
    """The fallbacks in order (none for an empty selector)."""
    if isinstance(sel, str):
        return [sel] if sel else []
    return [s for s in sel if s]


def any_of(sel: Sel) -> str:
    """One selector matching what any fallback matches (for waits and page.js)."""
    return ", ".join(options(sel))


async def first(page: Page, sel: Sel, *, visible: bool = False) -> tuple[str, ElementHandle] | None:
    """The first fallback that matches (visible, if asked) and its element."""
    for candidate in options(sel):
        try:
            for handle in await page.query_selector_all(candidate):
                if not visible or await handle.is_visible():
                    return candidate, handle
        except PlaywrightError:
            continue  # an invalid selector, or the page navigated: try the next
    return None


async def present(page: Page, sel: Sel) -> bool:
    return await first(page, sel) is not None


def arm_config(site: SiteFile) -> dict[str, str]:
    """What page.js watches for one generation: the site's answer, done and
    banner selectors (each fallback list as one selector) and the source."""
    s = site.selectors
    return {
        "answer": any_of(s.answer),
        "answer_done": any_of(s.answer_done),
        "idle": any_of(s.idle),
        "rate_limit": any_of(s.rate_limit),
        "captcha": any_of(s.captcha),
        "error": any_of(s.error),
        "logged_out": any_of(s.logged_out),
        "source": site.stream.source,
    }
