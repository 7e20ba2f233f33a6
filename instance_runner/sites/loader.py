"""Find and decode site files: a bundled name (demo, aistudio, lmarena) or a path."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec

from instance_runner.sites.decoders import DECODERS
from instance_runner.sites.types import SiteFile

BUNDLED = Path(__file__).parent


class SiteFileError(Exception):
    pass


def bundled_names() -> list[str]:
    return sorted(p.stem for p in BUNDLED.glob("*.toml"))


def load_site(name_or_path: str, url: str | None = None) -> SiteFile:
    path = Path(name_or_path)
    if not path.suffix:
        path = BUNDLED / f"{name_or_path}.toml"
        if not path.exists():
            known = ", ".join(bundled_names())
            raise SiteFileError(f"no bundled site {name_or_path!r} (bundled: {known})")
    try:
        raw = tomllib.loads(path.read_text())
        site = msgspec.convert(raw, SiteFile)
    except OSError as exc:
        raise SiteFileError(f"{path}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise SiteFileError(f"{path}: {exc}") from None
    if site.stream.source == "network" and site.stream.decoder not in DECODERS:
        known = ", ".join(sorted(DECODERS))
        raise SiteFileError(f"{path}: no decoder {site.stream.decoder!r} (known: {known})")
    if site.speak_template and not Path(site.speak_template).is_absolute():
        site.speak_template = str(path.parent / site.speak_template)
    if url:
        site.url = url
    return site
