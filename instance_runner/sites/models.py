"""The site's model list: from a response the page loads, from data in the
page, from the picker, or from the site file; each model an id and a name."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from instance_runner.sites import sel
from instance_runner.sites.decoders.base import at_path
from instance_runner.sites.types import Models, SiteFile

log = logging.getLogger("mictl.instance")


class SiteModel(msgspec.Struct, frozen=True):
    id: str
    name: str


def parse_list(raw: bytes | str, m: Models) -> list[SiteModel]:
    """Models out of a JSON document (a response body or page data)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = text.lstrip()
    if m.strip_prefix and text.startswith(m.strip_prefix):
        text = text[len(m.strip_prefix) :]
    try:
        data = msgspec.json.decode(text)
    except msgspec.DecodeError:
        log.warning("the model list is not JSON")
        return []
    return from_data(data, m)


def from_data(data: Any, m: Models) -> list[SiteModel]:
    entries = at_path(data, m.list_path) if m.list_path else data
    found: list[SiteModel] = []
    for entry in entries if isinstance(entries, list) else []:
        mid, name = at_path(entry, m.id_path), at_path(entry, m.name_path)
        if not isinstance(mid, str | int) or mid == "":
            continue
        mid = str(mid).removeprefix(m.id_strip) if m.id_strip else str(mid)
        found.append(SiteModel(mid, str(name) if name else mid))
    return found


async def read(page: Page, site: SiteFile, captured: list[SiteModel]) -> list[SiteModel]:
    """The models as the page shows them now (`captured`: from the network)."""
    m = site.model_config
    s = site.selectors
    found: list[SiteModel] = []
    try:
        if m.source == "network":
            found = list(captured)
        elif m.source == "page" and m.expression:
            found = from_data(await page.evaluate(m.expression), m)
        elif m.source == "picker" and m.pick == "select" and s.model_picker:
            values = await page.eval_on_selector_all(
                f"{sel.any_of(s.model_picker)} option",
                "opts => opts.map(o => [o.value, o.textContent.trim() || o.value])",
            )
            found = [SiteModel(v, n) for v, n in values]
        elif m.source == "picker" and s.model_picker and s.model_option:
            hit = await sel.first(page, s.model_picker, visible=True)
            if hit:
                await hit[1].click()
                texts = await page.locator(sel.any_of(s.model_option)).all_inner_texts()
                await page.keyboard.press("Escape")
                found = [SiteModel(t.strip(), t.strip()) for t in texts if t.strip()]
    except PlaywrightError as exc:
        log.warning("could not read the model list: %s", str(exc).splitlines()[0])
    return found or [SiteModel(x, x) for x in m.static]


def resolve(requested: str, known: list[SiteModel]) -> SiteModel | None:
    """The model a request names, by id or by display name (any case)."""
    for model in known:
        if requested == model.id:
            return model
    lowered = requested.lower()
    for model in known:
        if lowered in (model.id.lower(), model.name.lower()):
            return model
    return None
