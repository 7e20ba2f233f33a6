"""The images of one chat request, ready for the page: the site and the
model must take images (else a 400 naming both, before anything is
fetched), each URL is loaded within the limits (fetch.py), and what was
loaded must suit the site's [upload] (type, size, count)."""

from __future__ import annotations

import asyncio

from instance_runner.images.decode import Image, ImageError
from instance_runner.images.fetch import Limits, load
from instance_runner.sites import upload
from instance_runner.sites.types import SiteFile


async def gather(urls: list[str], site: SiteFile, model: str, limits: Limits) -> list[Image]:
    """The images behind `urls` for `model` on `site`; ImageError says why not."""
    if not urls:
        return []
    why = upload.refusal(site, model, [])
    if why is None and site.upload and len(urls) > site.upload.max_files:
        why = f"{site.name} takes at most {site.upload.max_files} images in one request"
    if why:
        raise ImageError(why, code="images_unsupported")
    assert site.upload is not None
    cap = Limits(min(limits.max_bytes, site.upload.max_bytes), limits.timeout, limits.allow)
    images = list(await asyncio.gather(*(load(u, cap) for u in urls)))
    why = upload.refusal(site, model, images)
    if why:
        raise ImageError(why, code="images_unsupported")
    return images
