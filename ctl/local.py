"""What the commands that work without the daemon share: the optional
config (-c), site files, and the `verified` date of a site file."""

from __future__ import annotations

import datetime
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ctl.errors import Usage

if TYPE_CHECKING:
    from daemon.config.loader import Config
    from instance_runner.sites.types import SiteFile

STALE_DAYS = 30


def config_of(ctx: click.Context) -> Config | None:
    """The config given with `mictl -c CONFIG` (or $MICTL_CONFIG), if any."""
    path = ctx.find_root().params.get("config_path")
    if not path:
        return None
    from daemon.config import loader as daemon_config  # slow to import: only when asked

    try:
        return daemon_config.load(path)
    except daemon_config.ConfigError as exc:
        raise Usage(str(exc)) from None


def browser_options(cfg: Config | None) -> dict[str, object]:
    """The config's browser settings (executable, extra args) as keyword
    arguments for the commands that open a browser themselves."""
    if cfg is None:
        return {"executable": "", "args": []}
    return {"executable": cfg.profiles.browser.executable, "args": list(cfg.profiles.browser.args)}


def site_for(name: str | None, cfg: Config | None, profile: str = "") -> str | None:
    """--site, else profile's own ([profiles.overrides.NAME] site), else the
    config's [profiles] site: the site its instance opens."""
    if name or cfg is None:
        return name
    own = cfg.profiles.overrides.get(profile)
    return (own.site if own else "") or cfg.profiles.site


def site_of(
    name: str | None, cfg: Config | None, url: str | None = None, *, profile: str = ""
) -> SiteFile:
    """A site file by name or path (default: profile's site, see site_for)."""
    from instance_runner.sites.loader import SiteFileError, load_site

    name = site_for(name, cfg, profile)
    if not name:
        raise Usage("name the site with --site (a bundled name or a site file path)")
    try:
        return load_site(name, url)
    except SiteFileError as exc:
        raise Usage(str(exc)) from None


def site_path(name: str) -> Path:
    from instance_runner.sites.loader import BUNDLED

    path = Path(name)
    return path if path.suffix else BUNDLED / f"{name}.toml"


def verified_line(site: SiteFile, path: Path, today: datetime.date | None = None) -> str:
    """'verified 2026-11-20 against ...' or a warning when unknown or stale."""
    verified = str(getattr(site, "verified", "") or "")
    against = str(getattr(site, "verified_against", "") or "")
    if not verified:  # an older site file format: read the key straight from the file
        try:
            raw = tomllib.loads(path.read_text())
            verified, against = str(raw.get("verified", "")), str(raw.get("verified_against", ""))
        except (OSError, tomllib.TOMLDecodeError):
            pass
    if not verified:
        return f"warning: site file {site.name} has no `verified` date: it may be out of date"
    try:
        day = datetime.date.fromisoformat(verified)
    except ValueError:
        return f"warning: site file {site.name}: `verified = {verified!r}` is not YYYY-MM-DD"
    age = ((today or datetime.date.today()) - day).days
    text = f"site file {site.name} verified {verified}" + (f" against {against}" if against else "")
    if age > STALE_DAYS:
        return f"warning: {text}, {age} days ago (over {STALE_DAYS}): the site may have changed"
    return text
