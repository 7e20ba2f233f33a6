"""One browser context driving a site with the instance's own adapter, for
the one-shot tools (site record and replay). The adapter's construction is
here only, so the tools follow the engine's interface in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from playwright.async_api import BrowserContext, Page

from instance_runner.sites.adapter import SiteAdapter, prepare_context
from instance_runner.sites.types import SiteFile


async def adapter_for(site: SiteFile, context: BrowserContext) -> tuple[Page, SiteAdapter]:
    ref: list[SiteAdapter] = []
    await prepare_context(context, ref)
    page = await context.new_page()
    ref[:] = [SiteAdapter(site, page, context)]
    return page, ref[0]


async def answer(adapter: SiteAdapter, prompt: str, model: str | None) -> AsyncIterator[str]:
    """The answer's text deltas (whatever else the engine's stream carries)."""
    delta: Any
    async for delta in adapter.generate(prompt, model):
        if isinstance(delta, str):
            yield delta
        elif getattr(delta, "kind", "text") == "text" and delta.text:
            yield delta.text
