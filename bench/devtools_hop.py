"""What Playwright's Node driver costs the network tap, per chunk.

One Chromium (the instance's own BrowserSession) on the AI Studio replica,
asked for the answers of a few prompts. Two DevTools clients stream the
GenerateContent body: the instance's tap (a Playwright CDP session: Chromium
-> pipe -> Node driver -> pipe -> Python) and a raw WebSocket to Chromium's
debugging port (Chromium -> socket -> Python). Each measures, per chunk, from
Chromium's own timestamp of the event to Python holding it (one clock).

The debugging port is for this measurement only: any local user could drive
a browser through it, so instances never open one.

    .venv/bin/python bench/devtools_hop.py [--requests 10]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from _common import median, pct, table

from instance_runner import timeline
from instance_runner.browser import BrowserSession
from instance_runner.sites.loader import load_site
from tests.helpers import free_port
from tests.replicas.aistudio import harness


class RawClient:
    """A bare DevTools client on the page's target, streaming GenerateContent."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.session = ""
        self.request = ""
        self.lags: list[float] = []
        self.tasks: set[asyncio.Task[Any]] = set()

    async def send(self, method: str, params: dict[str, Any] | None = None) -> Any:
        i = next(self.ids)
        self.pending[i] = asyncio.get_running_loop().create_future()
        message: dict[str, Any] = {"id": i, "method": method, "params": params or {}}
        if self.session:
            message["sessionId"] = self.session
        await self.ws.send_str(json.dumps(message))
        return await self.pending[i]

    async def read(self) -> None:
        async for frame in self.ws:
            now = time.monotonic()
            message = json.loads(frame.data)
            if "id" in message:
                self.pending.pop(message["id"]).set_result(message.get("result"))
                continue
            params = message.get("params", {})
            if message.get("method") == "Network.requestWillBeSent":
                request = params["request"]
                if "GenerateContent" in request["url"] and request["method"] == "POST":
                    self.request = params["requestId"]
                    task = asyncio.ensure_future(
                        self.send("Network.streamResourceContent", {"requestId": self.request})
                    )
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
            elif (
                message.get("method") == "Network.dataReceived"
                and params["requestId"] == self.request
                and params.get("data")
            ):
                self.lags.append((now - params["timestamp"]) * 1000)


async def measure(requests: int) -> tuple[list[float], list[float]]:
    tmp = Path(tempfile.mkdtemp(prefix="mictl-hop-"))
    rep = harness.replica(tmp, pace_ms=20)
    port = free_port()
    session = BrowserSession(
        load_site("aistudio"),
        profile=str(harness.profile(tmp / "hop.json")),
        extra_args=[*rep.browser_args, f"--remote-debugging-port={port}"],
        read_only=True,
    )
    via_driver: list[float] = []
    try:
        await session.start()
        timeline.enable()
        async with aiohttp.ClientSession() as http:
            version = await (await http.get(f"http://127.0.0.1:{port}/json/version")).json()
            ws = await http.ws_connect(version["webSocketDebuggerUrl"], max_msg_size=0)
            raw = RawClient(ws)
            reader = asyncio.create_task(raw.read())
            targets = (await raw.send("Target.getTargets"))["targetInfos"]
            page = next(t for t in targets if t["type"] == "page" and "aistudio" in t["url"])
            attached = await raw.send(
                "Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}
            )
            raw.session = attached["sessionId"]
            await raw.send("Network.enable")
            adapter = session.adapter
            await adapter.load_models()
            for i in range(requests + 1):
                timeline.begin()
                before = len(raw.lags)
                async for _ in adapter.generate(f"[nothink] hop {i}", "gemini-2.5-pro"):
                    pass
                if i == 0:  # warm-up
                    del raw.lags[before:]
                    continue
                via_driver.extend(
                    (m.at - m.browser_at) * 1000
                    for m in timeline.last().marks
                    if m.name == "browser_data" and m.browser_at is not None
                )
            reader.cancel()
            return via_driver, raw.lags
    finally:
        await session.close()
        rep.stop()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=10)
    args = p.parse_args()
    via_driver, via_raw = asyncio.run(measure(args.requests))
    rows = [
        [name, str(len(lags)), f"{median(lags):.2f}", f"{pct(lags, 90):.2f}"]
        for name, lags in (
            ("Playwright CDP session (Node driver)", via_driver),
            ("raw DevTools WebSocket", via_raw),
        )
    ]
    print(f"{args.requests} answers; Chromium's event timestamp -> Python holding the chunk, ms")
    print(table(["path", "chunks", "p50", "p90"], rows))


if __name__ == "__main__":
    main()
