"""The browser's own floor for bench/instance_overhead.py: the page's answer
request as a bare page script sends it (no typing, no click, none of the
site's work around it), read through the same network tap and decoder as
mictl-instance reads it. No engine driving a page can be faster than this;
what mictl adds above it is typing, clicking and the site's own page work.

Each request is also split by hop on the one monotonic clock (Chromium's
Network timestamps, the replica's and Python's), so the floor itself says
where its time goes.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from instance_runner import timeline
from instance_runner.browser import BrowserSession
from instance_runner.sites.decoders import make
from instance_runner.sites.events import NetData, NetEnd, NetFailed, SiteEvent
from instance_runner.sites.loader import load_site
from tests.replicas.aistudio import harness
from tests.replicas.aistudio.app import RPC
from tests.replicas.tls import Replica

URL = f"https://alkalimakersuite-pa.clients6.google.com{RPC}/GenerateContent"
# The request the replica's page sends (tests/replicas/aistudio/static/app.js rpc()).
SEND = f"""(body) => {{
    const xhr = new XMLHttpRequest();
    xhr.open("POST", {URL!r});
    xhr.withCredentials = true;
    xhr.setRequestHeader("content-type", "application/json+protobuf");
    xhr.send(JSON.stringify(body));
}}"""

# The floor's hops, in order: (key, column title).
HOPS = [
    ("ttft", "TTFT"),
    ("script", "script into the page -> the request"),
    ("out", "Chromium -> replica"),
    ("replica", "replica's own work"),
    ("back", "replica -> Chromium"),
    ("devtools", "Chromium -> Python (DevTools)"),
]


def _split(t0: float, first: float, seen: dict, marks: list[timeline.Mark]) -> dict[str, float]:
    """One request's hops, ms (an empty dict when a mark is missing)."""
    at: dict[str, timeline.Mark] = {}
    for mark in marks:
        at.setdefault(mark.name, mark)
    needed = ("browser_request", "browser_response", "received")
    if not all(name in at for name in needed) or not seen.get("sent"):
        return {}
    request, response = at["browser_request"].browser_at, at["browser_response"].browser_at
    data = next((m for m in marks if m.name == "browser_data" and m.browser_at), None)
    if request is None or response is None or data is None or data.browser_at is None:
        return {}
    wrote = seen["sent"][0][0]
    hops = {
        "ttft": first - t0,
        "script": request - t0,
        "out": seen["arrived"] - request,
        "replica": wrote - seen["arrived"],
        "back": response - wrote,
        "devtools": at["received"].at - data.browser_at,
    }
    return {key: value * 1000 for key, value in hops.items()}


async def _floor(rep: Replica, tmp: Path, count: int, gap: float) -> list[dict[str, float]]:
    site = load_site("aistudio")
    profile = harness.profile(tmp / "floor.json")
    session = BrowserSession(site, profile=str(profile), extra_args=rep.browser_args)
    await session.start()
    timeline.enable()
    out = []
    try:
        tap = session.adapter.tap
        assert tap is not None
        events: asyncio.Queue[SiteEvent] = asyncio.Queue()
        tap.push = events.put_nowait
        for i in range(count + 2):
            await asyncio.sleep(gap)
            decoder = make(site.stream.decoder, site.stream)
            body = ["models/gemini-2.5-pro", [[[[None, f"[nothink] floor {i}"]], "user"]]]
            timeline.begin()
            t0 = time.monotonic()
            tap.arm(site.stream.url_contains)
            await session.page.evaluate(SEND, [*body, None, None, None])
            first = None
            event = await asyncio.wait_for(events.get(), 60)
            while not isinstance(event, NetEnd | NetFailed):
                if isinstance(event, NetData):
                    text = any(e.kind == "text" for e in decoder.feed(event.data))
                    if text and first is None:
                        first = time.monotonic()
                event = await asyncio.wait_for(events.get(), 60)
            tap.disarm()
            seen = await asyncio.to_thread(harness.last_request, rep)
            if i >= 2 and first is not None:
                out.append(_split(t0, first, seen, timeline.last().marks) or {"ttft": first - t0})
    finally:
        await session.close()
    return out


def floor(rep: Replica, tmp: Path, count: int, gap: float) -> list[dict[str, float]]:
    """Per request, ms: time to the first text at Python ("ttft") and, when
    every mark was there, each hop of HOPS."""
    return asyncio.run(_floor(rep, tmp, count, gap))
