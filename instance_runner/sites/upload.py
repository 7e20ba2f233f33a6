"""Images into the page, the way the site takes them (a site file's
[upload]): a file input (after the clicks that bring it: an attach button,
a menu entry), or a paste or a drop of a DataTransfer holding the files on
the prompt box. Then, where the site shows one, a chip per file must appear
before the prompt is sent: a file the site did not take is an error, never
an answer about no image. A site whose input takes one file at a time gets
one opening per file; a notice shown as a file is taken is clicked away
(`dismiss`), and a menu left open is closed (`left_open`, `close`).

Whether an image may go at all (the site has [upload], the model takes
images, the type, size and count) is `refusal()`, a pure function the
instance asks before any page work.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fnmatch

from playwright.async_api import ElementHandle, Page
from playwright.async_api import Error as PlaywrightError

from instance_runner.images.decode import Image
from instance_runner.sites import clicks, sel
from instance_runner.sites.errors import SiteError
from instance_runner.sites.types import Sel, SiteFile, Upload

# [files as {name, type, b64}, target selectors, "paste" | "drop"] -> taken?
_DISPATCH = """([files, target, how]) => {
    let el = null;
    for (const s of target) { el = document.querySelector(s); if (el) break; }
    if (!el) return false;
    const data = new DataTransfer();
    for (const f of files) {
        const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
        data.items.add(new File([bytes], f.name, {type: f.type}));
    }
    el.focus();
    if (how === "paste") {
        el.dispatchEvent(new ClipboardEvent("paste",
            {clipboardData: data, bubbles: true, cancelable: true}));
    } else {
        for (const kind of ["dragenter", "dragover", "drop"]) {
            el.dispatchEvent(new DragEvent(kind,
                {dataTransfer: data, bubbles: true, cancelable: true}));
        }
    }
    return true;
}"""


def refusal(site: SiteFile, model: str, images: list[Image]) -> str | None:
    """Why these images cannot go to `model` on `site`, or None."""
    up = site.upload
    if up is None:
        return f"the site {site.name} takes no images"
    if not any(fnmatch.fnmatchcase(model, g) for g in up.models):
        return f"the model {model} on {site.name} takes no images"
    if len(images) > up.max_files:
        return f"{site.name} takes at most {up.max_files} images in one message"
    for i, im in enumerate(images):
        if im.mime not in up.accept:
            return f"image {i + 1} is {im.mime}; {site.name} takes {', '.join(up.accept)}"
        if len(im.data) > up.max_bytes:
            return f"image {i + 1} is over {site.name}'s limit of {up.max_bytes} bytes"
    return None


# [chip fallbacks, dismiss selectors, n] -> "dismiss" while one shows,
# "taken" once the best of the chip fallbacks counts n, else null.
_TAKEN = """([chip, dismiss, n]) => {
    const shown = (el) => {
        const r = el.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden";
    };
    for (const s of dismiss) if ([...document.querySelectorAll(s)].some(shown)) return "dismiss";
    const count = Math.max(0, ...chip.map((s) => document.querySelectorAll(s).length));
    return !chip.length || count >= n ? "taken" : null;
}"""

_SHOWN = """(sels) => sels.some((s) => [...document.querySelectorAll(s)].some((el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
}))"""


async def attach(page: Page, site: SiteFile, images: list[Image]) -> None:
    """Put `images` into the page (all at once, or one per opening of the
    input) and wait until the site shows it took each."""
    up = site.upload
    assert up is not None and images
    chips = await _count(page, up.chip)
    batches = [[im] for im in images] if up.one_at_a_time else [images]
    for i, batch in enumerate(batches):
        await _put(page, site, batch)
        chips += len(batch)
        what = f"image {i + 1} of {len(images)}" if len(batches) > 1 else f"{len(images)} sent"
        await _taken(page, site, chips, what)
        await _close(page, up)


async def _put(page: Page, site: SiteFile, images: list[Image]) -> None:
    up = site.upload
    assert up is not None
    if up.method == "input":
        found = await _open_input(page, up)
        await found.set_input_files(
            [{"name": im.name, "mimeType": im.mime, "buffer": im.data} for im in images]
        )
    else:
        files = [
            {"name": im.name, "type": im.mime, "b64": base64.b64encode(im.data).decode()}
            for im in images
        ]
        target = sel.options(up.target or site.selectors.prompt)
        if not await page.evaluate(_DISPATCH, [files, target, up.method]):
            raise SiteError(f"nothing to {up.method} the images on ({', '.join(target)})")


async def _open_input(page: Page, up: Upload) -> ElementHandle:
    """Click `open` and wait for the input (a menu may draw it a moment
    later). A menu that did not open (the click missed: the page moved as a
    chip loaded) is clicked once more, as CJackHwang/AIstudioProxyAPI's
    driver does (page_controller_modules/input.py); not while `left_open`
    shows: that menu is open, and a click would land on its backdrop."""
    found = await _click_open(page, up, wait=min(up.timeout, 3.0) if up.open else up.timeout)
    if found is None and up.open:
        if up.left_open and await page.evaluate(_SHOWN, sel.options(up.left_open)):
            found = await _wait_input(page, up, up.timeout)  # open: its input is coming
        else:
            found = await _click_open(page, up, wait=up.timeout)
    if found is None:
        raise SiteError(f"no file input on the page ({sel.any_of(up.input)})")
    return found


async def _click_open(page: Page, up: Upload, *, wait: float) -> ElementHandle | None:
    for step in up.open:
        await clicks.click(page, step, "upload menu", wait_enabled=up.timeout)
    return await _wait_input(page, up, wait)


async def _wait_input(page: Page, up: Upload, seconds: float) -> ElementHandle | None:
    try:
        return await page.wait_for_selector(
            sel.any_of(up.input), state="attached", timeout=seconds * 1000
        )
    except PlaywrightError:
        return None


async def _taken(page: Page, site: SiteFile, want: int, what: str) -> None:
    """Wait for `want` chips, clicking `dismiss` whenever it shows; if they
    do not come, the site's error banner (if one shows) says why."""
    up = site.upload
    assert up is not None
    deadline = asyncio.get_running_loop().time() + up.timeout
    args = [sel.options(up.chip), sel.options(up.dismiss), want]
    while True:
        left = deadline - asyncio.get_running_loop().time()
        try:
            found = await page.wait_for_function(_TAKEN, arg=args, timeout=max(left, 0.001) * 1000)
            state = await found.json_value()
        except PlaywrightError as exc:  # a timeout, or the page went away
            said = await _banner(page, site.selectors.error)
            raise SiteError(
                f"the site did not take the image ({what}, "
                f"no {sel.any_of(up.chip)} for each within {up.timeout:g}s)"
                + (f": {said}" if said else "")
            ) from exc
        if state == "taken":
            return
        with contextlib.suppress(SiteError):  # gone meanwhile: look again
            await clicks.click(page, up.dismiss, "upload notice", wait_enabled=max(left, 0))


async def _close(page: Page, up: Upload) -> None:
    """Press `close` while `left_open` shows (a menu whose backdrop would
    catch the next click)."""
    if not up.left_open or not await page.evaluate(_SHOWN, sel.options(up.left_open)):
        return
    await page.keyboard.press(up.close)
    try:
        await page.wait_for_function(
            f"(sels) => !({_SHOWN})(sels)", arg=sel.options(up.left_open), timeout=5000
        )
    except PlaywrightError as exc:
        raise SiteError(f"{sel.any_of(up.left_open)} stayed after {up.close}") from exc


async def _banner(page: Page, error: Sel) -> str:
    """The text of the site's error banner, if one shows (first line, short)."""
    with contextlib.suppress(PlaywrightError):
        hit = await sel.first(page, error, visible=True)
        if hit:
            return (await hit[1].inner_text()).strip().split("\n")[0][:200]
    return ""


async def _count(page: Page, chip: Sel) -> int:
    """The best count among the chip fallbacks (they may overlap)."""
    return int(
        await page.evaluate(
            "(sels) => Math.max(0, ...sels.map((s) => document.querySelectorAll(s).length))",
            sel.options(chip),
        )
    )
