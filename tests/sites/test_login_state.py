"""What the one-shot tools (mictl profile capture and check) make of one look
at a page: sites/login.py `state_of`, the same module and the same page
reading as an instance's `judge`, in the order the tools have always used
(a human check first, then signed out, then unknown or signed in)."""

from __future__ import annotations

import msgspec
import pytest

from instance_runner.sites.loader import load_site
from instance_runner.sites.login import Seen, has_rule, state_of
from instance_runner.sites.types import SiteFile

AISTUDIO = load_site("aistudio")  # selectors, a sign-in URL, title markers, cookies
HOME = "https://aistudio.google.com/prompts/new_chat"
IN = Seen(title="Google AI Studio", found={"signed_in": "ms-prompt-box"}, url=HOME,
          cookies=["SID", "HSID"])  # fmt: skip


def site(**changes: object) -> SiteFile:
    """The demo site file with its markers and [login] table changed."""
    demo = load_site("demo")
    markers = msgspec.structs.replace(demo.markers, **changes.pop("markers", {}))  # type: ignore[arg-type]
    login = msgspec.structs.replace(demo.login, **changes.pop("login", {}))  # type: ignore[arg-type]
    return msgspec.structs.replace(demo, markers=markers, login=login, **changes)


def test_a_signed_in_page_and_each_sign_of_a_signed_out_one() -> None:
    assert AISTUDIO.login.cookies and has_rule(AISTUDIO)
    assert state_of(IN, AISTUDIO) == "logged_in"
    for change in (
        {"url": "https://accounts.google.com/v3/signin/accountchooser?x=1"},
        {"title": "Sign in - Google Accounts"},
        {"cookies": ["HSID"]},
        {"found": {"signed_in": "ms-prompt-box", "logged_out": "form"}},
    ):
        assert state_of(msgspec.structs.replace(IN, **change), AISTUDIO) == "logged_out", change


def test_a_human_check_comes_before_everything_else() -> None:
    signed_out_too = msgspec.structs.replace(
        IN, found={"captcha": "iframe", "logged_out": "form"}, cookies=[]
    )
    assert state_of(signed_out_too, AISTUDIO) == "captcha"
    demo = site(markers={"captcha": ["are you human"]})
    assert state_of(Seen(body="Please: Are You Human?"), demo) == "captcha"


def test_without_its_sign_in_selector_a_page_is_unknown_unless_its_text_says_sign_in() -> None:
    demo = site(markers={"logged_out": ["please sign in"]})
    assert has_rule(demo)
    assert state_of(Seen(body="Loading..."), demo) == "unknown"
    assert state_of(Seen(body="Please sign in to go on"), demo) == "logged_out"
    # With the selector showing, a marker somewhere in the text is not enough.
    shown = Seen(found={"signed_in": "#prompt"}, body="please sign in")
    assert state_of(shown, demo) == "logged_in"


@pytest.mark.parametrize(("storage", "expected"), [(["token"], "logged_in"), ([], "logged_out")])
def test_a_login_kept_in_local_storage(storage: list[str], expected: str) -> None:
    demo = site(login={"local_storage": ["token"]})
    assert state_of(Seen(found={"signed_in": "#prompt"}, storage=storage), demo) == expected
