"""What a page reports while it answers, as typed events.

Three sources feed one adapter's queue: page.js through the exposed binding
(answer deltas, done, banners: decoded here by `from_page`, the one place
its untyped (kind, data) pairs come in), Playwright's page events (a load,
a crash), and the network tap (tap.py: the answer request's status, bytes,
end or failure). `answer.Answer.on` reads them one at a time.

Every event is tagged with the name page.js and the logs use (`kind`).
"""

from __future__ import annotations

from typing import Any

import msgspec


class _Tagged(msgspec.Struct, frozen=True, tag_field="kind"):
    @property
    def kind(self) -> str:
        return str(self.__struct_config__.tag)


# ------------------------------------------------------- page.js (the DOM)


class Delta(_Tagged, frozen=True, tag="delta"):
    """More of the answer's text, read from the DOM."""

    text: str


class Done(_Tagged, frozen=True, tag="done"):
    """The answer in the DOM is complete."""


class Banner(_Tagged, frozen=True):
    """The site shows a notice (its text) where an answer should be."""

    text: str = ""


class RateLimitShown(Banner, frozen=True, tag="rate_limit"):
    pass


class CaptchaShown(Banner, frozen=True, tag="captcha"):
    pass


class ErrorShown(Banner, frozen=True, tag="error"):
    pass


class LoggedOutShown(Banner, frozen=True, tag="logged_out"):
    pass


PageEvent = Delta | Done | RateLimitShown | CaptchaShown | ErrorShown | LoggedOutShown


# ----------------------------------------------------- the page (Playwright)


class Navigated(_Tagged, frozen=True, tag="navigated"):
    """The page loaded a document (it left the chat, or saved it under a new URL)."""


class Crashed(_Tagged, frozen=True, tag="crashed"):
    """The page's renderer crashed."""


# ------------------------------------------------------- the network tap


class NetResponse(_Tagged, frozen=True, tag="net_response"):
    status: int
    headers: dict[str, str] = {}  # names lower-cased


class NetData(_Tagged, frozen=True, tag="net_data"):
    data: bytes


class NetEnd(_Tagged, frozen=True, tag="net_end"):
    pass


class NetFailed(_Tagged, frozen=True, tag="net_failed"):
    error: str


SiteEvent = PageEvent | Navigated | Crashed | NetResponse | NetData | NetEnd | NetFailed


class BadPageEvent(ValueError):
    pass


def from_page(kind: Any, data: Any) -> PageEvent:
    """page.js's `report(kind, data)` as a typed event (BadPageEvent: not one
    of its kinds, or data of the wrong shape)."""
    try:
        return msgspec.convert({"kind": kind, "text": data}, PageEvent)
    except msgspec.ValidationError as exc:
        # (the kind alone: the data may be a piece of an answer)
        raise BadPageEvent(f"page event {str(kind)[:40]!r}: {exc}") from None


__all__ = [
    "BadPageEvent",
    "Banner",
    "CaptchaShown",
    "Crashed",
    "Delta",
    "Done",
    "ErrorShown",
    "LoggedOutShown",
    "Navigated",
    "NetData",
    "NetEnd",
    "NetFailed",
    "NetResponse",
    "PageEvent",
    "RateLimitShown",
    "SiteEvent",
    "from_page",
]
