"""Stopping a generation on the page: the site's stop button, pressed only
while it shows, and the page freed once the site agrees it is idle. A page
that does not answer within the time is jammed (its renderer busy for
good): the caller replaces it.

Settling: an answer ends for mictl when its stream says so (the decoder's
finish), which can be before the page has done with it. AI Studio keeps its
run button a stop button, and its "New chat" button locked, for a while
after the stream a proxy reads has ended (CJackHwang/AIstudioProxyAPI
browser_utils/page_controller_modules/chat.py, clear_chat_history: "the
streamed output has ended but the page is still replying, which locks the
clear button"). Whatever acts on that chat next (a follow-up typed into it,
"New chat") waits until the page is idle: a click on send would stop the
run instead of sending, and a locked "New chat" looks like a fresh chat."""

from __future__ import annotations

import asyncio
import logging

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from instance_runner.sites import sel
from instance_runner.sites.errors import PageJammed, first_line
from instance_runner.sites.types import SiteFile

log = logging.getLogger("mictl.instance")
# [stop selectors, idle selectors] -> the page is idle: no enabled stop
# button shows and, when the site file names one, its idle sign does (an
# invalid selector counts as absent).
_SETTLED = """([stop, idle]) => {
    const shown = (s, test) => {
        try {
            return [...document.querySelectorAll(s)]
                .some((e) => e.getClientRects().length && test(e));
        } catch (e) { return false; }
    };
    const enabled = (e) => !e.disabled && e.getAttribute("aria-disabled") !== "true";
    const busy = stop.some((s) => shown(s, enabled));
    return !busy && (!idle.length || idle.some((s) => shown(s, () => true)));
}"""


async def stop(page: Page, site: SiteFile) -> None:
    """Press the site's stop button if a generation is running; best effort."""
    try:
        await page.evaluate("() => window.__mictlDisarm && window.__mictlDisarm()")
        button = site.selectors.stop
        hit = await sel.first(page, button, visible=True) if button else None
        if hit and not await hit[1].is_disabled():
            await hit[1].click(timeout=2000)
            # Free the page only once the site agrees it is idle.
            await page.wait_for_selector(hit[0], state="hidden", timeout=5000)
            log.info("stopped the generation on the page")
    except PlaywrightError as exc:
        log.warning("could not stop the generation: %s", first_line(exc))


async def stop_within(page: Page, site: SiteFile) -> bool:
    """Stop within `timeouts.send`; False when the page did not answer (jammed)."""
    limit = site.timeouts.send
    try:
        await asyncio.wait_for(stop(page, site), limit)
    except TimeoutError:
        log.warning("the page did not answer a stop within %.0fs; it is replaced", limit)
        return False
    return True


async def settle(page: Page, site: SiteFile) -> None:
    """Until the page is done with its last answer (see above): idle within
    `timeouts.settle` (at most half of `timeouts.send`), else stopped, as
    CJackHwang's clear_chat_history presses the stop button then (the
    answer was whole). PageJammed when the page did not answer the stop."""
    s = site.selectors
    stop, idle = sel.options(s.stop), sel.options(s.idle)
    if not stop and not idle:
        return  # nothing on the page tells
    grace = min(site.timeouts.settle, site.timeouts.send / 2)
    try:
        await page.wait_for_function(_SETTLED, arg=[stop, idle], timeout=grace * 1000)
        return
    except PlaywrightError as exc:
        log.info("the page is still busy after its answer (%s); stopping it", first_line(exc))
    if not await stop_within(page, site):
        raise PageJammed("the page did not finish its last answer, nor stop it")
