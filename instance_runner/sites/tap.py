"""The network tap: the raw bytes of the page's own answer request.

Chrome DevTools Protocol's Network domain sees every request the page makes,
whether it uses fetch or XMLHttpRequest (AI Studio's GenerateContent is an
XHR; LMArena's stream a fetch), with its real status and headers, without
touching the page's JavaScript. `Network.streamResourceContent` hands over
the body as it arrives (buffered part first, then `dataReceived` events
carrying data), so deltas reach Python as soon as the browser has them.
A response that ended before streaming could start (a short error) is read
whole with `Network.getResponseBody`.

One tap per page; `arm(url_contains)` before sending, and the tap pushes
`NetResponse`, `NetData`, then `NetEnd` or `NetFailed` (sites/events.py)
into `push` for the first matching request after arming (never a CORS
preflight).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from playwright.async_api import BrowserContext, CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from instance_runner import timeline
from instance_runner.sites.events import NetData, NetEnd, NetFailed, NetResponse, SiteEvent

log = logging.getLogger("mictl.instance")
Push = Callable[[SiteEvent], None]


class NetworkTap:
    def __init__(self, cdp: CDPSession, push: Push) -> None:
        self.cdp = cdp
        self.push = push
        self._want: str | None = None  # url substring, while armed
        self._excludes: tuple[str, ...] = ()  # url substrings that are not it
        self._id: str | None = None  # the tapped request
        self._streaming: bool | None = False  # None: refused (read the body whole)
        self._pending: list[tuple[str, Any]] = []  # events before streaming began
        self._finished = False
        self._enabling = False  # a streamResourceContent call is under way
        self._responded = False  # the tapped request has its response
        self._watchers: list[tuple[str, Callable[[str, dict[str, Any], bytes], None]]] = []
        self._watched: dict[str, tuple[str, Callable[[str, dict[str, Any], bytes], None]]] = {}
        cdp.on("Network.requestWillBeSent", self._on_request)
        cdp.on("Network.responseReceived", self._on_response)
        cdp.on("Network.dataReceived", self._on_data)
        cdp.on("Network.loadingFinished", self._on_finished)
        cdp.on("Network.loadingFailed", self._on_failed)

    @classmethod
    async def attach(cls, context: BrowserContext, page: Page, push: Push) -> NetworkTap:
        cdp = await context.new_cdp_session(page)
        tap = cls(cdp, push)
        await cdp.send("Network.enable", {"maxTotalBufferSize": 64 * 1024 * 1024})
        return tap

    def arm(self, url_contains: str, excludes: Sequence[str] = ()) -> None:
        self._want, self._id, self._excludes = url_contains, None, tuple(excludes)
        self._streaming, self._pending, self._finished = False, [], False
        self._enabling = self._responded = False

    @property
    def saw_request(self) -> bool:
        """Whether the request armed for has gone out."""
        return self._want is not None and self._id is not None

    def disarm(self) -> None:
        self._want = self._id = None

    def watch(
        self, url_contains: str, callback: Callable[[str, dict[str, Any], bytes], None]
    ) -> None:
        """Call back with (url, headers, body) of every finished response to a
        matching URL (the model list the page loads)."""
        self._watchers.append((url_contains, callback))

    # --------------------------------------------------------------- events

    def _on_request(self, event: dict[str, Any]) -> None:
        request = event["request"]
        if request.get("method") == "OPTIONS" or event.get("type") == "Preflight":
            return
        url = request.get("url", "")
        for want, callback in self._watchers:
            if want in url:
                self._watched[event["requestId"]] = (url, callback)
        if (
            self._want is not None
            and self._id is None
            and self._want in url
            and not any(x in url for x in self._excludes)
        ):
            self._id = event["requestId"]
            timeline.mark("browser_request", event.get("timestamp"))
            # Ask for the body's stream before the response starts: no round
            # trip between the first bytes and us (retried at the response).
            self._enabling = True
            asyncio.get_running_loop().create_task(self._stream(self._id, early=True))

    def _on_response(self, event: dict[str, Any]) -> None:
        rid = event["requestId"]
        if rid != self._id:
            return
        response = event["response"]
        headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
        timeline.mark("browser_response", event.get("timestamp"))
        self.push(NetResponse(int(response.get("status", 0)), headers))
        self._responded = True
        if not self._enabling and self._streaming is False:
            self._enabling = True
            asyncio.get_running_loop().create_task(self._stream(rid))

    async def _stream(self, rid: str, *, early: bool = False) -> None:
        try:
            reply = await self.cdp.send("Network.streamResourceContent", {"requestId": rid})
        except PlaywrightError:
            if early:  # too soon for this request: again once it has a response
                self._enabling = False
                if self._responded and rid == self._id:
                    self._enabling = True
                    await self._stream(rid)
                return
            # Already complete (a short error body): read it whole at the end.
            self._streaming = None
            if self._finished:
                await self._read_whole(rid)
            return
        if rid != self._id:
            return
        data = reply.get("bufferedData") or ""
        if data:
            self._data(base64.b64decode(data))
        self._streaming = True
        pending, self._pending = self._pending, []
        for kind, value in pending:
            self._deliver(rid, kind, value)

    async def _read_whole(self, rid: str) -> None:
        try:
            reply = await self.cdp.send("Network.getResponseBody", {"requestId": rid})
            body = reply.get("body", "")
            raw = base64.b64decode(body) if reply.get("base64Encoded") else body.encode()
            if raw:
                self._data(raw)
        except PlaywrightError as exc:
            log.warning("could not read the tapped response: %s", exc)
        self.push(NetEnd())

    def _data(self, raw: bytes) -> None:
        timeline.mark("received", size=len(raw))
        self.push(NetData(raw))

    def _deliver(self, rid: str, kind: str, value: Any) -> None:
        if kind == "data":
            self._data(value)
        elif kind == "end":
            self.push(NetEnd())
        else:
            self.push(NetFailed(str(value)))

    def _queue(self, rid: str, kind: str, value: Any) -> None:
        if self._streaming is True:
            self._deliver(rid, kind, value)
        elif self._streaming is None and kind != "data":  # streaming refused
            if kind == "end":
                asyncio.get_running_loop().create_task(self._read_whole(rid))
            else:
                self._deliver(rid, kind, value)
        else:
            self._pending.append((kind, value))

    def _on_data(self, event: dict[str, Any]) -> None:
        if event["requestId"] != self._id:
            return
        # Every chunk, streamed yet or not: when Chromium had it.
        timeline.mark("browser_data", event.get("timestamp"), event.get("dataLength", 0))
        if event.get("data"):
            self._queue(event["requestId"], "data", base64.b64decode(event["data"]))

    def _on_finished(self, event: dict[str, Any]) -> None:
        rid = event["requestId"]
        if rid in self._watched:
            url, callback = self._watched.pop(rid)
            asyncio.get_running_loop().create_task(self._read_watched(rid, url, callback))
        if rid == self._id:
            self._finished = True
            self._queue(rid, "end", None)

    def _on_failed(self, event: dict[str, Any]) -> None:
        rid = event["requestId"]
        self._watched.pop(rid, None)
        if rid == self._id:
            self._finished = True
            self._queue(rid, "failed", event.get("errorText", "failed"))

    async def _read_watched(
        self, rid: str, url: str, callback: Callable[[str, dict[str, Any], bytes], None]
    ) -> None:
        with contextlib.suppress(PlaywrightError):
            reply = await self.cdp.send("Network.getResponseBody", {"requestId": rid})
            body = reply.get("body", "")
            raw = base64.b64decode(body) if reply.get("base64Encoded") else body.encode()
            callback(url, {}, raw)
