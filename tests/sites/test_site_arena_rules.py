"""lmarena.toml's status rules on the replica's own error answers (no browser)."""

from __future__ import annotations

from instance_runner.sites import status
from instance_runner.sites.errors import Captcha, LoggedOut, RateLimited, UpstreamError
from instance_runner.sites.loader import load_site
from tests.replicas.arena import pages

SITE = load_site("lmarena")


def test_a_429_is_a_rate_limit_for_the_sites_retry_after() -> None:
    problem = status.classify(SITE, 429, '{"error":"Too Many Requests"}', {"retry-after": "30"})
    assert isinstance(problem, RateLimited) and problem.retry_after == 30


def test_recaptcha_and_both_cloudflare_pages_are_captcha_not_logout() -> None:
    for code, body in (
        (403, '{"error":"recaptcha validation failed"}'),
        (403, pages.CHALLENGE),
        (403, pages.BLOCKED),
    ):
        assert isinstance(status.classify(SITE, code, body), Captcha), body[:60]


def test_a_401_is_a_logout_and_a_5xx_an_upstream_error() -> None:
    assert isinstance(status.classify(SITE, 401, '{"error":"Unauthorized"}'), LoggedOut)
    assert isinstance(status.classify(SITE, 502, "Bad gateway"), UpstreamError)


def test_errors_inside_the_stream() -> None:
    # a3/ae lines and a0:"hasArenaError" reach the rules with no status.
    problem = status.classify(SITE, None, "An error occurred with the model provider")
    assert not isinstance(problem, Captcha | LoggedOut | RateLimited)


def test_only_a_failed_recaptcha_is_sent_again_before_the_hold() -> None:
    recaptcha = status.classify(SITE, 403, '{"error":"recaptcha validation failed"}')
    assert isinstance(recaptcha, Captcha) and recaptcha.retry == 1
    challenge = status.classify(SITE, 403, pages.CHALLENGE)
    assert isinstance(challenge, Captcha) and challenge.retry == 0
    assert status.classify(SITE, 429, "Too Many Requests").retry == 0
