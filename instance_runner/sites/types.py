"""The site file format: everything the generic adapter needs to drive a site.

A site's UI change is a data edit here, checked with `mictl site check`.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from instance_runner.sites.decoders.types import StreamOptions


class Struct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class Selectors(Struct):
    prompt: str  # the input the prompt is typed into
    send: str  # the button that sends it
    answer: str  # every assistant answer's text node; the newest is the last match
    stop: str = ""  # the button that stops a generation
    model_picker: str = ""  # a <select> (pick = "select") or the button opening a menu
    model_option: str = ""  # the menu entries (pick = "click"); their text is the model
    answer_done: str = ""  # matches the newest answer (or an ancestor) once it is complete
    idle: str = ""  # present when no generation runs (done = idle after a delta)
    logged_in: str = ""  # present only when signed in
    logged_out: str = ""  # present only on the sign-in page
    rate_limit: str = ""  # a visible rate-limit / quota banner
    error: str = ""  # a visible error banner
    new_chat: str = ""  # starts a fresh conversation (reset = "new_chat")


class Markers(Struct):
    """Texts that identify a state when no selector can (matched case-insensitively)."""

    rate_limit: list[str] = []
    logged_out: list[str] = []
    error: list[str] = []
    retry_after: str = r"(\d+)\s*(?:s\b|sec|second)"  # regex on the rate-limit text
    retry_after_default: float = 60.0


class Timeouts(Struct):
    navigation: float = 30.0  # page load
    ready: float = 20.0  # until logged_in / logged_out shows
    first_delta: float = 60.0  # send -> first piece of the answer
    stall: float = 30.0  # no new delta for this long: the generation is stalled
    request: float = 300.0  # a whole request, queue wait excluded


class Stream(StreamOptions):
    """Where deltas come from: the answer node in the DOM, or the page's own
    network request for the answer (survives UI redesigns), decoded by a
    named decoder (instance_runner/sites/decoders) with the options of
    StreamOptions (text_field, reasoning_field, ...)."""

    source: Literal["dom", "network", "fetch"] = "dom"  # "fetch": the old name of "network"
    url_contains: str = ""  # network: the request to tap (a substring of its URL)
    decoder: str = "ndjson"  # network: a name in decoders.DECODERS
    format: str = ""  # the old name of `decoder`
    field: str = ""  # the old name of `text_field`

    def __post_init__(self) -> None:
        if self.source == "fetch":
            self.source = "network"
        if self.format:
            self.decoder = self.format
        if self.field:
            self.text_field = self.field


class SiteFile(Struct, kw_only=True):
    name: str
    url: str
    selectors: Selectors
    notice: str = ""  # shown by `mictl site check` (e.g. "selectors unverified")
    moved_from: list[str] = []  # old hosts whose cookies still sign in here (moved.py)
    # Which browser the site needs: the light headless shell, full Chromium in
    # new headless mode, or full Chromium headed (under Xvfb when there is no
    # display) for sites whose bot checks distrust headless browsers.
    browser: Literal["headless-shell", "headless", "headed"] = "headless-shell"
    model_pick: Literal["select", "click", "none"] = "select"
    models: list[str] = []  # used when the picker cannot be read
    reset: Literal["none", "reload", "new_chat"] = "none"  # before each request
    markers: Markers = msgspec.field(default_factory=Markers)
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)
    stream: Stream = msgspec.field(default_factory=Stream)
