"""The pages of one instance (`tabs = N`): N pages in one browser context,
each answering one request at a time with its own fresh chat.

A request takes a free page (one whose next chat is already open first),
holds it for its generation and gives it back. A page that crashes or stops
answering is replaced alone; the others keep answering. What the site says
of the account (signed in, captcha) is the session's (browser.py), not a
page's.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Literal

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from instance_runner.sites.adapter import SiteAdapter
from instance_runner.sites.errors import Captcha, SiteProblem
from instance_runner.sites.types import SiteFile

log = logging.getLogger("mictl.instance")

PageState = Literal["opening", "free", "busy", "broken"]
MAX_TABS = 16
# Pages share the cores: a page that has answered waits this long for the
# client's next request before loading its next chat, and then until the
# requests that started at once on other pages have their first delta, at
# most QUIET_MAX.
QUIET_GRACE = 0.1
QUIET_MAX = 10.0
RETRY_OPEN = 5.0  # seconds before another try at a page that would not open


def pick_page(ready: Sequence[bool]) -> tuple[int, bool]:
    """The free pages, longest free first, and whether each one's next chat
    is open: (the one to take, hold the other pages' next-chat loads until
    this request's first delta). A request that starts at once holds the
    loads back; one that must wait for its page's own load holds nothing
    (that load may be the one waiting). The longest free page has had the
    most time to load."""
    for i, r in enumerate(ready):
        if r:
            return i, True
    return 0, False


class Slot:
    """One page and what it is doing; a replaced page gets a new Slot."""

    def __init__(self, index: int, adapter: SiteAdapter) -> None:
        self.index = index
        self.adapter = adapter
        self.state: PageState = "opening"
        self.served = 0

    @property
    def page(self) -> Page:
        return self.adapter.page


class Pages:
    def __init__(
        self,
        site: SiteFile,
        context: BrowserContext,
        *,
        tabs: int,
        read_only: bool,
        on_captcha: Callable[[str], object],
        on_fatal: Callable[[str], None],
        on_opened: Callable[[bool], Awaitable[None]],
    ) -> None:
        self.site = site
        self.context = context
        self.tabs = tabs
        self.read_only = read_only
        self.on_captcha = on_captcha
        self.on_fatal = on_fatal
        self.on_opened = on_opened  # the first page's sign-in, for the session
        self.slots: list[Slot | None] = [None] * tabs
        self._free_order: list[Slot] = []  # free pages, longest free first
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._tasks: set[asyncio.Task[None]] = set()
        # The pages whose request is between taking the page and its first event.
        self._starting: set[SiteAdapter] = set()
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._filling: set[int] = set()  # pages being opened for the first time
        self.closing = False

    # ------------------------------------------------------------ views

    @property
    def first(self) -> SiteAdapter | None:
        """The adapter of a working page (models, artifacts), else any."""
        live = [s for s in self.slots if s is not None and s.state in ("free", "busy")]
        if live:
            return live[0].adapter
        opening = [s for s in self.slots if s is not None and s.state != "broken"]
        return opening[0].adapter if opening else None

    @property
    def ready(self) -> bool:
        """At least one page takes or runs a request."""
        return any(s is not None and s.state in ("free", "busy") for s in self.slots)

    def states(self) -> list[PageState]:
        return [s.state if s is not None else "opening" for s in self.slots]

    @property
    def any_free(self) -> bool:
        return bool(self._free_order)

    @property
    def jammed(self) -> bool:
        return any(s is not None and s.adapter.jammed for s in self.slots)

    # ---------------------------------------------------------- opening

    async def open_first(self) -> bool:
        """Page 0, in the foreground: sign-in checked, models read. True when
        signed in (a captcha counts as signed in: the instance probes later).
        The other pages open in the background once it is signed in."""
        slot = await self._page_slot(0)
        try:
            signed_in = await slot.adapter.open()
        except Captcha as exc:
            # A human check in front of the site: the session may be fine.
            self._made_free(slot)
            self.on_captcha(str(exc))
            await self.on_opened(True)
            return True
        if signed_in:
            await slot.adapter.load_models()
            if self.tabs > 1 and self.site.reset != "none":
                slot.adapter.open_next_chat()  # else its first request would
        self._made_free(slot)
        await self.on_opened(signed_in)
        if signed_in:
            self.fill()
        return signed_in

    async def reopen(self) -> bool:
        """Every page afresh, the first in the foreground (the proxy is back:
        a page that loaded while it was down shows Chromium's error page).
        A request still on a page fails on its own, as on a crash."""
        for i, slot in enumerate(self.slots):
            if slot is not None and i not in self._filling:
                if slot.state != "broken":
                    self._retire(slot)
                self.slots[i] = None
        self.signed_in = False
        return await self.open_first()

    def fill(self) -> None:
        """Open the pages not opened yet (after the first is signed in, or
        once a human check in front of it has passed)."""
        for i, slot in enumerate(self.slots):
            if slot is None and i not in self._filling:
                self._filling.add(i)
                self._spawn(self._open_other(i))

    async def _page_slot(self, index: int) -> Slot:
        page = await self.context.new_page()
        adapter = SiteAdapter(
            self.site,
            page,
            self.context,
            reset_ahead=not self.read_only,  # an instance, not `site check`
            before_reset=self._until_quiet if self.tabs > 1 else None,
            on_started=lambda: self._started(adapter),
        )
        slot = Slot(index, adapter)
        self.slots[index] = slot
        page.on("crash", lambda _: self._crashed(slot))
        return slot

    async def _open_other(self, index: int) -> None:
        """Page `index` (not the first): signed in, models read, its next
        chat open; a page that cannot is tried again later."""
        try:
            await self._open_page(index)
        finally:
            self._filling.discard(index)

    async def _open_page(self, index: int) -> None:
        while not self.closing:
            slot = await self._page_slot(index)
            adapter = slot.adapter
            try:
                if not await adapter.open():
                    if not self.ready and self.slots[index] is slot:
                        # No page left and the account is signed out: say so
                        # (health: logged out), as the first page would.
                        self._made_free(slot)
                        await self.on_opened(False)
                        return
                    raise SiteProblem("not signed in")
                await adapter.load_models()
                if self.site.reset != "none":
                    adapter.open_next_chat()
                    await adapter.next_chat()
                if self.slots[index] is not slot or slot.state == "broken":
                    return  # crashed while opening: replace() took over
                self._made_free(slot)
                log.info("page %d of %d ready", index + 1, self.tabs)
                return
            except (PlaywrightError, SiteProblem) as exc:
                if self.slots[index] is not slot or slot.state == "broken":
                    return  # crashed: replace() took over
                log.warning("could not open page %d (%s); trying again", index + 1, exc)
                self._retire(slot)
            await asyncio.sleep(RETRY_OPEN)

    def _spawn(self, coro: Coroutine[object, object, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _made_free(self, slot: Slot) -> None:
        if self.slots[slot.index] is not slot or slot.state == "broken":
            return
        slot.state = "free"
        if slot not in self._free_order:
            self._free_order.append(slot)
        self._wake()

    def _wake(self) -> None:
        """A page is free: the request waiting longest takes it."""
        while self._waiters and self._free_order:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _retire(self, slot: Slot) -> None:
        """Take a page out (its request, if any, fails on its own) and close it."""
        slot.state = "broken"
        if slot in self._free_order:
            self._free_order.remove(slot)
        self._spawn(_close(slot.page))

    def replace(self, slot: Slot, why: str) -> asyncio.Task[None] | None:
        """A page broke: close it and open another in its place (the task
        that does); the others keep answering."""
        if self.slots[slot.index] is not slot or slot.state == "broken" or self.closing:
            return None
        others = [s for s in self.slots if s is not None and s is not slot and s.state != "broken"]
        log.error("page %d of %d %s; opening a fresh one", slot.index + 1, self.tabs, why)
        self._retire(slot)
        if slot.index == 0 and not others:
            return self._spawn(self._reopen_first())
        return self._spawn(self._open_other(slot.index))

    async def _reopen_first(self) -> None:
        try:
            await self.open_first()
        except PlaywrightError as exc:
            self.on_fatal(f"could not recover from a page crash: {exc}")

    def _crashed(self, slot: Slot) -> None:
        self.replace(slot, "crashed")  # its request fails on its own (PageCrashed)

    # ---------------------------------------------------------- requests

    async def acquire(self) -> Slot:
        """A free page for one request (one whose next chat is open first)."""
        if not self._free_order or self._waiters:  # first come, first served
            await self._wait_turn()
        order = self._free_order
        i, hold = pick_page([s.adapter.next_chat_ready for s in order])
        slot = order.pop(i)
        slot.state = "busy"
        if hold and self.tabs > 1:
            self._starting.add(slot.adapter)
            self._quiet.clear()
        return slot

    async def _wait_turn(self) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        while True:
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif waiter.done() and not waiter.cancelled():
                    self._wake()  # woken, then gone: the next one takes it
                raise
            if self._free_order:
                return
            waiter = loop.create_future()  # taken from under it: still first
            self._waiters.appendleft(waiter)

    def _started(self, adapter: SiteAdapter) -> None:
        """`adapter`'s request has its first event, or ended without one."""
        if adapter in self._starting:
            self._starting.discard(adapter)
            if not self._starting:
                self._quiet.set()

    def release(self, slot: Slot) -> asyncio.Task[None] | None:
        """The request on `slot` ended: free it, or replace it if it stopped
        answering (a renderer busy for good answers nothing again): then,
        when no other page answers, the task that opens its replacement."""
        slot.served += 1
        self._started(slot.adapter)
        if self.slots[slot.index] is not slot or slot.state == "broken":
            return None  # being replaced (it crashed)
        if slot.adapter.jammed:
            replacing = self.replace(slot, "stopped answering")
            return None if self.ready else replacing  # others answer meanwhile
        self._made_free(slot)
        return None

    async def _until_quiet(self) -> None:
        """Before a page loads its next chat: let the requests that started
        at once on other pages get their first delta first."""
        await asyncio.sleep(QUIET_GRACE)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._quiet.wait(), QUIET_MAX)

    async def close(self) -> None:
        self.closing = True
        for task in list(self._tasks):
            task.cancel()


async def _close(page: Page) -> None:
    with contextlib.suppress(PlaywrightError):
        await page.close()
