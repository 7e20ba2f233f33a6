"""page.js's reports decoded into typed events (instance_runner/sites/events.py),
and a banner's meaning (sites/status.py `shown`), without a browser."""

from __future__ import annotations

import pytest

from instance_runner.sites import status
from instance_runner.sites.errors import Captcha, PageCrashed, RateLimited, SiteError
from instance_runner.sites.events import (
    BadPageEvent,
    Banner,
    CaptchaShown,
    Crashed,
    Delta,
    Done,
    ErrorShown,
    LoggedOutShown,
    Navigated,
    NetEnd,
    RateLimitShown,
    from_page,
)
from instance_runner.sites.loader import load_site


def test_every_kind_page_js_reports_becomes_its_struct() -> None:
    assert from_page("delta", "Hel") == Delta("Hel")
    assert from_page("done", None) == Done()
    assert from_page("rate_limit", "slow down") == RateLimitShown("slow down")
    assert from_page("captcha", "prove it") == CaptchaShown("prove it")
    assert from_page("error", "oops") == ErrorShown("oops")
    assert from_page("logged_out", "") == LoggedOutShown("")
    assert all(
        isinstance(from_page(k, "t"), Banner)
        for k in ("rate_limit", "captcha", "error", "logged_out")
    )
    assert from_page("delta", "x").kind == "delta" and NetEnd().kind == "net_end"


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("delta", None),
        ("delta", 3),
        ("banner", "x"),
        ("net_end", None),
        (None, None),
        ("error", []),
    ],
)
def test_what_page_js_never_reports_is_refused(kind: object, data: object) -> None:
    # (the tap's and Playwright's events never come through the binding)
    with pytest.raises(BadPageEvent):
        from_page(kind, data)


def test_a_banner_alone_decides_but_a_sign_out_is_for_the_page_to_explain() -> None:
    demo = load_site("demo")
    assert isinstance(status.shown(demo, RateLimitShown("slow down")), RateLimited)
    assert isinstance(status.shown(demo, CaptchaShown("prove it")), Captcha)
    assert type(status.shown(demo, ErrorShown("boom"))) is SiteError
    assert isinstance(status.shown(demo, Crashed()), PageCrashed)
    # An error banner in the site's rate-limit words is a rate limit.
    assert demo.markers.rate_limit == ["rate limit"]
    assert isinstance(status.shown(demo, ErrorShown("a Rate Limit, sorry")), RateLimited)
    assert status.shown(demo, LoggedOutShown("")) is None
    assert status.shown(demo, Navigated()) is None


def test_a_refused_event_is_logged_without_its_data() -> None:
    # (the data of a page event may be a piece of an answer: never logged)
    with pytest.raises(BadPageEvent) as refused:
        from_page("delta", {"secret answer": 1})
    assert "secret answer" not in str(refused.value) and "delta" in str(refused.value)
