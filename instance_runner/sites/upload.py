"""Images into the page, the way the site takes them (a site file's
[upload]): a file input (after the clicks that bring it: an attach button,
a menu entry), or a paste or a drop of a DataTransfer holding the files on
the prompt box. Then, where the site shows one, a chip per file must appear
before the prompt is sent: a file the site did not take is an error, never
an answer about no image.

Whether an image may go at all (the site has [upload], the model takes
images, the type, size and count) is `refusal()`, a pure function the
instance asks before any page work.
"""

from __future__ import annotations

import base64
import fnmatch

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from instance_runner.images.decode import Image
from instance_runner.sites import clicks, sel
from instance_runner.sites.errors import SiteError
from instance_runner.sites.types import Sel, SiteFile

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


async def attach(page: Page, site: SiteFile, images: list[Image]) -> None:
    """Put `images` into the page and wait until the site shows it took them."""
    up = site.upload
    assert up is not None and images
    chips_before = await _count(page, up.chip)
    if up.method == "input":
        for step in up.open:
            await clicks.click(page, step, "upload menu", wait_enabled=up.timeout)
        found = await sel.first(page, up.input)
        if found is None:
            raise SiteError(f"no file input on the page ({sel.any_of(up.input)})")
        await found[1].set_input_files(
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
    if up.chip:
        want = chips_before + len(images)
        try:
            await page.wait_for_function(
                "([s, n]) => document.querySelectorAll(s).length >= n",
                arg=[sel.any_of(up.chip), want],
                timeout=up.timeout * 1000,
            )
        except PlaywrightError as exc:  # a timeout, or the page went away
            raise SiteError(
                f"the site did not take the image ({len(images)} sent, "
                f"no {sel.any_of(up.chip)} for each within {up.timeout:g}s)"
            ) from exc


async def _count(page: Page, chip: Sel) -> int:
    if not chip:
        return 0
    return int(await page.evaluate("(s) => document.querySelectorAll(s).length", sel.any_of(chip)))
