"""[[toggle]] switches on the AI Studio replica, in real Chromium: what
happens when the page goes away under a switch being turned on (the
instance shutting down while it opens the next chat ahead). The switches'
behaviour with requests is in test_site_aistudio.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError

from instance_runner.browser import BrowserSession
from instance_runner.sites import clicks, toggles
from instance_runner.sites.loader import load_site
from tests.replicas.aistudio import harness
from tests.replicas.tls import Replica

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def rep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    r = harness.replica(tmp_path_factory.mktemp("toggles"))
    yield r
    r.stop()


def test_a_page_closed_under_a_switch_is_no_warning(
    rep: Replica, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page closes as "Temporary chat" is being turned on: the error goes
    to the caller (which is closing anyway), not into a warning that the
    switch could not be turned on."""
    site = load_site("aistudio")
    real = clicks.click_found

    async def closing_first(page: Any, *args: Any) -> None:
        await page.close()
        await real(page, *args)

    async def scenario() -> None:
        profile = harness.profile(rep.tmp / "closing.json")
        session = BrowserSession(site, profile=str(profile), extra_args=rep.browser_args)
        await session.start()
        try:
            page = session.page
            assert page is not None
            await session.adapter.next_chat()
            await page.goto(site.url)  # the replica turns the switch off on each load
            monkeypatch.setattr(clicks, "click_found", closing_first)
            with pytest.raises(PlaywrightError):
                await toggles.ensure(page, site)
        finally:
            await session.close()

    with caplog.at_level(logging.WARNING, logger="mictl.instance"):
        asyncio.run(scenario())
    assert not [r for r in caplog.records if "could not turn on" in r.getMessage()]
