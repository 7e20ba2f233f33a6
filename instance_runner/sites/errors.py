"""What can go wrong on a site, as typed exceptions (translated to HTTP at the edge)."""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """An exception's message, first line only (Playwright's run to pages)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class SiteProblem(Exception):
    """Base: something the site did, not the client."""

    # Times to send again from a fresh chat before this holds (a status
    # rule's `retry`): only before the answer's first event.
    retry = 0


class RateLimited(SiteProblem):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LoggedOut(SiteProblem):
    pass


class SiteError(SiteProblem):
    pass


class Stalled(SiteProblem):
    pass


class PageCrashed(SiteProblem):
    pass


class PageJammed(SiteProblem):
    """The page stopped answering (its renderer busy for good): it is replaced."""


class UnknownModel(Exception):
    def __init__(self, model: str, known: list[str]) -> None:
        super().__init__(f"model {model!r} is not served here (known: {', '.join(known)})")
        self.model = model
        self.known = known


class Captcha(SiteProblem):
    """The site wants a person (a captcha, a human check): not a crash, not a logout."""


class UpstreamError(SiteProblem):
    """The site's own backend failed (a 5xx): another account may well answer."""
