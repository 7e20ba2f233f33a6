"""What the page's events add up to, for one answer.

The adapter queues what the page reports (page.js: DOM deltas, done,
banners; tap.py: the answer request's status, bytes, end) and `read` turns
them into answer events. The decisions are `Answer.on`, a pure step over one
event at a time (tested without a browser in tests/test_answer.py); only
what the page alone can explain (a banner, a navigation) goes back to the
adapter, which looks at the page and raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec

from instance_runner.sites import status
from instance_runner.sites.decoders import Event, make
from instance_runner.sites.errors import SiteError, SiteProblem, Stalled
from instance_runner.sites.types import SiteFile

MAX_ERROR_BODY = 64 * 1024
BANNERS = ("rate_limit", "captcha", "error", "logged_out")
BANNER_GRACE = 2.0  # seconds a banner waits for the tapped response's status


class Step(msgspec.Struct):
    """What one page event means: answer events to pass on, then maybe the end,
    a problem to raise, or an event for the page to explain."""

    events: list[Event] = []
    done: bool = False
    problem: SiteProblem | None = None
    ask_page: tuple[str, Any] | None = None


class Answer:
    """One answer's state: the decoder, a failed response's body, a banner
    waiting for the response's word, and how long the next event may take."""

    def __init__(self, site: SiteFile, *, network: bool) -> None:
        self.site = site
        self.network = network
        self.decoder = make(site.stream.decoder, site.stream) if network else None
        self.failed: tuple[int, dict[str, str]] | None = None  # status, headers
        self.body = bytearray()
        self.banner: tuple[str, Any] | None = None
        self.timeout = site.timeouts.first_delta

    def on(self, kind: str, data: Any) -> Step:
        if self.network and kind in BANNERS:
            # The page shows what its request's status already says; the
            # status (and body) is the better witness: give it a moment.
            if not self.failed:
                self.banner, self.timeout = (kind, data), min(self.timeout, BANNER_GRACE)
            return Step()
        if kind == "net_response":
            if data[0] >= 400:
                self.failed = data
            return Step()
        if kind == "net_data" and self.failed:
            self.body += data[: MAX_ERROR_BODY - len(self.body)]
            return Step()
        if self.failed and (kind == "net_end" or kind in ("navigated", "net_failed")):
            # (a page may leave as its request fails, before the body is
            # read: DeepSeek's goes to sign in on a 401. The status decides.)
            text = self.body.decode("utf-8", "replace")
            return Step(problem=status.classify(self.site, self.failed[0], text, self.failed[1]))
        if kind in ("net_data", "net_end") and self.decoder is not None:
            decoded = self.decoder.feed(data) if kind == "net_data" else self.decoder.close()
            return self._decoded(decoded, end=kind == "net_end")
        if kind == "net_failed":
            return Step(problem=SiteError(f"the page's answer request failed: {data}"))
        if kind == "delta":
            self.timeout = self.site.timeouts.stall
            return Step([Event("text", data)])
        if kind == "done":
            return Step(done=True)
        if kind == "navigated" and self.network:
            return Step()  # a site may change its URL as a chat is saved
        return Step(ask_page=(kind, data))

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
    queue: asyncio.Queue[tuple[str, Any]],
    answer: Answer,
    ask_page: Callable[[str, Any], Awaitable[None]],
) -> AsyncIterator[Event]:
    """The answer events, until the answer ends; raises what went wrong
    (`ask_page` raises for what only the page can explain)."""
    while True:
        try:
            if queue.empty():
                # (asyncio.wait_for would run each get in a task of its own:
                # one more loop turn per event, on Python 3.11)
                async with asyncio.timeout(answer.timeout):
                    kind, data = await queue.get()
            else:
                kind, data = queue.get_nowait()
            step = answer.on(kind, data)
        except TimeoutError:
            step = answer.timed_out()
        for event in step.events:
            yield event
        if step.problem is not None:
            raise step.problem
        if step.ask_page is not None:
            await ask_page(*step.ask_page)
            raise SiteError(f"unexpected page event {step.ask_page[0]}")  # (it raises)
        if step.done:
            return
