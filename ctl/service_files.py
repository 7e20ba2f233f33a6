"""What `mictl service install` writes, as pure functions: the production
config from the reference one, and the systemd unit from its template.

The systemd directories are fixed (the unit's RuntimeDirectory=mictl,
StateDirectory=mictl, ... name them); the venv and the user are chosen.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import msgspec

from daemon import __version__

ETC_DIR = "/etc/mictl"
CONFIG = f"{ETC_DIR}/mictl.toml"
KEYS_DIR = f"{ETC_DIR}/keys"
KEYS_FILE = f"{KEYS_DIR}/api-keys"
ADMIN_TOKEN_FILE = f"{KEYS_DIR}/admin-token"
STATE_ROOT = "/var/lib/mictl"
PROFILES_DIR = f"{STATE_ROOT}/profiles"
STATE_DIR = f"{STATE_ROOT}/state"
LOG_DIR = "/var/log/mictl"
SOCKET = "/run/mictl/mictl.sock"
UNIT_PATH = "/etc/systemd/system/mictld.service"
SITES = ("aistudio", "lmarena", "demo")

# Where the templates are: the checkout this runs from, else what the wheel
# installed under <venv>/share/mictl (pyproject's data-files).
_CHECKOUT = Path(__file__).resolve().parents[1]
_ASSETS = {
    "mictl.toml": ("etc/mictl.toml", "share/mictl/mictl.toml"),
    "mictld.service.in": ("systemd/mictld.service.in", "share/mictl/mictld.service.in"),
    "operations.md": ("docs/operations.md", "share/doc/mictl/operations.md"),
}


class AssetMissing(Exception):
    """A template is neither in a checkout nor in the installed share/ dir."""


class Layout(msgspec.Struct, kw_only=True, frozen=True):
    """Every path and name an install uses."""

    prefix: str = "/opt/mictl"
    venv: str = ""  # "" = <prefix>/venv
    user: str = "mictl"
    group: str = ""  # "" = the user's name (useradd --user-group)
    site: str = "aistudio"

    @property
    def venv_dir(self) -> str:
        return self.venv or f"{self.prefix.rstrip('/')}/venv"

    @property
    def group_name(self) -> str:
        return self.group or self.user

    @property
    def docs(self) -> str:
        return f"{self.venv_dir}/share/doc/mictl/operations.md"


def asset(name: str) -> Path:
    in_checkout, in_share = _ASSETS[name]
    for path in (_CHECKOUT / in_checkout, Path(sys.prefix) / in_share):
        if path.is_file():
            return path
    raise AssetMissing(f"{name}: not in {_CHECKOUT} nor in {sys.prefix}/share")


def source_dir() -> Path | None:
    """The checkout to install from, when running from one."""
    pyproject = _CHECKOUT / "pyproject.toml"
    if pyproject.is_file() and 'name = "mictl"' in pyproject.read_text():
        return _CHECKOUT
    return None


def default_source() -> str:
    """What pip installs into the venv: this checkout, else this version."""
    here = source_dir()
    return str(here) if here else f"mictl=={__version__}"


def render_unit(layout: Layout, template: str | None = None) -> str:
    text = template if template is not None else asset("mictld.service.in").read_text()
    values = {
        "VENV": layout.venv_dir,
        "CONFIG": CONFIG,
        "SOCKET": SOCKET,
        "USER": layout.user,
        "GROUP": layout.group_name,
        "DOCS": layout.docs,
    }
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise ValueError(f"unit template: unknown placeholders {sorted(set(left))}")
    return text


_HEADER = """\
# /etc/mictl/mictl.toml: written by `mictl service install` from the
# reference config (every key with its default: {reference}).
# Production values differ from the reference where marked "# install:".
# Your edits are kept: a later install writes its version next to this file
# as mictl.toml.new instead. Check with `mictld --check-config {config}`;
# apply with `systemctl reload mictld`.
#
# Before the first start: choose [profiles] site, put profiles (Playwright
# storage_state JSON, mode 0600, owned by {user}) in {profiles}.
# Clients send `Authorization: Bearer KEY` with a key from {keys}.
"""


def render_config(layout: Layout, reference: str | None = None) -> str:
    """The reference config with production defaults in place."""
    text = reference if reference is not None else asset("mictl.toml").read_text()
    sites = " | ".join(SITES)
    changes = [
        ("daemon", "socket", SOCKET, "RuntimeDirectory=mictl"),
        ("daemon", "socket_mode", "0660", f"the group {layout.group_name} may run mictl"),
        ("daemon", "socket_group", layout.group_name, "operators join this group"),
        ("daemon", "state_dir", STATE_DIR, "under StateDirectory=mictl"),
        ("daemon", "log_dir", LOG_DIR, "LogsDirectory=mictl"),
        ("profiles", "dir", PROFILES_DIR, "one *.json per account, 0600"),
        ("profiles", "site", layout.site, f"choose: {sites}, or a site file's path"),
        ("router", "api_keys_file", KEYS_FILE, "keys required, also on loopback"),
        ("dashboard", "admin_token_file", ADMIN_TOKEN_FILE, "the dashboard's actions"),
    ]
    for section, key, value, why in changes:
        text = set_key(text, section, key, f"{msgspec.json.encode(value).decode()}", why)
    body = "\n".join(_strip_header(text.splitlines()))
    header = _HEADER.format(
        reference="share/mictl/mictl.toml in the venv",
        config=CONFIG,
        user=layout.user,
        profiles=PROFILES_DIR,
        keys=KEYS_FILE,
    )
    return header + "\n" + body + "\n"


def _strip_header(lines: list[str]) -> list[str]:
    """Drop the reference's leading comment block (it speaks of defaults)."""
    for i, line in enumerate(lines):
        if line.strip() and not line.startswith("#"):
            return lines[i:]
    return lines


def set_key(text: str, section: str, key: str, value: str, why: str = "") -> str:
    """Replace `key = ...` in [section] (the first table of that exact name)."""
    lines = text.splitlines()
    inside = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped == f"[{section}]"
            continue
        if inside and re.match(rf"{re.escape(key)}\s*=", stripped):
            comment = f"  # install: {why}" if why else ""
            lines[i] = f"{key} = {value}{comment}"
            return "\n".join(lines) + ("\n" if text.endswith("\n") else "")
    raise ValueError(f"reference config: no {key} in [{section}]")
