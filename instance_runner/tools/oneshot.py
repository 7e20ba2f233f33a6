"""One browser context driving a site with the instance's own adapter, for
the one-shot tools (site record and replay). The adapter's construction is
here only, so the tools follow the engine's interface in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from playwright.async_api import BrowserContext, Page

from instance_runner.sites.adapter import SiteAdapter
from instance_runner.sites.events import SiteEvent
from instance_runner.sites.types import SiteFile


async def adapter_for(
    site: SiteFile, context: BrowserContext, *, watch: Callable[[SiteEvent], None] | None = None
) -> tuple[Page, SiteAdapter]:
    page = await context.new_page()
    return page, SiteAdapter(site, page, context, watch=watch)


async def answer(adapter: SiteAdapter, prompt: str, model: str | None) -> AsyncIterator[str]:
    """The answer's text deltas (whatever else the engine's stream carries)."""
    delta: Any
    async for delta in adapter.generate(prompt, model):
        if isinstance(delta, str):
            yield delta
        elif getattr(delta, "kind", "text") == "text" and delta.text:
            yield delta.text
