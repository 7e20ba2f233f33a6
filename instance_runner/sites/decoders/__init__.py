"""Decoders of the answer streams sites send: pure functions over bytes.

Each decoder is a class built from the site file's stream options, with
`feed(chunk: bytes) -> list[Event]` and `close() -> list[Event]`; `DECODERS`
names them for the site file's `[stream] decoder = "..."`.
"""

from __future__ import annotations

from instance_runner.sites.decoders.aistudio import AistudioDecoder
from instance_runner.sites.decoders.chatgpt import ChatgptDecoder
from instance_runner.sites.decoders.deepseek import DeepseekDecoder
from instance_runner.sites.decoders.gemini import GeminiDecoder
from instance_runner.sites.decoders.ndjson import NdjsonDecoder
from instance_runner.sites.decoders.prefix_lines import PrefixLinesDecoder
from instance_runner.sites.decoders.sse import SseDecoder
from instance_runner.sites.decoders.types import Decoder, Event, StreamOptions

DECODERS: dict[str, type[Decoder]] = {
    "ndjson": NdjsonDecoder,
    "sse": SseDecoder,
    "aistudio": AistudioDecoder,
    "prefix-lines": PrefixLinesDecoder,
    "deepseek": DeepseekDecoder,
    "gemini": GeminiDecoder,
    "chatgpt": ChatgptDecoder,
}

__all__ = ["DECODERS", "Decoder", "Event", "PrefixLinesDecoder", "StreamOptions", "make"]


def make(name: str, options: StreamOptions) -> Decoder:
    """A fresh decoder for one response (KeyError: no such decoder)."""
    return DECODERS[name](options)
