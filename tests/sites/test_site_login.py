"""What one look at a page says about its session: pure judgements over what
the page showed (login.judge), for the bundled AI Studio site file. The
browser side (one page script plus the cookies) is exercised by the replica
tests (test_site_aistudio.py: the missing cookie, the account chooser)."""

from __future__ import annotations

import msgspec
import pytest

from instance_runner.sites.loader import load_site
from instance_runner.sites.login import Seen, judge

SITE = load_site("aistudio")
HOME = "https://aistudio.google.com/prompts/new_chat"
PAGE = Seen(
    title="Google AI Studio",
    found={"signed_in": "ms-prompt-box", "ready": "x", "check": "x"},
    check="Gemini 2.5 Pro",
    url=HOME,
    cookies=["SID", "HSID"],
)


def test_a_signed_in_page() -> None:
    look = judge(PAGE, SITE)
    assert (look.signed_out, look.challenge, look.ready, look.signed_in, look.label) == (
        None,
        None,
        True,
        True,
        "Gemini 2.5 Pro",
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"url": "https://accounts.google.com/v3/signin/accountchooser?x=1"}, "sign-in URL"),
        ({"title": "Sign in - Google Accounts"}, "sign-in page"),
        ({"cookies": ["HSID"]}, "session cookie is missing (SID)"),
        ({"found": {"logged_out": 'input[type="email"]', "ready": "x"}}, "sign-in form"),
    ],
)
def test_each_sign_of_a_logout(change: dict, reason: str) -> None:
    look = judge(msgspec.structs.replace(PAGE, **change), SITE)
    assert look.signed_out and reason in look.signed_out
    assert not look.signed_in


def test_a_human_check_is_not_a_logout() -> None:
    seen = msgspec.structs.replace(PAGE, title="Captcha: unusual traffic")
    look = judge(seen, SITE)
    assert look.signed_out is None
    assert look.challenge and "human check" in look.challenge


def test_a_page_still_loading_is_not_ready() -> None:
    look = judge(Seen(url=HOME, cookies=["SID"]), SITE)
    assert (look.ready, look.signed_in, look.signed_out) == (False, False, None)
