"""Remove secrets from a recording before it touches the disk. Pure functions.

What counts as secret: every cookie value (the profile's, the ones the site
set, request Cookie headers), authorization-like header values, tokens in
URLs, form fields and JSON bodies (by name), e-mail addresses, and the
account's name (found next to its e-mail address, or given). Known values
are removed wherever they appear, also URL- or JSON-escaped, so a token
echoed inside a page or a script goes too.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

import msgspec

REDACTED = "[redacted]"
EMAIL_OUT = "user@redacted.invalid"
NAME_OUT = "[account name]"
MIN_LITERAL = 6  # shorter known values ("1", "en") are no secret and too common to replace

SECRET_HEADERS = re.compile(
    r"^(authorization|proxy-authorization|cookie|set-cookie|x-goog-api-key|x-api-key|"
    r"x-csrf-token|x-xsrf-token|x-client-data|x-goog-authuser-token|.*-token|.*-secret)$",
    re.IGNORECASE,
)
# Names of URL parameters, form fields and JSON keys that hold tokens.
SECRET_NAMES = re.compile(
    r"(token|secret|passw|api_?key|^key$|^auth$|authorization|session|^sid$|signature|^sig$|"
    r"^code$|^at$|xsrf|csrf|credential|^email$|cookie)",
    re.IGNORECASE,
)
# An address ends in a letters-only top-level label that is not a file type
# ("icon@2x.png", "lit@2.8.0" in a script are no addresses).
EMAIL = re.compile(
    r"[A-Za-z0-9._%+-]+(?:@|%40|\\u0040|&#64;)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
    r"\.(?!(?:png|jpe?g|gif|svg|webp|ico|js|mjs|css|map|json|html?|woff2?|ttf)\b)[A-Za-z]{2,}\b"
)
# "Jane Doe (jane@x.com)", "Jane Doe <jane@x.com>", "Google Account: Jane Doe &#10;(jane@...)"
NAME_BY_EMAIL = re.compile(
    r"([A-Z][\w'\u2019.-]*(?:[ \t][A-Z][\w'\u2019.-]*){0,3})\s*(?:&#10;|\\n)?\s*[(<]\s*"
    r"[A-Za-z0-9._%+-]+(?:@|%40|\\u0040)"
)


class Secrets(msgspec.Struct):
    literals: set[str] = msgspec.field(default_factory=set)  # values to remove anywhere
    names: set[str] = msgspec.field(default_factory=set)  # the account's name(s)

    def add(self, *values: str | None) -> None:
        for v in values:
            if v and len(v) >= MIN_LITERAL and v != REDACTED:
                self.literals.add(v)


def _forms(value: str) -> set[str]:
    """A value as it may appear: raw, URL-escaped, JSON-escaped."""
    return {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}


class Scrubber:
    def __init__(self, secrets: Secrets) -> None:
        self.secrets = secrets
        pairs = [(f, REDACTED) for v in secrets.literals for f in _forms(v)]
        pairs += [(f, NAME_OUT) for v in secrets.names for f in _forms(v) if len(v) >= 3]
        pairs.sort(key=lambda p: -len(p[0]))  # longest first: no half-replaced value
        self._pairs = [p for p in pairs if p[0]]
        self._literal = (
            re.compile("|".join(re.escape(f) for f, _ in self._pairs)) if self._pairs else None
        )
        self._map = dict(self._pairs)
        self.count = 0

    def text(self, text: str) -> str:
        """Every known value, e-mail address and name out of `text`."""
        if self._literal is not None:
            text, n = self._literal.subn(lambda m: self._map[m.group(0)], text)
            self.count += n
        text, n = EMAIL.subn(EMAIL_OUT, text)
        self.count += n
        return text

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.query:
            query = [(k, REDACTED if SECRET_NAMES.search(k) else v) for k, v in _qsl(parts.query)]
            url = urlunsplit(parts._replace(query=urlencode(query, safe="[]:,")))
        return self.text(url)

    def body(self, text: str, mime: str = "") -> str:
        """A request or response body: token fields by name, then known values."""
        stripped = text.lstrip()
        if stripped[:1] in "[{":
            try:
                data = json.loads(text)
            except ValueError:
                pass
            else:
                clean = _json_fields(data)
                if clean != data:  # else keep the site's own formatting
                    text = json.dumps(clean, ensure_ascii=False)
                return self.text(text)
        if "x-www-form-urlencoded" in mime:
            pairs = [(k, REDACTED if SECRET_NAMES.search(k) else v) for k, v in _qsl(text)]
            return self.text(urlencode(pairs))
        return self.text(text)


def _qsl(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def _json_fields(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            k: (REDACTED if SECRET_NAMES.search(k) and isinstance(v, str) else _json_fields(v))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_json_fields(v) for v in data]
    return data


# ------------------------------------------------------------------ HAR


def har_secrets(har: dict[str, Any], secrets: Secrets) -> None:
    """Collect the values a HAR itself shows to be secret."""
    for entry in har.get("log", {}).get("entries", []):
        for side in (entry.get("request", {}), entry.get("response", {})):
            for h in side.get("headers", []):
                if SECRET_HEADERS.match(h.get("name", "")):
                    value = h.get("value", "")
                    secrets.add(value)
                    # "Bearer X", "SAPISIDHASH 1_abc": the credential alone too
                    credential = value.split(" ", 1)[1:]
                    secrets.add(*credential)
                    # its long parts alone too (a hash), not a timestamp beside it
                    parts = re.split(r"[ _:]", "".join(credential))
                    secrets.add(*(p for p in parts if len(p) >= 16))
                    if h["name"].lower() in ("cookie", "set-cookie"):
                        for c in value.split(";" if h["name"].lower() == "cookie" else "\n"):
                            secrets.add(c.split(";")[0].partition("=")[2].strip())
            for c in side.get("cookies", []):
                secrets.add(c.get("value"))
            for q in side.get("queryString", []):
                if SECRET_NAMES.search(q.get("name", "")):
                    secrets.add(q.get("value"))
        # A token the page posts in a form field (Gemini's `at`, which it
        # reads from its own HTML): a secret wherever else it shows.
        post = entry.get("request", {}).get("postData") or {}
        fields = [(p.get("name", ""), p.get("value")) for p in post.get("params") or []]
        if "x-www-form-urlencoded" in post.get("mimeType", "") and post.get("text"):
            fields += _qsl(post["text"])
        secrets.add(*(v for k, v in fields if SECRET_NAMES.search(k)))


def names_near_emails(texts: Iterable[str]) -> set[str]:
    """Account names shown next to an e-mail address."""
    found = set()
    for text in texts:
        for m in NAME_BY_EMAIL.finditer(text):
            name = m.group(1).strip()
            found.add(name.split(":")[-1].strip())
    return {n for n in found if len(n) >= 3}


def scrub_har(har: dict[str, Any], scrub: Scrubber) -> dict[str, Any]:
    def redact(item: dict[str, Any]) -> None:
        if item.get("value") not in (None, "", REDACTED):
            item["value"] = REDACTED
            scrub.count += 1

    for entry in har.get("log", {}).get("entries", []):
        req, res = entry.get("request", {}), entry.get("response", {})
        for side in (req, res):
            for h in side.get("headers", []):
                if SECRET_HEADERS.match(h.get("name", "")):
                    redact(h)
            for c in side.get("cookies", []):
                redact(c)
        for q in req.get("queryString", []):
            if SECRET_NAMES.search(q.get("name", "")):
                redact(q)
        if "url" in req:
            req["url"] = scrub.url(req["url"])
        post = req.get("postData")
        if post:
            for p in post.get("params", []) or []:
                if SECRET_NAMES.search(p.get("name", "")):
                    redact(p)
            if "text" in post:
                post["text"] = scrub.body(post["text"], post.get("mimeType", ""))
        content = res.get("content", {})
        if content.get("text"):
            mime = content.get("mimeType", "")
            if content.get("encoding") == "base64":
                raw = base64.b64decode(content["text"])
                if _textual(mime, raw):
                    clean = scrub.body(raw.decode("utf-8", "replace"), mime).encode()
                    content["text"] = base64.b64encode(clean).decode()
            else:
                content["text"] = scrub.body(content["text"], mime)
        if res.get("redirectURL"):
            res["redirectURL"] = scrub.url(res["redirectURL"])
    return _strings(har, scrub)  # everything else: titles, pages, headers' other values


def _textual(mime: str, raw: bytes) -> bool:
    if any(t in mime for t in ("text", "json", "javascript", "xml", "protobuf", "html")):
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _strings(data: Any, scrub: Scrubber) -> Any:
    if isinstance(data, dict):
        return {k: _strings(v, scrub) for k, v in data.items()}
    if isinstance(data, list):
        return [_strings(v, scrub) for v in data]
    if isinstance(data, str):
        return scrub.text(data)
    return data


def leaks(blobs: Iterable[bytes], secrets: Secrets) -> list[str]:
    """Which kinds of secret are still in the output (a last check, no values)."""
    found = []
    for blob in blobs:
        text = blob.decode("utf-8", "replace")
        if any(v in text for v in secrets.literals):
            found.append("a cookie or token value")
        if any(n in text for n in secrets.names):
            found.append("the account's name")
        if any(m.group(0) != EMAIL_OUT for m in EMAIL.finditer(text)):
            found.append("an e-mail address")
    return sorted(set(found))
