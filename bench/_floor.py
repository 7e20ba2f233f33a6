"""The browser's own floor for bench/instance_overhead.py: the page's answer
request as a bare page script sends it (no typing, no click, none of the
site's work around it), read through the same network tap and decoder as
mictl-instance reads it. No engine driving a page can be faster than this;
what mictl adds above it is typing, clicking and the site's own page work.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from instance_runner.browser import BrowserSession
from instance_runner.sites.decoders import make
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


async def _floor(rep: Replica, tmp: Path, count: int, gap: float) -> list[float]:
    site = load_site("aistudio")
    profile = harness.profile(tmp / "floor.json")
    session = BrowserSession(site, profile=str(profile), extra_args=rep.browser_args)
    await session.start()
    ttfts = []
    try:
        tap = session.adapter.tap
        assert tap is not None
        events: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        tap.push = lambda kind, value: events.put_nowait((kind, value))
        for i in range(count + 2):
            await asyncio.sleep(gap)
            decoder = make(site.stream.decoder, site.stream)
            body = ["models/gemini-2.5-pro", [[[[None, f"[nothink] floor {i}"]], "user"]]]
            t0 = time.monotonic()
            tap.arm(site.stream.url_contains)
            await session.page.evaluate(SEND, [*body, None, None, None])
            first = None
            kind, value = await asyncio.wait_for(events.get(), 60)
            while kind not in ("net_end", "net_failed"):
                text = kind == "net_data" and any(e.kind == "text" for e in decoder.feed(value))
                if text and first is None:
                    first = time.monotonic() - t0
                kind, value = await asyncio.wait_for(events.get(), 60)
            tap.disarm()
            if i >= 2 and first is not None:
                ttfts.append(first * 1000)
    finally:
        await session.close()
    return ttfts


def floor(rep: Replica, tmp: Path, count: int, gap: float) -> list[float]:
    """Time to the first text at Python, ms, one per request."""
    return asyncio.run(_floor(rep, tmp, count, gap))
