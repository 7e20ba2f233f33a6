"""A corrective turn goes into the same chat: `generate(..., keep=True)`
leaves the chat open, `generate(..., fresh=False)` types the follow-up into
it (the AI Studio replica, real Chromium: it sends the whole chat, so its
turn count tells), and `end_chat` opens the next fresh chat. The first
answer's page is still generating a second after mictl has it ("[tail]"):
the follow-up waits for it, where a click on send would stop it."""

from __future__ import annotations

import asyncio

import pytest

from instance_runner.browser import BrowserSession
from instance_runner.sites.loader import load_site
from tests.replicas.aistudio import harness
from tests.replicas.aistudio.answers import answer
from tests.replicas.tls import Replica
from tests.site_kit import replica_fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]
MODEL = "gemini-2.5-pro"


rep = replica_fixture(harness, "followup")


def test_a_follow_up_is_typed_into_the_same_chat(rep: Replica) -> None:
    async def scenario() -> list[int]:
        profile = harness.profile(rep.tmp / "followup.json")
        session = BrowserSession(
            load_site("aistudio"), profile=str(profile), extra_args=rep.browser_args
        )
        await session.start()
        turns = []
        try:
            adapter = session.adapter
            await adapter.load_models()
            adapter.reset_ahead = True  # as an instance runs it

            async def ask(prompt: str, **kw: bool) -> None:
                text = "".join([e.text async for e in adapter.generate(prompt, MODEL, **kw)])
                assert text == answer(MODEL, prompt)
                turns.append(harness.last_request(rep)["turns"])

            await ask("[nothink] [tail] first", keep=True)
            assert adapter._ahead is None  # kept: no next chat opened
            await ask("[nothink] fix it", fresh=False, keep=True)
            adapter.end_chat()
            assert adapter._ahead is not None
            await ask("[nothink] next request")
            if adapter._ahead is not None:
                await asyncio.gather(adapter._ahead, return_exceptions=True)
        finally:
            await session.close()
        return turns

    # user; user, model, user (the same chat); a fresh chat again
    assert asyncio.run(scenario()) == [1, 3, 1]
