"""Find and decode site files: a bundled name (demo, aistudio, lmarena) or a path."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import msgspec

from common.files import read_regular
from instance_runner.sites.decoders import DECODERS
from instance_runner.sites.types import SiteFile

BUNDLED = Path(__file__).parent
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
MAX_SITE_BYTES = 2**20  # the bundled ones are a few KB


class SiteFileError(Exception):
    pass


def bundled_names() -> list[str]:
    return sorted(p.stem for p in BUNDLED.glob("*.toml"))


def is_path(value: str) -> bool:
    """A site file path (has a '/' or ends in .toml), not a bundled name."""
    return "/" in value or value.endswith(".toml")


def site_path(name_or_path: str) -> Path:
    """The file a `site` value names. A bundled name is a plain word, looked
    up in the bundled dir only (never '../x': it cannot leave that dir); a
    path is taken as written (the operator's own file)."""
    if is_path(name_or_path):
        return Path(name_or_path)
    known = ", ".join(bundled_names())
    if not NAME_RE.fullmatch(name_or_path):
        raise SiteFileError(
            f"{name_or_path!r} is neither a bundled site ({known}) nor a path to a .toml file"
        )
    path = BUNDLED / f"{name_or_path}.toml"
    if not path.is_file():
        raise SiteFileError(f"no bundled site {name_or_path!r} (bundled: {known})")
    return path


def load_site(name_or_path: str, url: str | None = None) -> SiteFile:
    path = site_path(name_or_path)
    try:
        # Never blocks on a FIFO; a device (/dev/zero) or a huge file is
        # refused by its kind or size before a byte is read.
        raw = tomllib.loads(read_regular(path, MAX_SITE_BYTES).decode())
        site = msgspec.convert(raw, SiteFile)
    except OSError as exc:
        raise SiteFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SiteFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None
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
