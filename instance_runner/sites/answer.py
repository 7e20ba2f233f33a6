"""What the page's events add up to, for one answer.

The adapter queues what the page reports (page.js: DOM deltas, done,
banners; tap.py: the answer request's status, bytes, end) and `read` turns
them into answer events. The decisions are `Answer.on`, a pure step over one
event at a time (tested without a browser in tests/instance/test_answer.py); only
what the page alone can explain (a banner, a navigation) goes back to the
adapter, which looks at the page and raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec

from instance_runner.sites import status
from instance_runner.sites.decoders import Event, make
from instance_runner.sites.errors import SiteError, SiteProblem, Stalled
from instance_runner.sites.events import (
    Banner,
    Delta,
    Done,
    Navigated,
    NetData,
    NetEnd,
    NetFailed,
    NetResponse,
    SiteEvent,
)
from instance_runner.sites.types import SiteFile

MAX_ERROR_BODY = 64 * 1024
BANNER_GRACE = 2.0  # seconds a banner waits for the tapped response's status


class Step(msgspec.Struct):
    """What one page event means: answer events to pass on, then maybe the end,
    a problem to raise, or an event for the page to explain."""

    events: list[Event] = []
    done: bool = False
    problem: SiteProblem | None = None
    ask_page: SiteEvent | None = None


class Answer:
    """One answer's state: the decoder, a failed response's body, a banner
    waiting for the response's word, and how long the next event may take."""

    def __init__(self, site: SiteFile, *, network: bool) -> None:
        self.site = site
        self.network = network
        self.decoder = make(site.stream.decoder, site.stream) if network else None
        self.failed: NetResponse | None = None  # a status >= 400
        self.body = bytearray()
        self.banner: Banner | None = None
        self.timeout = site.timeouts.first_delta

    def on(self, event: SiteEvent) -> Step:
        if self.network and isinstance(event, Banner):
            # The page shows what its request's status already says; the
            # status (and body) is the better witness: give it a moment.
            if not self.failed:
                self.banner, self.timeout = event, min(self.timeout, BANNER_GRACE)
            return Step()
        if isinstance(event, NetResponse):
            if event.status >= 400:
                self.failed = event
            return Step()
        if isinstance(event, NetData) and self.failed:
            self.body += event.data[: MAX_ERROR_BODY - len(self.body)]
            return Step()
        if self.failed and isinstance(event, NetEnd | Navigated | NetFailed):
            # (a page may leave as its request fails, before the body is
            # read: DeepSeek's goes to sign in on a 401. The status decides.)
            text = self.body.decode("utf-8", "replace")
            failed = self.failed
            return Step(problem=status.classify(self.site, failed.status, text, failed.headers))
        if isinstance(event, NetData | NetEnd) and self.decoder is not None:
            if isinstance(event, NetData):
                return self._decoded(self.decoder.feed(event.data), end=False)
            return self._decoded(self.decoder.close(), end=True)
        if isinstance(event, NetFailed):
            return Step(problem=SiteError(f"the page's answer request failed: {event.error}"))
        if isinstance(event, Delta):
            self.timeout = self.site.timeouts.stall
            return Step([Event("text", event.text)])
        if isinstance(event, Done):
            return Step(done=True)
        if isinstance(event, Navigated) and self.network:
            return Step()  # a site may change its URL as a chat is saved
        return Step(ask_page=event)

    def _decoded(self, decoded: list[Event], *, end: bool) -> Step:
        out: list[Event] = []
        for event in decoded:
            if event.kind in ("text", "reasoning"):
                self.timeout = self.site.timeouts.stall
                out.append(event)
            elif event.kind == "error":
                code = (event.data or {}).get("status")
                return Step(out, problem=status.classify(self.site, code, event.text))
            elif event.kind == "finish":
                return Step(out, done=True)
        return Step(out, done=end)

    def timed_out(self) -> Step:
        """No event within `timeout`: a waiting banner has its say, else stalled."""
        if self.banner:
            return Step(ask_page=self.banner)
        return Step(problem=Stalled(f"no answer from the page for {self.timeout:g}s"))


async def read(
    queue: asyncio.Queue[SiteEvent],
    answer: Answer,
    ask_page: Callable[[SiteEvent], Awaitable[None]],
) -> AsyncIterator[Event]:
    """The answer events, until the answer ends; raises what went wrong
    (`ask_page` raises for what only the page can explain)."""
    while True:
        try:
            if queue.empty():
                # (asyncio.wait_for would run each get in a task of its own:
                # one more loop turn per event, on Python 3.11)
                async with asyncio.timeout(answer.timeout):
                    event = await queue.get()
            else:
                event = queue.get_nowait()
            step = answer.on(event)
        except TimeoutError:
            step = answer.timed_out()
        for event in step.events:
            yield event
        if step.problem is not None:
            raise step.problem
        if step.ask_page is not None:
            await ask_page(step.ask_page)
            raise SiteError(f"unexpected page event {step.ask_page.kind}")  # (it raises)
        if step.done:
            return
