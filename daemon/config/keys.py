"""The front port's client keys: the inline ones plus the keys file's lines.

Read by the router at start and on every reload (daemon/router/app.py); a
keys file it cannot read is a ConfigError, so a reload keeps the old keys.
"""

from __future__ import annotations

from common.files import read_regular
from daemon.config.schema import Config, ConfigError


def api_keys(config: Config) -> list[str]:
    """The client keys: inline ones plus the keys file's lines."""
    keys = list(config.router.api_keys)
    if config.router.api_keys_file:
        try:
            text = read_regular(config.router.api_keys_file, 2**20).decode(errors="replace")
        except OSError as exc:
            raise ConfigError(f"router.api_keys_file: cannot read: {exc.strerror}") from None
        lines = (line.strip() for line in text.splitlines())
        keys += [line for line in lines if line and not line.startswith("#")]
    return keys
