"""The generic site engine: drives any site described by a site file.

Interface: open (and check login), models, generate (an async iterator of
answer events: text and reasoning deltas), stop. Deltas come from the page's
own answer request (tap.py, decoded by a named decoder) or from the DOM
(page.js, through one exposed binding); never by polling. Every Playwright
error while generating becomes a SiteError (an HTTP status at the edge).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
from playwright.async_api import BrowserContext, CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from instance_runner import timeline
from instance_runner.images.decode import Image
from instance_runner.sites import answer, events, login, models, pick, sel, send, settings, status
from instance_runner.sites.decoders import Event
from instance_runner.sites.errors import (
    Captcha,
    LoggedOut,
    PageCrashed,
    PageJammed,
    SiteError,
    SiteProblem,
    first_line,
)
from instance_runner.sites.events import SiteEvent
from instance_runner.sites.models import SiteModel
from instance_runner.sites.settings import GenSettings
from instance_runner.sites.stopping import settle, stop_within
from instance_runner.sites.tap import NetworkTap
from instance_runner.sites.types import SiteFile
from instance_runner.sites.upload import attach

log = logging.getLogger("mictl.instance")
PAGE_JS = (Path(__file__).with_name("page.js")).read_text()


class SiteAdapter:
    def __init__(
        self,
        site: SiteFile,
        page: Page,
        context: BrowserContext,
        *,
        watch: Callable[[SiteEvent], None] | None = None,
        reset_ahead: bool = False,
        before_reset: Callable[[], Awaitable[None]] | None = None,
        on_started: Callable[[], None] = lambda: None,
    ) -> None:
        self.site = site
        self.page = page
        self.context = context
        self.tap: NetworkTap | None = None
        self._cdp: CDPSession | None = None
        self._events: asyncio.Queue[SiteEvent] | None = None
        # Sees every event of this page first (site record keeps the bodies
        # the tap streams, which the browser then no longer has).
        self._watch = watch
        self._installed = False
        self._captured: list[SiteModel] = []  # from the network
        self._models: list[SiteModel] = []
        self._models_seen = asyncio.Event()
        # The next chat, opened after an answer: the model label it shows
        # ("" without a label to read), None if it could not be opened.
        self._ahead: asyncio.Task[str | None] | None = None
        # Open the next fresh chat as soon as an answer ends (an instance
        # does; a recording wants the finished page left as it is).
        self.reset_ahead = reset_ahead
        # Several tabs (pages.py): awaited before opening the next chat ahead,
        # and called as this request has each event (and as it ends).
        self.before_reset = before_reset
        self.on_started = on_started
        # press = "script", until the site ignores such a click (send.py);
        # and whether the site leaves its prompt in the box as it sends.
        self._script_ignored = False
        self._box_kept = False
        # The page stopped answering (a typing or a stop that never ended):
        # the session replaces it before the next request (browser.py).
        self.jammed = False
        page.on("load", lambda _: self.on_event(events.Navigated()))
        page.on("crash", lambda _: self.on_event(events.Crashed()))
        page.on("dialog", self._on_dialog)

    def on_event(self, event: SiteEvent) -> None:
        if self._watch is not None:
            self._watch(event)
        if self._events is not None:
            self._events.put_nowait(event)

    async def _install(self) -> None:
        """page.js and its binding, on this page only (both survive reloads):
        what it reports comes to this adapter, whatever other pages share
        the context."""
        if self._installed:
            return
        self._installed = True
        await self.page.expose_binding("__mictlEvent", self._from_page)
        await self.page.add_init_script(PAGE_JS)

    def _from_page(self, source: Any, kind: Any, data: Any) -> None:
        try:
            self.on_event(events.from_page(kind, data))
        except events.BadPageEvent as exc:
            log.warning("%s", exc)

    def _on_dialog(self, dialog: Any) -> None:
        # A "leave this page?" prompt when resetting: accept it.
        asyncio.get_running_loop().create_task(dialog.accept())

    # ------------------------------------------------------------ session

    async def open(self) -> bool:
        """Load the site; True when signed in."""
        site, m = self.site, self.site.model_config
        await self._install()
        if site.stream.source == "network" or m.source == "network":
            self.tap = await NetworkTap.attach(self.context, self.page, self.on_event)
            if m.source == "network":
                self.tap.watch(m.url_contains, self._on_model_list)
        # The site may come up after us (the demo site is a sibling program):
        # retry a refused connection until the navigation timeout.
        deadline = time.monotonic() + site.timeouts.navigation
        while True:
            try:
                await self.page.goto(site.url, timeout=site.timeouts.navigation * 1000)
                break
            except PlaywrightError as exc:
                if "ERR_CONNECTION_REFUSED" not in str(exc) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.25)
        return await self.wait_ready()

    def _on_model_list(self, url: str, headers: dict[str, str], body: bytes) -> None:
        found = models.parse_list(body, self.site.model_config)
        if found:
            self._captured = found
            self._models_seen.set()

    async def wait_ready(self) -> bool:
        seen = await login.settle(self.page, self.context, self.site)
        if seen.signed_out:
            return False
        if seen.challenge:
            raise Captcha(f"the site asks for a human check: {seen.challenge}")
        return seen.signed_in

    async def logged_in(self) -> bool:
        return await login.signed_in(self.page, self.context, self.site)

    async def signed_out_reason(self) -> str | None:
        return await login.signed_out_reason(self.page, self.context, self.site)

    @property
    def known_models(self) -> list[str]:
        return [m.id for m in self._models]

    @property
    def model_list(self) -> list[SiteModel]:
        return list(self._models)

    async def models(self) -> list[str]:
        return [m.id for m in await self.load_models()]

    async def load_models(self) -> list[SiteModel]:
        if self._models:
            return self._models
        if self.site.model_config.source == "network":
            try:  # the page asks for its model list as it loads
                await asyncio.wait_for(self._models_seen.wait(), self.site.timeouts.ready)
            except TimeoutError:
                log.warning("the page did not load its model list; using the site file's")
        self._models = await models.read(self.page, self.site, self._captured)
        return self._models

    def resolve(self, requested: str) -> SiteModel | None:
        return models.resolve(requested, self._models)

    # --------------------------------------------------------- generation

    async def generate(
        self,
        prompt: str,
        model: str | None,
        wanted: GenSettings | None = None,
        images: Sequence[Image] = (),
        *,
        fresh: bool = True,
        keep: bool = False,
    ) -> AsyncIterator[Event]:
        """Send `prompt` and yield the answer (text and reasoning events).

        `images` go in first. `fresh`: in a new chat with `model` picked
        (else typed into the chat the last answer is in, as a follow-up
        turn). `keep`: leave the chat open after the answer for a follow-up
        (the caller then calls `end_chat`). Closing the iterator early
        (client gone, stop sequence reached) stops the generation on the
        page. A problem whose status rule says `retry` sends again from a
        fresh chat (so the page makes a fresh token), only while nothing of
        the answer has been yielded.
        """
        retried = 0
        while True:
            attempt = self._generate_once(prompt, model, wanted, images, fresh, keep)
            started = False
            try:
                async for event in attempt:
                    started = True
                    yield event
                return
            except SiteProblem as exc:
                if started or retried >= exc.retry or not fresh:
                    raise
                retried += 1
                log.info("%s; sending once more from a fresh chat", first_line(exc))
            finally:
                await attempt.aclose()

    async def _generate_once(
        self,
        prompt: str,
        model: str | None,
        wanted: GenSettings | None,
        images: Sequence[Image],
        fresh: bool,
        keep: bool,
    ) -> AsyncIterator[Event]:
        finished = False
        label, ahead = None, False
        if fresh:  # a follow-up leaves the chat as it is
            label = await self._ahead if self._ahead else None
            ahead, self._ahead = label is not None, None
        try:
            try:
                if fresh:
                    await self._prepare(model, wanted, ahead, label)
                else:  # a follow-up: once the page is done with the last answer
                    await settle(self.page, self.site)
                timeline.mark("prepared")
                queue = self._events = asyncio.Queue()
                network = self.tap is not None and self.site.stream.source == "network"
                state = answer.Answer(self.site, network=network)
                if self.tap and network:
                    self.tap.arm(self.site.stream.url_contains, self.site.stream.url_excludes)
                if images:
                    await attach(self.page, self.site, list(images))
                await self._in_time(self._send(prompt, queue))
            except PlaywrightError as exc:
                if "crash" in str(exc).lower() or self.page.is_closed():
                    raise PageCrashed("the page crashed (or was closed)") from None
                raise SiteError(f"could not send the prompt: {first_line(exc)}") from None
            async for event in answer.read(queue, state, self._raise_for):
                self.on_started()
                yield event
            finished = True
        finally:
            self.on_started()
            self._events = None
            if self.tap:
                self.tap.disarm()
            if not finished and not self.jammed:
                # Shielded: when the client goes away this runs inside a
                # cancelled scope, and the page must be stopped all the same.
                with anyio.CancelScope(shield=True):
                    self.jammed = not await stop_within(self.page, self.site)
            if not keep and not self.jammed:
                self.end_chat()

    async def _prepare(
        self, model: str | None, wanted: GenSettings | None, ahead: bool, label: str | None
    ) -> None:
        """A new chat with `model` picked and `wanted` set (`ahead`: opened
        after the last answer, showing `label`)."""
        chosen = self.resolve(model) if model else None
        if model and chosen is None and not self._models:
            # The list could not be read when the page opened (a human
            # check stood in front of it): read it from a fresh page.
            await pick.reset(self.page, self.context, self.site)
            chosen = self.resolve(model) if await self.load_models() else None
            ahead, label = True, None
        # (a reset checks the sign-in: fresh or not, the page was checked)
        await pick.prepare(self.page, self.context, self.site, chosen, fresh=ahead, label=label)
        if wanted:
            await settings.apply(self.page, self.site, wanted)

    def end_chat(self) -> None:
        """This chat is done: open the next one ahead (an instance does)."""
        if self.reset_ahead and self.site.reset != "none" and not self.jammed:
            self.open_next_chat()

    async def _send(self, prompt: str, queue: asyncio.Queue[SiteEvent]) -> None:
        """Type the prompt and press send (send.py)."""
        s = self.site.selectors
        script = self.site.press == "script" and not self._script_ignored
        place = await self.type_prompt(prompt, press=script)
        if place and place.get("ignored"):
            place = self._ignored_or_kept(place, queue)
        timeline.mark("typed")
        await send.press_send(self.page, await self._devtools(), s.send, place)
        timeline.mark("clicked")

    async def _in_time(self, step: Awaitable[None]) -> None:
        """Sending within `timeouts.send`; a page that takes longer is jammed
        (a renderer busy for good answers nothing again): it is replaced."""
        limit = self.site.timeouts.send
        try:
            await asyncio.wait_for(step, limit)
        except TimeoutError:
            self.jammed = True
            raise PageJammed(f"the page did not take the prompt within {limit:.0f}s") from None

    async def type_prompt(self, prompt: str, *, press: bool = False) -> Any:
        """Arm page.js and put `prompt` in the prompt box (send.py), and with
        `press` click the send button from the page too; where the send
        button is, or None."""
        s, cfg, watch = self.site.selectors, sel.arm_config(self.site), not self._box_kept
        return await send.type_prompt(
            self.page, cfg, s.prompt, prompt, s.send, press=press, watch_box=watch
        )

    def _ignored_or_kept(self, place: Any, queue: asyncio.Queue[SiteEvent]) -> Any:
        """The box still holds the prompt after a click from page script:
        either the site ignored the click (press with the mouse, from now
        on), or it sent and keeps its prompt in the box (its answer request
        went out, or page.js has news of the answer): then nothing more to
        press, and the box is not watched again."""
        if (self.tap is not None and self.tap.saw_request) or not queue.empty():
            self._box_kept = True
            log.info("the site keeps its prompt in the box as it sends")
            return {**place, "pressed": True, "ignored": False}
        self._script_ignored = True
        log.warning("the site ignored a click from page script: using the mouse")
        return place

    async def _devtools(self) -> CDPSession:
        """The page's DevTools session (the tap's, when there is one)."""
        if self._cdp is None:
            self._cdp = self.tap.cdp if self.tap else await self.context.new_cdp_session(self.page)
        return self._cdp

    def open_next_chat(self) -> None:
        """Open the next fresh chat now, while no one waits for it."""
        self._ahead = asyncio.get_running_loop().create_task(self._reset_ahead())

    async def next_chat(self) -> None:
        """Wait until the chat being opened ahead is open (or could not be)."""
        if self._ahead is not None:
            await asyncio.wait([self._ahead])

    @property
    def next_chat_ready(self) -> bool:
        """The next chat is open and checked: a request starts at once."""
        t = self._ahead
        if t is None or not t.done() or t.cancelled() or t.exception() is not None:
            return False
        return t.result() is not None

    async def _reset_ahead(self) -> str | None:
        """Open the next chat and read its model label while no one waits."""
        try:
            if self.before_reset is not None:
                await self.before_reset()
            label = await pick.reset(self.page, self.context, self.site)
            m = self.site.model_config
            if m.check and m.pick == "localstorage" and not label:
                return await pick.shown_model(self.page, self.site, wait=True)
            return label
        except (PlaywrightError, SiteProblem) as exc:
            log.info("could not open the next chat ahead: %s", first_line(exc))
            return None

    async def _raise_for(self, event: SiteEvent) -> None:
        problem = status.shown(self.site, event)
        if problem is not None:
            raise problem
        if isinstance(event, events.LoggedOutShown | events.Navigated):
            try:
                await self.wait_ready()
                signed_in = await self.logged_in()
            except PlaywrightError:
                signed_in = False
            if not signed_in:
                raise LoggedOut(status.LOGGED_OUT)
            raise SiteError("the page navigated away during the generation")
        raise SiteError(f"unexpected page event {event.kind}")


__all__ = ["SiteAdapter", "SiteProblem"]
