"""Decoders of the answer streams sites send: pure functions over bytes.

Each decoder is a class built from the site file's stream options, with
`feed(chunk: bytes) -> list[Event]` and `close() -> list[Event]`; `DECODERS`
names them for the site file's `decoder = "..."`.
"""

from __future__ import annotations

from typing import Any

from instance_runner.sites.decoders.prefix_lines import PrefixLinesDecoder
from instance_runner.sites.decoders.types import Event

DECODERS: dict[str, Any] = {
    "prefix-lines": PrefixLinesDecoder,
}

__all__ = ["DECODERS", "Event", "PrefixLinesDecoder"]
