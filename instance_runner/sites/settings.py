"""Generation settings a request asks for, set in the site's own page.

What the site file has no field for is reported back (the instance puts it
in the `x-mictl-ignored` header); max tokens and stop sequences are also
enforced by the instance itself, so they are never ignored.
"""

from __future__ import annotations

import msgspec
from playwright.async_api import Page

from instance_runner.sites import sel
from instance_runner.sites.clicks import click
from instance_runner.sites.types import Sel, SiteFile


class GenSettings(msgspec.Struct, kw_only=True):
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] = []
    system: str = ""  # system instructions (sent in the prompt when the site has no field)


def unsupported(site: SiteFile, wanted: GenSettings) -> list[str]:
    """The request's knobs this site cannot honour."""
    s = site.settings
    return [
        name
        for name, value, field in (
            ("temperature", wanted.temperature, s.temperature),
            ("top_p", wanted.top_p, s.top_p),
        )
        if value is not None and not sel.options(field)
    ]


def has_system_field(site: SiteFile) -> bool:
    return bool(sel.options(site.settings.system))


async def apply(page: Page, site: SiteFile, wanted: GenSettings) -> None:
    s = site.settings
    for value, field in (
        (wanted.temperature, s.temperature),
        (wanted.top_p, s.top_p),
        (wanted.max_tokens, s.max_tokens),
    ):
        if value is not None and sel.options(field):
            await _set_input(page, field, str(value))
    if wanted.stop and sel.options(s.stop):
        for _ in range(32):  # the chips of earlier stop sequences
            hit = await sel.first(page, s.stop_clear, visible=True) if s.stop_clear else None
            if hit is None:
                break
            await hit[1].click()
        for sequence in wanted.stop:
            await page.fill(sel.any_of(s.stop), sequence)
            await page.press(sel.any_of(s.stop), "Enter")
    if wanted.system and sel.options(s.system):
        if s.system_open and await sel.first(page, s.system, visible=True) is None:
            await click(page, s.system_open, "system instructions button")
        await _set_input(page, s.system, wanted.system)


async def _set_input(page: Page, field: Sel, value: str) -> None:
    target = sel.any_of(field)
    await page.fill(target, value)
    await page.dispatch_event(target, "change")
