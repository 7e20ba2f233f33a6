"""A partial table keeps the documented default of every key it leaves out.

msgspec fills a missing key from the field's *type* (ProgramOptions: the
defaults of supervisord's [program:x]), but some tables document other
defaults: `[profiles.program]` is a browser runner's (`redirect_stderr`,
`autorestart = true`, `killasgroup`...). Without this, a `[profiles.program]`
naming only `startsecs` would silently switch every other key back to
supervisord's default. Applied to the raw TOML before it is decoded, so
environment overrides (MICTL_PROFILES__PROGRAM__X) get the same rule.
"""

from __future__ import annotations

from typing import Any

import msgspec


def _struct_type(tp: Any) -> type[msgspec.Struct] | None:
    return tp if isinstance(tp, type) and issubclass(tp, msgspec.Struct) else None


def fill(raw: dict[str, Any], schema: type[msgspec.Struct]) -> None:
    """In place: each table in `raw` whose field documents its own default
    (a default_factory other than its type) gets that default's keys that it
    does not name; nested tables likewise."""
    for field in msgspec.structs.fields(schema):
        sub = _struct_type(field.type)
        table = raw.get(field.encode_name)
        if sub is None or not isinstance(table, dict):
            continue
        factory = field.default_factory
        if factory is not msgspec.NODEFAULT and factory is not sub:
            documented = msgspec.to_builtins(factory())
            for key, value in documented.items():
                if value is not None:
                    table.setdefault(key, value)
        fill(table, sub)


def documented(schema: type[msgspec.Struct]) -> dict[str, Any]:
    """Every table's documented defaults by dotted path (for tests and docs)."""
    found: dict[str, Any] = {}
    for field in msgspec.structs.fields(schema):
        sub = _struct_type(field.type)
        if sub is None:
            continue
        factory = field.default_factory
        default = factory() if factory is not msgspec.NODEFAULT else sub()
        found[field.encode_name] = msgspec.to_builtins(default)
        for path, value in documented(sub).items():
            found[f"{field.encode_name}.{path}"] = value
    return found
