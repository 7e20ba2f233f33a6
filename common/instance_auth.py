"""The per-instance secret: only mictld may talk to an instance's port.

An instance listens on 127.0.0.1, where any local user could reach it and use
its logged-in account past the front's API keys and limits. So mictld gives
each instance a secret of its own and sends it on every request and probe;
the instance refuses anything without it (401, OpenAI-shaped).

How it is handed over: a file, `STATE_DIR/keys/NAME.key`, mode 0600 in a 0700
dir, made by mictld when missing and kept across its restarts; the instance
gets its path (`--key-file`, and `MICTL_INSTANCE_KEY_FILE` for a
`profiles.command`), never the key itself. A file rather than the key in the
environment: only the same uid can read /proc/PID/environ either way, but a
file is checked by its mode like every other secret here, never shows up in
a process listing or an environment dump, and rotates by deleting it (then
`mictl reload`: mictld makes a new key and sends it; `mictl restart NAME`
makes the instance read it).

How it is sent: `Authorization: Bearer SECRET`, the header every OpenAI
client sends, so a person holding the file can use the instance with any
OpenAI SDK; the front builds each upstream request's headers afresh, so a
client's own Authorization header never reaches an instance.

An instance started without a key file (tests, `mictl site ...` tools, by
hand) is open as before; mictld always starts its instances with one. The
secret is never logged and never in status, metrics or events.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets

from common.errors import error_json
from common.files import atomic_write, private_dir, read_regular

KEY_BYTES = 32
MAX_KEY_FILE = 4096


def key_path(state_dir: str, name: str) -> str:
    return os.path.join(state_dir, "keys", f"{name}.key")


def read_key(path: str) -> str:
    """The secret in `path` (never blocking on a FIFO); OSError when it
    cannot be read, ValueError when the file holds none."""
    key = read_regular(path, MAX_KEY_FILE).decode("ascii", "replace").strip()
    if not key:
        raise ValueError("the key file is empty")
    return key


def ensure_key(path: str) -> str:
    """The secret in `path`, made (0600 in a 0700 dir) when there is none."""
    try:
        return read_key(path)
    except (FileNotFoundError, ValueError):  # none yet, or an empty file
        pass
    private_dir(os.path.dirname(path))
    key = secrets.token_urlsafe(KEY_BYTES)
    atomic_write(path, key.encode() + b"\n", 0o600)
    return key


def discard(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def authorized(key: bytes, header: bytes) -> bool:
    """`header` is the Authorization header's value; constant time."""
    token = header[7:] if header[:7].lower() == b"bearer " else b""
    return hmac.compare_digest(token, key)


REFUSED = error_json(
    "this port answers only mictld (Authorization: Bearer <the instance key>)",
    "authentication_error",
    "invalid_api_key",
)
