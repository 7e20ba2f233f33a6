"""Switches to have on in every fresh chat (`[[toggle]]` in a site file).

AI Studio saves every chat to the account (its page calls CreatePrompt
once a chat has an answer) unless "Temporary chat" is on: without the
switch, every API request would leave a saved prompt behind.

One page look says which switches are off; when the site remembers them,
that is all it costs. A switch that is off is clicked (its menu opened
first when it is not in view), and then it must show as on; a menu left
open is closed with Escape. A switch that will not turn on fails the
request when the site file says it is required, else it is logged, once.

A switch with `models` is driven per request instead (`drive`): on for
those models, off for the others (DeepSeek's DeepThink for
`deepseek-reasoner`); as it picks the model, it must switch, or the
request fails.
"""

from __future__ import annotations

import fnmatch
import logging

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from instance_runner.sites import clicks, sel
from instance_runner.sites.clicks import FIND
from instance_runner.sites.errors import SiteError, first_line
from instance_runner.sites.types import SiteFile, Toggle

log = logging.getLogger("mictl.instance")

# [[on selectors] per toggle] -> the indexes of the toggles that are off
_OFF = f"""(toggles) => {{
    const find = {FIND};
    return toggles.flatMap((on, i) => (find(on) ? [] : [i]));
}}"""
# [click, menu] -> where the switch is (FIND), or else its menu ({menu: true})
_WHERE = f"""([click, menu]) => {{
    const find = {FIND};
    const c = find(click), m = c ? null : find(menu);
    return c || (m && {{...m, menu: true}});
}}"""
# [selectors, ms] -> FIND of the first visible match, waiting up to ms for one
_AWAIT = f"""async ([sels, ms]) => {{
    const find = {FIND}, until = performance.now() + ms;
    let found = find(sels);
    while (!found && performance.now() < until) {{
        await new Promise((r) => requestAnimationFrame(r));
        found = find(sels);
    }}
    return found;
}}"""
# [selectors, ms] -> true once none is visible, waiting up to ms
_AWAIT_GONE = f"""async ([sels, ms]) => {{
    const find = {FIND}, until = performance.now() + ms;
    while (find(sels) && performance.now() < until) {{
        await new Promise((r) => requestAnimationFrame(r));
    }}
    return !find(sels);
}}"""
# menu selectors -> whether one of them is open (aria-expanded)
_MENU_OPEN = """(sels) => sels.some((s) =>
    [...document.querySelectorAll(s)].some((e) => e.getAttribute("aria-expanded") === "true"))"""
_warned: set[str] = set()


async def ensure(page: Page, site: SiteFile) -> None:
    """Turn on every switch of the site file (but those driven by the model)
    that is off on this page."""
    always = [t for t in site.toggle if not t.models]
    if not always:
        return
    off = await page.evaluate(_OFF, [sel.options(t.on) for t in always])
    for index in off:
        toggle = always[index]
        try:
            await _turn_on(page, site, toggle)
        except (PlaywrightError, SiteError) as exc:
            if page.is_closed():  # shutting down: nothing to warn about
                raise
            why = first_line(exc)
            if toggle.required:
                raise SiteError(f"could not turn on {toggle.name}: {why}") from None
            if toggle.name not in _warned:
                _warned.add(toggle.name)
                log.warning("could not turn on %s, going on without it: %s", toggle.name, why)


def wanted(toggle: Toggle, model: str) -> bool:
    """Whether a switch driven by the model is to be on for `model`."""
    return any(fnmatch.fnmatchcase(model.lower(), m.lower()) for m in toggle.models)


async def drive(page: Page, site: SiteFile, model: str) -> None:
    """Set every switch driven by the model as `model` wants it: one page
    look, then a click on each switch in the wrong state, which must then
    show the right one."""
    driven = [t for t in site.toggle if t.models]
    if not driven:
        return
    # A page just loaded may not show its switches yet: a hidden switch
    # would read as off. Wait (a while) for them to show first.
    wait_ms = min(site.timeouts.ready, 5) * 1000
    await page.evaluate(_AWAIT, [[s for t in driven for s in sel.options(t.click)], wait_ms])
    off = set(await page.evaluate(_OFF, [sel.options(t.on) for t in driven]))
    for index, toggle in enumerate(driven):
        want = wanted(toggle, model)
        if want == (index not in off):
            continue
        try:
            await _turn_on(page, site, toggle, on_wanted=want)
        except (PlaywrightError, SiteError) as exc:
            if page.is_closed():
                raise
            state = "on" if want else "off"
            why = first_line(exc)
            raise SiteError(f"could not turn {toggle.name} {state} for {model}: {why}") from None
        log.info("%s turned %s for %s", toggle.name, "on" if want else "off", model)


async def _turn_on(page: Page, site: SiteFile, toggle: Toggle, *, on_wanted: bool = True) -> None:
    """Found, clicked and waited for in the page: a page round trip a step
    (`on_wanted` False: clicked to turn it off, and waited for that)."""
    wait_ms = min(site.timeouts.ready, 5) * 1000
    click, menu, on = (sel.options(x) for x in (toggle.click, toggle.menu, toggle.on))
    place = await page.evaluate(_WHERE, [click, menu])
    if place and place.get("menu"):
        await clicks.click_found(page, place, toggle.menu, f"menu of {toggle.name}")
        place = await page.evaluate(_AWAIT, [click, wait_ms])
    await clicks.click_found(page, place, toggle.click, toggle.name)
    try:
        if not on_wanted:
            if not await page.evaluate(_AWAIT_GONE, [on, wait_ms]):
                raise SiteError(f"{toggle.name} still shows as on after the click")
        elif not await page.evaluate(_AWAIT, [on, wait_ms]):
            raise SiteError(f"{toggle.name} does not show as on after the click")
    finally:
        if menu and await page.evaluate(_MENU_OPEN, menu):
            await page.keyboard.press("Escape")
    log.debug("turned %s %s", "on" if on_wanted else "off", toggle.name)
