"""Which names the daemon accepts for programs and instances.

One check for mictld (profiles dir, [programs.*]) and for `mictl profile
capture`, which must refuse what the daemon would skip.
"""

from __future__ import annotations

import re

NAME_RE = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]*$")  # never a leading "-": an option


def instance_name_error(name: str) -> str | None:
    """Why `name` cannot be an instance (a profile file's stem), or None."""
    if not NAME_RE.match(name):
        return f"instance name {name!r} must match {NAME_RE.pattern}"
    if name.startswith("."):
        return f"instance name {name!r} starts with a dot (hidden files are skipped)"
    return None
