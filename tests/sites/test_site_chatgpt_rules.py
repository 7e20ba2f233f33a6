"""chatgpt.toml's rules without a browser: its status rules on the
replica's own error answers, and the signed-out page."""

from __future__ import annotations

from instance_runner.sites import status
from instance_runner.sites.errors import Captcha, LoggedOut, RateLimited, UpstreamError
from instance_runner.sites.loader import load_site
from instance_runner.sites.login import Seen, judge
from instance_runner.tools.site_record import _fill_tapped

SITE = load_site("chatgpt")
LIMIT = "You've reached our limit of messages per hour. Please try again later."


def test_statuses_of_the_conversation() -> None:
    assert isinstance(status.classify(SITE, 429, f'{{"detail": "{LIMIT}"}}'), RateLimited)
    page = "<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>"
    assert isinstance(status.classify(SITE, 403, page), Captcha)
    assert isinstance(
        status.classify(SITE, 401, '{"detail": {"code": "token_expired"}}'), LoggedOut
    )
    assert isinstance(status.classify(SITE, 502, "Bad gateway"), UpstreamError)


def test_the_limit_inside_the_stream_is_a_rate_limit() -> None:
    assert isinstance(status.classify(SITE, None, LIMIT), RateLimited)


def test_the_logged_out_page_and_the_signed_in_one() -> None:
    home = "https://chatgpt.com/?temporary-chat=true"
    cookie = "__Secure-next-auth.session-token"
    found = {"signed_in": 'button[data-testid="profile-button"]', "ready": "#prompt-textarea"}
    signed_in = judge(Seen(url=home, title="ChatGPT", found=found, cookies=[cookie]), SITE)
    assert signed_in.signed_in and signed_in.signed_out is None
    visitor = {"logged_out": 'button[data-testid="login-button"]', "ready": "#prompt-textarea"}
    gone = judge(Seen(url=home, title="ChatGPT", found=visitor, cookies=[]), SITE)
    assert not gone.signed_in and gone.signed_out
    login = judge(Seen(url="https://chatgpt.com/auth/login"), SITE)
    assert login.signed_out


def test_a_recordings_answer_body_goes_to_the_conversation_not_prepare() -> None:
    """site record fills the tapped answer into its HAR entry: prepare's URL
    holds url_contains too, and url_excludes keeps it out."""
    base = "https://chatgpt.com/backend-api"
    urls = [f"{base}/sentinel/chat-requirements", f"{base}/f/conversation/prepare",
            f"{base}/f/conversation", f"{base}/conversations?offset=0"]  # fmt: skip
    har = {"log": {"entries": [{"request": {"url": u, "method": "POST"}} for u in urls]}}
    _fill_tapped(har, SITE, [bytearray(b"data: [DONE]\n\n")])
    filled = [e["request"]["url"] for e in har["log"]["entries"] if "response" in e]
    assert filled == [f"{base}/f/conversation"]
