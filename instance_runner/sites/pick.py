"""Page actions before a prompt is sent: start a fresh chat, choose the model.

A disabled "New chat" means the chat is already fresh (clicks.py never
clicks a disabled button).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from instance_runner.sites import login, sel, stopping, toggles
from instance_runner.sites.clicks import click
from instance_runner.sites.errors import Captcha, LoggedOut, SiteError
from instance_runner.sites.models import SiteModel
from instance_runner.sites.status import LOGGED_OUT
from instance_runner.sites.types import SiteFile

log = logging.getLogger("mictl.instance")
_switching: weakref.WeakKeyDictionary[BrowserContext, asyncio.Lock] = weakref.WeakKeyDictionary()


async def reset(page: Page, context: BrowserContext, site: SiteFile) -> str:
    """Open a fresh chat, with the site's switches on (toggles.py); the model
    label it shows ("" unread: look again)."""
    label = await _fresh_chat(page, context, site)
    await toggles.ensure(page, site)
    return label


async def _fresh_chat(page: Page, context: BrowserContext, site: SiteFile) -> str:
    s, t = site.selectors, site.timeouts
    if site.reset == "goto":
        await page.goto(site.reset_url or site.url, timeout=t.navigation * 1000)
    elif site.reset == "reload":
        await page.reload(timeout=t.navigation * 1000)
    elif site.reset == "new_chat" and s.new_chat:
        await _new_chat(page, site)
    else:
        return ""
    seen = await login.settle(page, context, site)
    if seen.signed_out:
        raise LoggedOut(f"{LOGGED_OUT} ({seen.signed_out})")
    if seen.challenge:
        raise Captcha(f"the site asks for a human check: {seen.challenge}")
    return seen.label


async def _new_chat(page: Page, site: SiteFile) -> None:
    """Click "New chat" and confirm its dialog, unless the button is
    disabled: the chat is fresh already. Only once the page is done with
    the last answer (stopping.settle): a busy page locks the button, which
    a fresh chat disables too. Fresh, checked: the button disabled (or gone)
    and no answer shown (CJackHwang's _verify_chat_cleared looks for none)."""
    s, t = site.selectors, site.timeouts
    await stopping.settle(page, site)
    hit = await sel.first(page, s.new_chat, visible=True)
    if hit is not None and not await hit[1].is_disabled():
        await hit[1].click()
        if s.new_chat_confirm:
            try:
                await page.wait_for_selector(sel.any_of(s.new_chat_confirm), timeout=3000)
                await click(page, s.new_chat_confirm, "confirm button")
            except PlaywrightError:
                pass  # no dialog this time
        with contextlib.suppress(PlaywrightError):  # (a new page may load meanwhile)
            limit = min(t.ready, 5) * 1000
            await page.wait_for_function(_FRESH, arg=_fresh_args(site), timeout=limit)
        await page.wait_for_load_state()
    if not await page.evaluate(_FRESH, _fresh_args(site)):
        raise SiteError("no fresh chat: the page still shows an answer or an enabled New chat")


# [New chat selectors, answer selectors] -> a fresh chat: no enabled "New
# chat" button shows and no answer does.
_FRESH = """([buttons, answers]) => {
    const all = (sels) => sels.flatMap((s) => {
        try { return [...document.querySelectorAll(s)]; } catch (e) { return []; }
    });
    return !all(buttons).some((b) => b.getClientRects().length && !b.disabled)
        && !all(answers).some((a) => a.getClientRects().length);
}"""


def _fresh_args(site: SiteFile) -> list[list[str]]:
    return [sel.options(site.selectors.new_chat), sel.options(site.selectors.answer)]


async def shown_model(page: Page, site: SiteFile, *, wait: bool = False) -> str:
    """The text of the model check (waiting for it on a page just loaded)."""
    check = sel.options(site.model_config.check)
    if not check:
        return ""
    script = """sels => {
        for (const s of sels) {
            const e = document.querySelector(s);
            if (e) return e.textContent.trim();
        }
        return "";
    }"""
    try:
        if wait:  # a page just loaded fills it in a moment later
            found = await page.wait_for_function(
                script, arg=check, timeout=site.timeouts.ready * 1000
            )
            return str(await found.json_value())
        return str(await page.evaluate(script, check))
    except PlaywrightError:
        return ""


def shows(text: str, model: SiteModel) -> bool:
    lowered = text.lower()
    return bool(text) and (model.name.lower() in lowered or model.id.lower() in lowered)


async def prepare(
    page: Page,
    context: BrowserContext,
    site: SiteFile,
    model: SiteModel | None,
    *,
    fresh: bool = False,
    label: str | None = None,
) -> None:
    """Reset the chat (unless `fresh`: reset already, after the last answer)
    and choose `model` (None: leave the page's own). `label`: the model
    label that fresh page showed, read when it was opened (None: read now)."""
    m = site.model_config
    wanted = model is not None and m.pick != "none"
    if wanted and m.pick == "localstorage":
        assert model is not None
        if fresh and label is not None:
            current = label
        else:
            current = await shown_model(page, site, wait=fresh) if m.check else ""
        if not shows(current, model):
            # The pages of one context share localStorage: one switch at a
            # time, from the write until the page has loaded with it.
            async with _switching.setdefault(context, asyncio.Lock()):
                await _write_storage(page, site, model)
                if site.reset != "goto" and m.reload:
                    await page.reload(timeout=site.timeouts.navigation * 1000)
                await _load(page, context, site, model, fresh=False, shown=False)
            return
        # A fresh page that shows the model already needs no second check.
        return await _load(page, context, site, model, fresh=fresh, shown=fresh)
    await _load(page, context, site, model, fresh=fresh, shown=False, pick=wanted)


async def _load(
    page: Page,
    context: BrowserContext,
    site: SiteFile,
    model: SiteModel | None,
    *,
    fresh: bool,
    shown: bool,
    pick: bool = True,
) -> None:
    """A fresh chat (unless `fresh`), the switches `model` asks for set, and
    `model` chosen and checked (unless not `pick`, or `shown`: the page
    shows it already)."""
    m = site.model_config
    wanted = model is not None and pick
    if not fresh:
        await reset(page, context, site)
    if model is not None:  # switches the model asks for (DeepSeek's DeepThink)
        await toggles.drive(page, site, model.id)
    if not wanted:
        return
    assert model is not None
    if m.pick == "select":
        await page.select_option(sel.any_of(site.selectors.model_picker), value=model.id)
    elif m.pick in ("click", "type"):
        await _pick_from_menu(page, site, model)
    if m.check and not shown:
        await _verify(page, site, model)


async def _write_storage(page: Page, site: SiteFile, model: SiteModel) -> None:
    m = site.model_config
    value = json.loads(m.storage_value.replace("{id}", json.dumps(model.id)[1:-1]))
    await page.evaluate(
        """([key, value]) => {
            let current = {};
            try { current = JSON.parse(localStorage.getItem(key) || "{}") || {}; } catch (e) {}
            localStorage.setItem(key, JSON.stringify(Object.assign(current, value)));
        }""",
        [m.storage_key, value],
    )
    log.info("model preference set to %s", model.id)


async def _pick_from_menu(page: Page, site: SiteFile, model: SiteModel) -> None:
    s = site.selectors
    await click(page, s.model_picker, "model picker")
    if site.model_config.pick == "type":
        if s.model_search:
            await page.fill(sel.any_of(s.model_search), model.name)
        else:
            await page.keyboard.type(model.name)
    options = page.locator(sel.any_of(s.model_option or "[role=option]"))
    exact = options.filter(has_text=model.name)
    try:
        await exact.first.click(timeout=site.timeouts.ready * 1000)
    except PlaywrightError:
        await page.keyboard.press("Escape")
        raise SiteError(f"the model picker has no entry {model.name!r}") from None


async def _verify(page: Page, site: SiteFile, model: SiteModel) -> None:
    check = sel.any_of(site.model_config.check)
    try:
        await page.wait_for_function(
            """([selector, names]) => {
                const el = document.querySelector(selector);
                const text = el ? el.textContent.toLowerCase() : "";
                return names.some((n) => text.includes(n));
            }""",
            arg=[check, [model.name.lower(), model.id.lower()]],
            timeout=site.timeouts.ready * 1000,
        )
    except PlaywrightError:
        shown = await shown_model(page, site)
        raise SiteError(f"could not switch to {model.id}: the page shows {shown!r}") from None
