"""Stopping a generation on the page: the site's stop button, pressed only
while it shows, and the page freed once the site agrees it is idle. A page
that does not answer within the time is jammed (its renderer busy for
good): the caller replaces it."""

from __future__ import annotations

import asyncio
import logging

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from instance_runner.sites import sel
from instance_runner.sites.errors import first_line
from instance_runner.sites.types import SiteFile

log = logging.getLogger("mictl.instance")


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
