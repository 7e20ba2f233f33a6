"""`[profiles.browser] tabs = 3` end to end: mictld starts the instance with
three pages, the router reads its capacity from the instance's /health and
hands it three requests at once; `mictl health` shows the pages. One account
on the AI Studio replica, in real Chromium."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import openai
import pytest

from tests.helpers import Mictld, free_port_block, wait_until
from tests.replicas.aistudio import harness
from tests.replicas.aistudio.answers import DEFAULT_MODEL, answer
from tests.replicas.tls import Replica
from tests.site_kit import replica_fixture, write_config

pytestmark = [pytest.mark.browser, pytest.mark.slow]


rep = replica_fixture(harness, "replica", scope="function")


async def at_once(port: int, prompts: list[str]) -> list[tuple[str, str, float, float]]:
    """(prompt, answer, first delta, end) of each, all streamed at once."""
    base = f"http://127.0.0.1:{port}/v1"
    async with openai.AsyncOpenAI(base_url=base, api_key="x", max_retries=0, timeout=120) as c:

        async def one(prompt: str) -> tuple[str, str, float, float]:
            stream = await c.chat.completions.create(
                model=DEFAULT_MODEL, messages=[{"role": "user", "content": prompt}], stream=True
            )
            text, first = "", 0.0
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    first = first or time.monotonic()
                    text += chunk.choices[0].delta.content
            return prompt, text, first, time.monotonic()

        return list(await asyncio.gather(*(one(p) for p in prompts)))


def test_three_tabs_take_three_requests_through_the_router(tmp_path: Path, rep: Replica) -> None:
    d = Mictld(tmp_path, base_port=free_port_block(4), router="")
    harness.profile(d.profiles / "acct.json")
    write_config(
        d,
        rep,
        "aistudio",
        browser="tabs = 3",
        router="max_concurrent = 1  # before the instance says how many pages it has\n"
        "queue_timeout = 120",
    )
    d.start()
    try:

        def acct() -> dict | None:
            out = d.ctl("health", "--json")
            found = [b for b in json.loads(out.stdout) if b["name"] == "acct"]
            b = found[0] if out.returncode == 0 and found else None
            return b if b and b["routable"] and b["pages"] == ["free"] * 3 else None

        b = wait_until(acct, 180, "three pages free")
        assert b["max_concurrent"] == 3
        assert "3 free" in d.ctl("health", "acct", check=True).stdout
        prompts = [f"[slow] [nothink] routed {w}" for w in ("apple", "brick", "cloud")]
        got = asyncio.run(at_once(d.front_port, prompts))
        for prompt, text, _, _ in got:
            assert text == answer(DEFAULT_MODEL, prompt)
        # Answered side by side: the router did not queue them one at a time.
        assert max(g[2] for g in got) < min(g[3] for g in got)
    finally:
        d.stop()
