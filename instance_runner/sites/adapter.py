"""The generic site adapter: drives any site described by a site file.

Interface: open (and check login), models, select_model, generate (an async
iterator of answer deltas), stop, check. Deltas arrive from the page itself
(page.js) through one exposed binding, never by polling.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from instance_runner.sites.errors import (
    LoggedOut,
    PageCrashed,
    RateLimited,
    SiteError,
    Stalled,
    UnknownModel,
)
from instance_runner.sites.types import SiteFile

log = logging.getLogger("mictl.instance")
PAGE_JS = (Path(__file__).with_name("page.js")).read_text()


class CheckResult(msgspec.Struct):
    name: str
    selector: str
    found: bool
    required: bool


async def prepare_context(context: BrowserContext, adapter_ref: list[SiteAdapter]) -> None:
    """Install page.js and the binding once per context (they survive reloads)."""

    def on_event(source: Any, kind: str, data: Any) -> None:
        if adapter_ref:
            adapter_ref[0].on_event(kind, data)

    await context.expose_binding("__mictlEvent", on_event)
    await context.add_init_script(PAGE_JS)


class SiteAdapter:
    def __init__(self, site: SiteFile, page: Page) -> None:
        self.site = site
        self.page = page
        self._events: asyncio.Queue[tuple[str, Any]] | None = None
        self._models: list[str] = []
        page.on("load", lambda _: self.on_event("navigated", None))
        page.on("crash", lambda _: self.on_event("crashed", None))

    def on_event(self, kind: str, data: Any) -> None:
        if self._events is not None:
            self._events.put_nowait((kind, data))

    # ------------------------------------------------------------ session

    async def open(self) -> bool:
        """Load the site; True when signed in."""
        # The site may come up after us (the demo site is a sibling program):
        # retry a refused connection until the navigation timeout.
        deadline = time.monotonic() + self.site.timeouts.navigation
        while True:
            try:
                await self.page.goto(self.site.url, timeout=self.site.timeouts.navigation * 1000)
                break
            except PlaywrightError as exc:
                if "ERR_CONNECTION_REFUSED" not in str(exc) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.25)
        return await self.wait_ready()

    async def wait_ready(self) -> bool:
        s = self.site.selectors
        either = ", ".join(x for x in (s.logged_in, s.logged_out) if x) or s.prompt
        await self.page.wait_for_selector(either, timeout=self.site.timeouts.ready * 1000)
        return await self.logged_in()

    async def logged_in(self) -> bool:
        s, m = self.site.selectors, self.site.markers
        if s.logged_out and await self.page.query_selector(s.logged_out):
            return False
        if m.logged_out and not s.logged_in:
            body = (await self.page.inner_text("body")).lower()
            if any(marker.lower() in body for marker in m.logged_out):
                return False
        return bool(await self.page.query_selector(s.logged_in or s.prompt))

    @property
    def known_models(self) -> list[str]:
        return list(self._models)

    async def models(self) -> list[str]:
        if self._models:
            return self._models
        s = self.site.selectors
        if self.site.model_pick == "select" and s.model_picker:
            found = await self.page.eval_on_selector_all(
                f"{s.model_picker} option", "opts => opts.map(o => o.value)"
            )
        elif self.site.model_pick == "click" and s.model_picker and s.model_option:
            await self.page.click(s.model_picker)
            found = [t.strip() for t in await self.page.locator(s.model_option).all_inner_texts()]
            await self.page.keyboard.press("Escape")
        else:
            found = []
        self._models = found or list(self.site.models)
        return self._models

    async def select_model(self, model: str) -> None:
        known = await self.models()
        if model not in known:
            raise UnknownModel(model, known)
        s = self.site.selectors
        if self.site.model_pick == "select":
            await self.page.select_option(s.model_picker, value=model)
        elif self.site.model_pick == "click":
            await self.page.click(s.model_picker)
            await self.page.locator(s.model_option, has_text=model).first.click()

    async def reset(self) -> None:
        if self.site.reset == "reload":
            await self.page.reload(timeout=self.site.timeouts.navigation * 1000)
            await self.wait_ready()
        elif self.site.reset == "new_chat" and self.site.selectors.new_chat:
            await self.page.click(self.site.selectors.new_chat)

    # --------------------------------------------------------- generation

    async def generate(self, prompt: str, model: str | None) -> AsyncIterator[str]:
        """Send `prompt` and yield the answer as it streams in.

        Closing the iterator early (client gone, stop sequence reached) stops
        the generation on the page.
        """
        s, t = self.site.selectors, self.site.timeouts
        await self.reset()
        if model:
            await self.select_model(model)
        self._events = asyncio.Queue()
        finished = False
        try:
            await self.page.evaluate("cfg => window.__mictlArm(cfg)", self._arm_config())
            await self.page.fill(s.prompt, prompt)
            await self.page.click(s.send)
            timeout = t.first_delta
            while True:
                try:
                    kind, data = await asyncio.wait_for(self._events.get(), timeout)
                except TimeoutError:
                    raise Stalled(f"no answer from the page for {timeout:g}s") from None
                if kind == "delta":
                    timeout = t.stall
                    yield data
                elif kind == "done":
                    finished = True
                    return
                else:
                    finished = kind != "navigated"
                    await self._raise_for(kind, data)
        finally:
            self._events = None
            if not finished:
                # Shielded: when the client goes away this runs inside a
                # cancelled scope, and the page must be stopped all the same.
                with anyio.CancelScope(shield=True):
                    await self.stop()

    def _arm_config(self) -> dict[str, Any]:
        s, stream = self.site.selectors, self.site.stream
        return {
            "answer": s.answer,
            "answer_done": s.answer_done,
            "idle": s.idle,
            "rate_limit": s.rate_limit,
            "error": s.error,
            "logged_out": s.logged_out,
            "source": "fetch" if stream.source == "network" else stream.source,
            "url_contains": stream.url_contains,
            "format": stream.decoder,
            "field": stream.text_field,
        }

    async def _raise_for(self, kind: str, data: Any) -> None:
        text = str(data or "")
        m = self.site.markers
        if kind == "rate_limit" or (
            kind == "error" and any(x.lower() in text.lower() for x in m.rate_limit)
        ):
            raise RateLimited(text or "rate limited", self.retry_after(text))
        if kind == "error":
            raise SiteError(text or "the site showed an error")
        if kind == "crashed":
            raise PageCrashed("the page crashed")
        if kind in ("logged_out", "navigated"):
            try:
                await self.wait_ready()
                signed_in = await self.logged_in()
            except PlaywrightError:
                signed_in = False
            if not signed_in:
                raise LoggedOut(
                    "the site's session has expired: sign in again and refresh the profile"
                )
            raise SiteError("the page navigated away during the generation")
        raise SiteError(f"unexpected page event {kind}")

    def retry_after(self, text: str) -> float:
        found = re.search(self.site.markers.retry_after, text, re.IGNORECASE)
        return float(found.group(1)) if found else self.site.markers.retry_after_default

    async def stop(self) -> None:
        """Press the site's stop button if a generation is running; best effort."""
        try:
            await self.page.evaluate("() => window.__mictlDisarm && window.__mictlDisarm()")
            stop = self.site.selectors.stop
            if stop:
                button = await self.page.query_selector(stop)
                if button and await button.is_visible():
                    await button.click(timeout=2000)
                    # Free the page only once the site agrees it is idle.
                    await self.page.wait_for_selector(stop, state="hidden", timeout=5000)
                    log.info("stopped the generation on the page")
        except PlaywrightError as exc:
            log.warning("could not stop the generation: %s", exc)

    # -------------------------------------------------------------- check

    async def check(self) -> list[CheckResult]:
        """Every selector that can be checked without sending a prompt."""
        s = self.site.selectors
        signed_in = await self.logged_in()
        wanted = [
            ("logged_in", s.logged_in, signed_in),
            ("logged_out", s.logged_out, not signed_in),
            ("prompt", s.prompt, signed_in),
            ("send", s.send, signed_in),
            ("model_picker", s.model_picker, signed_in and self.site.model_pick != "none"),
            ("new_chat", s.new_chat, signed_in and self.site.reset == "new_chat"),
            ("idle", s.idle, False),
            ("answer", s.answer, False),
            ("stop", s.stop, False),
            ("rate_limit", s.rate_limit, False),
            ("error", s.error, False),
        ]
        results = []
        for name, selector, required in wanted:
            if not selector:
                continue
            try:
                found = await self.page.query_selector(selector) is not None
            except PlaywrightError:
                found = False  # an invalid selector
            results.append(CheckResult(name, selector, found, required))
        return results
