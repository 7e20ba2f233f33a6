"""The tapped answer request's status and error text -> a site problem,
by the site file's `[[status]]` rules (or these defaults, in order):

    429                          -> rate_limited
    401, 403 with a captcha text -> captcha
    401, 403                     -> logged_out
    5xx                          -> upstream_error
    anything else >= 400         -> error
"""

from __future__ import annotations

import email.utils
import re
import time

from instance_runner.sites.errors import (
    Captcha,
    LoggedOut,
    PageCrashed,
    RateLimited,
    SiteError,
    SiteProblem,
    UpstreamError,
)
from instance_runner.sites.events import (
    CaptchaShown,
    Crashed,
    ErrorShown,
    RateLimitShown,
    SiteEvent,
)
from instance_runner.sites.types import SiteFile, StatusRule

LOGGED_OUT = "the site's session has expired: sign in again and refresh the profile"


def default_rules(site: SiteFile) -> list[StatusRule]:
    captcha = site.markers.captcha
    return [
        StatusRule(state="rate_limited", status=[429]),
        *([StatusRule(state="captcha", status=[401, 403], markers=captcha)] if captcha else []),
        StatusRule(state="logged_out", status=[401, 403]),
        StatusRule(state="upstream_error", status=list(range(500, 600))),
    ]


def _matches(rule: StatusRule, status: int | None, text: str) -> bool:
    if rule.status:
        if status not in rule.status:
            return False
    elif status is not None and status < 400:
        return False  # a rule without statuses: any error status, or an error in the stream
    if rule.markers:
        lowered = text.lower()
        return any(m.lower() in lowered for m in rule.markers)
    return True


def classify(
    site: SiteFile, status: int | None, text: str, headers: dict[str, str] | None = None
) -> SiteProblem:
    """The problem a failed answer request (or an error in its stream, status
    None) means; markers are matched in `text` (its body, or the error)."""
    text = text.strip()
    problem, retry = None, 0
    for rule in [*site.status, *default_rules(site)]:
        if _matches(rule, status, text):
            problem, retry = _problem(site, rule, status, text, headers or {}), rule.retry
            break
    problem = problem or _by_markers(site, status, text, headers or {})
    problem.retry = retry
    return problem


def _by_markers(
    site: SiteFile, status: int | None, text: str, headers: dict[str, str]
) -> SiteProblem:
    short, m, lowered = text[:300], site.markers, text.lower()
    if any(x.lower() in lowered for x in m.rate_limit):
        return RateLimited(short, retry_after(site, text, headers))
    if any(x.lower() in lowered for x in m.captcha):
        return Captcha(f"the site asks for a human check: {short}")
    where = f"HTTP {status}" if status else "in its stream"
    return SiteError(f"the site's answer request failed ({where}): {short}")


def _problem(
    site: SiteFile, rule: StatusRule, status: int | None, text: str, headers: dict[str, str]
) -> SiteProblem | None:
    """What a matching rule says (None: "error", the markers decide)."""
    short = text[:300]
    if rule.state == "rate_limited":
        return RateLimited(short or "rate limited", retry_after(site, text, headers))
    if rule.state == "logged_out":
        return LoggedOut(LOGGED_OUT)
    if rule.state == "captcha":
        return Captcha(f"the site asks for a human check: {short}")
    if rule.state == "upstream_error":
        return UpstreamError(f"the site's backend failed ({status}): {short}")
    return None


def retry_after(site: SiteFile, text: str, headers: dict[str, str]) -> float:
    """Seconds to wait: the Retry-After header, a time in the text, or the default."""
    header = headers.get("retry-after", "").strip()
    if header:
        if header.isdigit():
            return float(header)
        try:
            return max(1.0, email.utils.parsedate_to_datetime(header).timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    found = re.search(site.markers.retry_after, text, re.IGNORECASE)
    return float(found.group(1)) if found else site.markers.retry_after_default


def shown(site: SiteFile, event: SiteEvent) -> SiteProblem | None:
    """What a banner on the page (or a crash) says, when that alone decides
    (None: a sign-out or a navigation, which the page must explain)."""
    limited = site.markers.rate_limit
    match event:
        case RateLimitShown(text=text):
            return RateLimited(text or "rate limited", retry_after(site, text, {}))
        case ErrorShown(text=text) if any(x.lower() in text.lower() for x in limited):
            return RateLimited(text or "rate limited", retry_after(site, text, {}))
        case CaptchaShown(text=text):
            return Captcha(f"the site asks for a human check: {text[:200]}")
        case ErrorShown(text=text):
            return SiteError(text or "the site showed an error")
        case Crashed():
            return PageCrashed("the page crashed")
    return None
