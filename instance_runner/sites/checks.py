"""What `mictl site check` tests on an open page, without sending a prompt:
each selector role, and which of its fallbacks matched (or that none did)."""

from __future__ import annotations

import msgspec
from playwright.async_api import Page

from instance_runner.sites import sel
from instance_runner.sites.types import Sel, SiteFile


class CheckResult(msgspec.Struct):
    name: str
    selector: str  # the fallback that matched, or all of them when none did
    found: bool
    required: bool
    fallback: int = -1  # which fallback matched (0 = the first), -1 = none
    fallbacks: int = 1  # how many there are


async def check_page(page: Page, site: SiteFile, signed_in: bool) -> list[CheckResult]:
    s, m = site.selectors, site.model_config
    picker_needed = signed_in and m.pick in ("select", "click", "type")
    wanted: list[tuple[str, Sel, bool]] = [
        ("logged_in", s.logged_in, signed_in),
        ("logged_out", s.logged_out, not signed_in),
        ("prompt", s.prompt, signed_in),
        ("send", s.send, signed_in),
        ("model_picker", s.model_picker, picker_needed),
        ("model_check", m.check, signed_in and m.pick == "localstorage"),
        ("new_chat", s.new_chat, signed_in and site.reset == "new_chat"),
        ("idle", s.idle, False),
        ("answer", s.answer, False),
        ("stop", s.stop, False),
        ("rate_limit", s.rate_limit, False),
        ("error", s.error, False),
        ("captcha", s.captcha, False),
        ("new_chat_confirm", s.new_chat_confirm, False),
        ("temperature", site.settings.temperature, False),
        ("top_p", site.settings.top_p, False),
        ("max_tokens", site.settings.max_tokens, False),
        ("stop_sequences", site.settings.stop, False),
        ("system", site.settings.system, False),
        ("system_open", site.settings.system_open, False),
    ]
    for t in site.toggle:  # [[toggle]]: the switch, in view or in its menu
        wanted += [(f"{t.name}: click", t.click, False), (f"{t.name}: menu", t.menu, False)]
    if site.upload and site.upload.method == "input":  # [upload]: what opens the file input
        up = site.upload
        wanted += [(f"upload: open {i + 1}", step, False) for i, step in enumerate(up.open)]
    results = []
    for name, selector, required in wanted:
        fallbacks = sel.options(selector)
        if not fallbacks:
            continue
        hit = await sel.first(page, selector)
        if hit is None:
            results.append(
                CheckResult(name, " | ".join(fallbacks), False, required, -1, len(fallbacks))
            )
        else:
            index = fallbacks.index(hit[0])
            results.append(CheckResult(name, hit[0], True, required, index, len(fallbacks)))
    return results
