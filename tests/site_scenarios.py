"""Scenarios every site's test module runs against its own replica, with its
own models, prompts and answers: what a rate limit, a hung generation, a
signed-out profile and a challenge must look like through the instance's
port, whatever the site. `port` is a mictl-instance's; `sent()` counts the
answer requests the replica has had, so a request the instance holds back
can be seen not to reach the site."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.replicas.tls import Replica
from tests.site_kit import ask, client, health

Sent = Callable[[], int]
Expected = Callable[[str], str]  # the replica's answer to a prompt


def requests_of(harness: Any, rep: Replica) -> Sent:
    """The count of answer requests a replica has had (its harness's last_request)."""
    return lambda: harness.last_request(rep)["requests"]


def rate_limit_cools_that_model_only(
    port: int, sent: Sent, *, limited: str, prompt: str, other: str, expected: Expected
) -> openai.RateLimitError:
    """`prompt` to `limited`: 429 with a Retry-After of at least 30 s; `other`
    still answers; `limited` is refused again without the page being asked;
    /health cools that one model and stays ok. The first 429, for more checks."""
    with client(port) as c:
        with pytest.raises(openai.RateLimitError) as info:
            c.chat.completions.create(model=limited, messages=ask(prompt))
        assert int(info.value.response.headers["retry-after"]) >= 30
        still = c.chat.completions.create(model=other, messages=ask("still here"))
        assert still.choices[0].message.content == expected("still here")
        before = sent()
        with pytest.raises(openai.RateLimitError):  # cooling: the page is not even asked
            c.chat.completions.create(model=limited, messages=ask("again"))
        assert sent() == before
    report = health(port)
    assert set(report["cooling"]) == {limited}
    assert report["ok"] and report["state"] == "ok"
    return info.value


def hung_generation_is_504_then_the_next_works(port: int, model: str, expected: Expected) -> None:
    """An answer that never comes: 504 `stalled` (at the instance's stall
    timeout), and the next request on the same page is answered."""
    with client(port) as c:
        with pytest.raises(openai.APIStatusError) as info:
            c.chat.completions.create(model=model, messages=ask("[hang] wait"))
        assert info.value.status_code == 504 and info.value.code == "stalled"
        after = c.chat.completions.create(model=model, messages=ask("after the hang"))
    assert after.choices[0].message.content == expected("after the hang")


def signed_out_is_logged_out(port: int, model: str) -> None:
    """/health says logged_out (not ok); a request is 503 `logged_out`."""
    report = health(port)
    assert report["state"] == "logged_out" and report["logged_out"] and not report["ok"]
    with client(port) as c, pytest.raises(openai.APIStatusError) as info:
        c.chat.completions.create(model=model, messages=ask("hi"))
    assert info.value.status_code == 503 and info.value.code == "logged_out"


def challenge_is_captcha_and_holds(port: int, sent: Sent, model: str) -> None:
    """The site's challenge (the prompt "[captcha] hi" asks the replica for
    it): 503 `captcha`; the next request is held without asking the site;
    /health says captcha, not logged out."""
    with client(port) as c:
        with pytest.raises(openai.APIStatusError) as info:
            c.chat.completions.create(model=model, messages=ask("[captcha] hi"))
        assert info.value.status_code == 503 and info.value.code == "captcha"
        before = sent()
        with pytest.raises(openai.APIStatusError) as again:  # held: the site is not asked
            c.chat.completions.create(model=model, messages=ask("hi"))
        assert again.value.code == "captcha"
        assert sent() == before
    report = health(port)
    assert report["state"] == "captcha" and report["captcha"] and not report["logged_out"]
