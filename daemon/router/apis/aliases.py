"""Model aliases: a client's model name -> a model the pool serves.

    [aliases]
    "claude-*" = ["demo-smart", "demo-fast"]   # a glob, with a fallback order
    "gpt-4o" = "demo-fast"                       # an exact name

An exact alias wins, then a model the pool serves under that very name, then
the first glob that matches (in the order the file lists them). Of an
alias's targets the first one the pool serves now is taken; when none is
served yet (instances still starting) the first, so the request queues for it.
Pure.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable, Mapping

import msgspec

from common.capabilities import EMULATED

CAPABILITIES = msgspec.to_builtins(EMULATED)  # what an alias's model takes, as the front knows

Aliases = Mapping[str, str | list[str]]
GLOB_CHARS = frozenset("*?[")


def is_glob(name: str) -> bool:
    return any(c in GLOB_CHARS for c in name)


@functools.lru_cache(maxsize=256)
def _pattern(glob: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(glob))


def targets(aliases: Aliases, name: str, served: Iterable[str] = ()) -> list[str] | None:
    """The alias's targets for `name` (None when no alias applies)."""
    exact = aliases.get(name)
    if exact is not None and not is_glob(name):
        return [exact] if isinstance(exact, str) else list(exact)
    if name in served:
        return None
    for glob, value in aliases.items():
        if is_glob(glob) and _pattern(glob).fullmatch(name):
            return [value] if isinstance(value, str) else list(value)
    return None


def resolve(aliases: Aliases, name: str, served: set[str]) -> str:
    """The model to ask the pool for: `name` itself unless an alias applies."""
    if not aliases:
        return name
    wanted = targets(aliases, name, served)
    if not wanted:
        return name
    return next((t for t in wanted if t in served), wanted[0])


def listing(aliases: Aliases, served: set[str]) -> list[dict[str, object]]:
    """`/v1/models` entries for the aliases (exact names and globs alike),
    each naming what it maps to now."""
    return [
        {
            "id": name,
            "object": "model",
            "created": 0,
            "owned_by": "mictl",
            "alias_of": [value] if isinstance(value, str) else list(value),
            "resolves_to": resolve(aliases, name, served) if not is_glob(name) else None,
            "capabilities": CAPABILITIES,
        }
        for name, value in aliases.items()
    ]


def with_model(body: bytes, model: str) -> bytes:
    """A chat body with its `model` replaced (only aliased requests pay for this)."""
    data = msgspec.json.decode(body)
    data["model"] = model
    return msgspec.json.encode(data)


def unknown_message(model: str, served: set[str], aliases: Aliases) -> str:
    names = sorted(served)
    text = f"The model '{model}' does not exist (served: {', '.join(names) or 'none yet'}"
    if aliases:
        text += f"; aliases: {', '.join(aliases)}"
    return text + ")"
