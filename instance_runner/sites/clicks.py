"""Clicks on a page: a real mouse click at the element's centre, found in
one page round trip, never on a disabled button (a disabled send button is
waited for, then reported)."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

from playwright.async_api import CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from instance_runner.sites import sel
from instance_runner.sites.errors import SiteError
from instance_runner.sites.types import Sel

# sels, press -> where the first visible match is (null: none); with press
# (site.press = "script") it is clicked from the page when enabled.
FIND = """(sels, press) => {
    for (const s of sels) {
        for (const el of document.querySelectorAll(s)) {
            const r = el.getBoundingClientRect();
            if (!r.width || !r.height || getComputedStyle(el).visibility === "hidden") continue;
            const x = r.x + r.width / 2, y = r.y + r.height / 2;
            const disabled = !!el.disabled || el.getAttribute("aria-disabled") === "true";
            if (press && !disabled) el.click();  // site.press = "script"
            return {
                disabled, x, y, inside: x >= 0 && y >= 0 && x < innerWidth && y < innerHeight,
                pressed: !!press && !disabled,
            };
        }
    }
    return null;
}"""


async def click(page: Page, selector: Sel, what: str, *, wait_enabled: float = 0) -> None:
    """Click the first visible match, never while disabled: a real mouse
    click at its centre, found in one step (ElementHandle.click's
    actionability waits cost 100-250 ms a click under load)."""
    try:
        found = await page.evaluate(FIND, sel.options(selector))
    except PlaywrightError:  # Playwright-only selectors (:has-text): the slow way
        return await _click_handle(page, selector, what, wait_enabled)
    if found and found["disabled"] and wait_enabled:
        with contextlib.suppress(PlaywrightError):
            await page.wait_for_function(
                f"sels => {{ const f = ({FIND})(sels); return f && !f.disabled; }}",
                arg=sel.options(selector),
                timeout=wait_enabled * 1000,
            )
        found = await page.evaluate(FIND, sel.options(selector))
    await click_found(page, found, selector, what)


async def click_found(page: Page, found: Any, selector: Sel, what: str) -> None:
    """Click where FIND found `selector`'s first visible match (None: nowhere)."""
    if found is None:
        raise SiteError(f"the {what} is not on the page ({sel.any_of(selector)})")
    if found["disabled"]:
        raise SiteError(f"the {what} is disabled")
    if not found["inside"]:
        return await _click_handle(page, selector, what, 0)  # Playwright scrolls it in
    await press_at(page, found["x"], found["y"])


_sessions: weakref.WeakKeyDictionary[Page, CDPSession] = weakref.WeakKeyDictionary()


async def press_at(page: Page, x: float, y: float, cdp: CDPSession | None = None) -> None:
    """A left mouse press and release at (x, y), sent together on the page's
    DevTools session and acknowledged together: one round trip, where
    Playwright's mouse.click makes three and its move waits for a frame
    (Chromium updates hover with the press anyway)."""
    if cdp is None:
        cdp = _sessions.get(page)
        if cdp is None:
            cdp = _sessions[page] = await page.context.new_cdp_session(page)
    base = {"x": x, "y": y, "button": "left", "clickCount": 1}
    await asyncio.gather(
        cdp.send("Input.dispatchMouseEvent", {"type": "mousePressed", **base}),
        cdp.send("Input.dispatchMouseEvent", {"type": "mouseReleased", **base}),
    )


async def _click_handle(page: Page, selector: Sel, what: str, wait_enabled: float) -> None:
    hit = await sel.first(page, selector, visible=True)
    if hit is None:
        raise SiteError(f"the {what} is not on the page ({sel.any_of(selector)})")
    handle = hit[1]
    if wait_enabled and await handle.is_disabled():
        with contextlib.suppress(PlaywrightError):
            await page.wait_for_function(
                "el => !el.disabled && el.getAttribute('aria-disabled') !== 'true'",
                arg=handle,
                timeout=wait_enabled * 1000,
            )
    if await handle.is_disabled():
        raise SiteError(f"the {what} is disabled")
    await handle.click()
