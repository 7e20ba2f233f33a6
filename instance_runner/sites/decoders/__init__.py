"""Answer-stream decoders by name (the site file's `[stream] decoder`)."""

from __future__ import annotations

from instance_runner.sites.decoders.aistudio import AistudioDecoder
from instance_runner.sites.decoders.ndjson import NdjsonDecoder
from instance_runner.sites.decoders.sse import SseDecoder
from instance_runner.sites.decoders.types import Decoder, Event, StreamOptions

DECODERS: dict[str, type[Decoder]] = {
    "ndjson": NdjsonDecoder,
    "sse": SseDecoder,
    "aistudio": AistudioDecoder,
}

__all__ = ["DECODERS", "Decoder", "Event", "StreamOptions", "make"]


def make(name: str, options: StreamOptions) -> Decoder:
    """A fresh decoder for one response (KeyError: no such decoder)."""
    return DECODERS[name](options)
