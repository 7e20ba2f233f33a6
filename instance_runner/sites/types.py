"""The site file format: everything the generic engine needs to drive a site.

A site's UI change is a data edit here, checked with `mictl site check`.
Every selector may be one CSS selector or an ordered list of fallbacks (the
first that matches wins; `site check` says which one did).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from instance_runner.sites.decoders.types import StreamOptions

Sel = str | list[str]  # one selector, or fallbacks in order


class Struct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class Selectors(Struct):
    prompt: Sel  # the input the prompt is typed into
    send: Sel  # the button that sends it (never clicked while disabled)
    answer: Sel = ""  # dom source: every answer's text node; the newest is the last
    stop: Sel = ""  # the button that stops a generation
    model_picker: Sel = ""  # a <select> (pick select), or what opens the picker
    model_option: Sel = ""  # menu entries (pick click / type); their text names the model
    model_search: Sel = ""  # pick type: the input the model's name is typed into
    answer_done: Sel = ""  # matches the newest answer (or an ancestor) once complete
    idle: Sel = ""  # present when no generation runs (done = idle after a delta)
    logged_in: Sel = ""  # present only when signed in
    logged_out: Sel = ""  # present only on the sign-in page
    rate_limit: Sel = ""  # a visible rate-limit / quota banner
    error: Sel = ""  # a visible error banner
    captcha: Sel = ""  # a captcha / human check on the page
    new_chat: Sel = ""  # starts a fresh conversation (reset = "new_chat")
    new_chat_confirm: Sel = ""  # the dialog button that confirms it ("Discard and continue")


class Markers(Struct):
    """Texts that identify a state when no selector can (matched case-insensitively)."""

    rate_limit: list[str] = []
    logged_out: list[str] = []
    captcha: list[str] = []
    error: list[str] = []
    retry_after: str = r"(\d+)\s*(?:s\b|sec|second)"  # regex on the rate-limit text
    retry_after_default: float = 60.0


class Login(Struct):
    """Signed out when any of these holds (besides selectors.logged_out)."""

    url_patterns: list[str] = []  # regexes searched in the page's URL
    title_markers: list[str] = []  # substrings of the page title
    cookies: list[str] = []  # cookie names the signed-in context must hold
    # localStorage keys the site's page must hold (DeepSeek keeps its login
    # in localStorage "userToken", not in a cookie)
    local_storage: list[str] = []


class StatusRule(Struct):
    """How the tapped response's status and error text map to a state.

    Rules are tried in order; the first whose status (any, when empty) and
    markers (any, when empty; searched in the body or error text) match wins.
    """

    state: Literal["rate_limited", "logged_out", "captcha", "upstream_error", "error"]
    status: list[int] = []
    markers: list[str] = []
    # Send once more from a fresh chat (the page makes a fresh token) before
    # the state holds; only before the answer's first event. At most 2.
    retry: Annotated[int, Meta(ge=0, le=2)] = 0


class Timeouts(Struct):
    navigation: float = 30.0  # page load
    ready: float = 20.0  # until logged_in / logged_out shows
    first_delta: float = 60.0  # send -> first piece of the answer
    stall: float = 30.0  # no new delta for this long: the generation is stalled
    request: float = 300.0  # a whole request, queue wait excluded
    # The prompt typed and sent; and a stop answered. A page that takes
    # longer is jammed (its renderer busy for good): it is replaced.
    send: float = 20.0
    # After an answer, before the next chat opens: this long for the page to
    # go idle (at most half of `send`), then its stop button is pressed.
    settle: float = 5.0
    # After a captcha: no work for `captcha_probe` seconds, then one request
    # probes; each failed probe doubles the wait, up to `captcha_probe_max`.
    captcha_probe: float = 300.0
    captcha_probe_max: float = 3600.0


class Stream(StreamOptions):
    """Where deltas come from: the answer node in the DOM, or the page's own
    network request for the answer (survives UI redesigns), decoded by a
    named decoder (instance_runner/sites/decoders) with the options of
    StreamOptions (text_field, reasoning_field, ...)."""

    source: Literal["dom", "network", "fetch"] = "dom"  # "fetch": the old name of "network"
    url_contains: str = ""  # network: the request to tap (a substring of its URL)
    # network: URLs holding any of these are not it, though they hold
    # url_contains (ChatGPT's /backend-api/f/conversation/prepare goes first)
    url_excludes: list[str] = []
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


class Models(Struct):
    """Where the model list comes from, and how a model is chosen.

    source: "network" (a response the page fetches on load), "page" (a JS
    expression evaluated in the page, e.g. data the page embeds), "picker"
    (the picker's entries) or "static" (`static` below). Paths are dotted
    (decoders.base.at_path): `list_path` finds the entries, `id_path` and
    `name_path` their id and display name.
    """

    source: Literal["network", "page", "picker", "static"] = "picker"
    url_contains: str = ""  # network: the response to read
    expression: str = ""  # page: JS evaluated in the page, returning the JSON
    strip_prefix: str = ""  # a guard before the JSON (")]}'")
    list_path: str = ""
    id_path: str = "id"
    name_path: str = "name"
    id_strip: str = ""  # removed from the front of ids ("models/")
    static: list[str] = []  # ids used when nothing else can be read
    # pick: "select" (a <select>), "click" (open the picker, click the entry),
    # "type" (open the picker, type the name, take the matching option),
    # "localstorage" (write key, reload), "none"
    pick: Literal["select", "click", "type", "localstorage", "none"] = "select"
    storage_key: str = ""  # localstorage: the key (its value is a JSON object)
    storage_value: str = ""  # localstorage: JSON merged into it; {id} is the model id
    reload: bool = True  # localstorage: reload the page after writing
    check: Sel = ""  # after picking: its text must show the model's name or id


class Settings(Struct):
    """Generation settings the site exposes in its page (inputs)."""

    temperature: Sel = ""
    top_p: Sel = ""
    max_tokens: Sel = ""
    stop: Sel = ""  # typed, one sequence at a time, each followed by Enter
    stop_clear: Sel = ""  # buttons that remove the stop sequences already set
    system: Sel = ""  # the system instruction field
    system_open: Sel = ""  # what reveals it, when hidden


class Toggle(Struct):
    """A switch on the page to have on in every fresh chat (AI Studio's
    "Temporary chat", so that no chat is saved to the account): toggles.py."""

    name: str  # for logs and `mictl site check`
    on: Sel  # present (visible) only while the switch is on
    click: Sel  # what turns it on
    menu: Sel = ""  # what opens the menu `click` is in, when it is not in view
    required: bool = False  # could not turn it on: fail the request (else a warning)
    # Driven per request by the model asked for: on for these model ids
    # (globs), off for every other; one that will not switch fails the
    # request. Empty: on in every fresh chat.
    models: list[str] = []


class Upload(Struct):
    """How images go into the page (sites/upload.py). A site file without
    [upload] takes none: a request with an image gets a 400 naming the site.

    method: "input" (a file input, found after clicking `open` in order: an
    attach button, a menu entry), "paste" (a paste of the files onto
    `target`, the prompt box by default) or "drop" (dropped there).

    A file input without `multiple` takes one file: `one_at_a_time` opens
    it and sets it for each file. A notice the site shows as a file is taken
    (a consent asked once) is clicked away by `dismiss`; a menu the clicks
    left open, whose backdrop would catch the next click, is closed with the
    key `close` while `left_open` shows.
    """

    method: Literal["input", "paste", "drop"] = "input"
    open: list[Sel] = []  # clicked in order before the file input is looked for
    input: Sel = "input[type=file]"  # waited for (attached) after the clicks
    one_at_a_time: bool = False  # the input takes one file: clicks and input per file
    dismiss: Sel = ""  # plain CSS: clicked whenever it shows while a file goes in
    left_open: Sel = ""  # after each file: while it shows, the key `close` is pressed
    close: str = "Escape"
    target: Sel = ""  # paste / drop: where (default: the prompt box)
    accept: list[str] = msgspec.field(
        default_factory=lambda: ["image/png", "image/jpeg", "image/gif", "image/webp"]
    )
    max_bytes: int = 20 * 1024 * 1024  # the site's own limit per file
    max_files: int = 10
    models: list[str] = msgspec.field(default_factory=lambda: ["*"])  # model ids (globs)
    chip: Sel = ""  # one per file taken must show before sending (fallbacks: the best count)
    timeout: float = 30.0  # for the files to be taken


class SiteFile(Struct, kw_only=True):
    name: str
    url: str
    selectors: Selectors
    notice: str = ""  # shown by `mictl site check` (e.g. "selectors unverified")
    verified: str = ""  # YYYY-MM-DD: when the file last passed against the site
    verified_against: str = ""  # what it was verified against (the live site, a replica)
    model_pick: Literal["select", "click", "none", ""] = ""  # old name of models.pick
    models: Models | list[str] = msgspec.field(default_factory=Models)
    # before each request: nothing, reload, click new chat, or open `reset_url` (default url)
    reset: Literal["none", "reload", "new_chat", "goto"] = "none"
    reset_url: str = ""
    # How the send button is pressed: a real mouse click through DevTools
    # (trusted), or the button's click() from the page script that typed the
    # prompt (one page round trip less, but untrusted: for sites that take it
    # and empty their prompt box as they send; a click the site ignores is
    # made again with the mouse). instance_runner/sites/send.py.
    press: Literal["mouse", "script"] = "mouse"
    moved_from: list[str] = []  # old hosts whose cookies still sign in here (moved.py)
    moved_to: str = ""  # the host they sign in to (default: the url's host)
    # Which browser the site needs: the light headless shell, full Chromium in
    # new headless mode, or full Chromium headed (under Xvfb when there is no
    # display) for sites whose bot checks distrust headless browsers.
    browser: Literal["headless-shell", "headless", "headed"] = "headless-shell"
    markers: Markers = msgspec.field(default_factory=Markers)
    toggle: list[Toggle] = []  # [[toggle]]: switches to have on in each fresh chat
    login: Login = msgspec.field(default_factory=Login)
    status: list[StatusRule] = []
    settings: Settings = msgspec.field(default_factory=Settings)
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)
    stream: Stream = msgspec.field(default_factory=Stream)
    upload: Upload | None = None  # [upload]: how images go in; none: the site takes none
    # A TOML file whose keys replace those of the tool and JSON prompt
    # template (instance_runner/speak/template.toml); relative to this file.
    speak_template: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.models, list):  # the old form: a static list
            self.models = Models(source="static", static=self.models, pick="none")
        if self.model_pick:
            self.models.pick = self.model_pick
            if self.model_pick in ("select", "click") and self.models.source == "static":
                self.models.source = "picker"

    @property
    def model_config(self) -> Models:
        assert isinstance(self.models, Models)
        return self.models
