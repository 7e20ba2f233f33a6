"""What acts on a chat waits until the page is done with its last answer
(stopping.settle), and a "New chat" reset checks that the chat it leaves
is fresh (pick.reset): the AI Studio replica, real Chromium. "[tail]": the
page keeps generating a second after mictl has the whole answer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from instance_runner.browser import BrowserSession
from instance_runner.sites import pick
from instance_runner.sites.adapter import SiteAdapter
from instance_runner.sites.errors import SiteError
from instance_runner.sites.loader import load_site
from tests.replicas.aistudio import harness
from tests.replicas.aistudio.answers import answer
from tests.replicas.tls import Replica
from tests.site_kit import replica_fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]
MODEL = "gemini-2.5-pro"
BUNDLED = Path(__file__).resolve().parents[2] / "instance_runner/sites/aistudio.toml"
NEW_CHAT = 'button[aria-label="New chat"]'


rep = replica_fixture(harness, "freshchat")


def run(rep: Replica, site: str, scenario: Callable[[SiteAdapter], Awaitable[None]]) -> None:
    async def main() -> None:
        profile = harness.profile(rep.tmp / f"fresh-{len(list(rep.tmp.iterdir()))}.json")
        session = BrowserSession(load_site(site), profile=str(profile), extra_args=rep.browser_args)
        await session.start()
        try:
            adapter = session.adapter
            await adapter.load_models()
            adapter.reset_ahead = False  # the scenario opens the next chat itself
            await scenario(adapter)
        finally:
            await session.close()

    asyncio.run(main())


async def ask(adapter: SiteAdapter, prompt: str, **kw: bool) -> None:
    text = "".join([e.text async for e in adapter.generate(prompt, MODEL, **kw)])
    assert text == answer(MODEL, prompt)


def test_new_chat_is_checked_fresh(rep: Replica) -> None:
    """A disabled "New chat" on a chat that shows an answer is no fresh
    chat: the reset says so instead of leaving the next prompt to it."""
    variant = rep.tmp / "aistudio-new-chat.toml"
    variant.write_text(BUNDLED.read_text().replace('reset = "goto"', 'reset = "new_chat"'))

    async def scenario(adapter: SiteAdapter) -> None:
        page, site = adapter.page, adapter.site
        await ask(adapter, "[nothink] one")
        await page.wait_for_selector(f"{NEW_CHAT}:enabled")  # the page is done with it
        await page.evaluate(f"document.querySelector('{NEW_CHAT}').disabled = true")
        with pytest.raises(SiteError, match="no fresh chat"):
            await pick.reset(page, adapter.context, site)
        await page.evaluate(f"document.querySelector('{NEW_CHAT}').disabled = false")
        await pick.reset(page, adapter.context, site)  # clicked, "Discard and continue"
        assert await page.locator(str(site.selectors.answer)).count() == 0
        await ask(adapter, "[nothink] two")
        assert harness.last_request(rep)["turns"] == 1

    run(rep, str(variant), scenario)


def test_a_page_busy_past_the_grace_is_stopped_before_the_follow_up(
    rep: Replica, caplog: pytest.LogCaptureFixture
) -> None:
    """Still generating `timeouts.settle` after its answer: the page is
    stopped (the answer was whole), then the follow-up is typed and answered."""
    variant = rep.tmp / "aistudio-settle.toml"
    text = BUNDLED.read_text()
    assert "\n[timeouts]\n" in text and "settle" not in text.split("[timeouts]")[1]
    variant.write_text(text.replace("\n[timeouts]\n", "\n[timeouts]\nsettle = 0.2\n"))

    async def scenario(adapter: SiteAdapter) -> None:
        await ask(adapter, "[nothink] [tail:10] first", keep=True)
        with caplog.at_level(logging.INFO, logger="mictl.instance"):
            await ask(adapter, "[nothink] fix it", fresh=False, keep=True)
        assert not adapter.jammed
        # user, user: the replica drops an answer stopped before its end
        assert harness.last_request(rep)["turns"] == 2

    run(rep, str(variant), scenario)
    said = [r.getMessage() for r in caplog.records]
    assert any("still busy after its answer" in m for m in said), said
    assert "stopped the generation on the page" in said
