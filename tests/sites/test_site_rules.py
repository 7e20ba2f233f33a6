"""The site engine's pure parts: status rules, model lists, fallback selectors."""

from __future__ import annotations

import json

import pytest

from instance_runner.sites import models, sel
from instance_runner.sites.errors import (
    Captcha,
    LoggedOut,
    RateLimited,
    SiteError,
    UpstreamError,
)
from instance_runner.sites.loader import load_site
from instance_runner.sites.status import classify

AISTUDIO = load_site("aistudio")
DEMO = load_site("demo")


@pytest.mark.parametrize(
    ("status", "text", "headers", "kind"),
    [
        (429, '{"error": {"message": "You\'ve exceeded your quota"}}', {}, RateLimited),
        (403, "Our systems have detected unusual traffic", {}, Captcha),
        (403, '{"error": {"status": "PERMISSION_DENIED"}}', {}, LoggedOut),
        (401, "Request is missing credentials.", {}, LoggedOut),
        (500, "An internal error has occurred.", {}, UpstreamError),
        (503, "", {}, UpstreamError),
        (None, "RESOURCE_EXHAUSTED: quota", {}, RateLimited),  # an error inside the stream
        (None, "something else broke", {}, SiteError),
        (400, "bad request", {}, SiteError),
    ],
)
def test_aistudio_status_rules(
    status: int | None, text: str, headers: dict[str, str], kind: type
) -> None:
    assert type(classify(AISTUDIO, status, text, headers)) is kind


def test_retry_after_header_then_text_then_default() -> None:
    limited = classify(AISTUDIO, 429, "slow down", {"retry-after": "42"})
    assert isinstance(limited, RateLimited) and limited.retry_after == 42
    limited = classify(DEMO, 429, "rate limit: try again in 17s", {})
    assert isinstance(limited, RateLimited) and limited.retry_after == 17
    limited = classify(AISTUDIO, 429, "quota", {})
    assert isinstance(limited, RateLimited) and limited.retry_after == 60


def test_default_rules_without_captcha_markers_make_403_a_logout() -> None:
    assert isinstance(classify(DEMO, 403, "unusual traffic", {}), LoggedOut)
    assert isinstance(classify(DEMO, 502, "", {}), UpstreamError)


def test_list_models_response_parses_ids_and_names() -> None:
    body = ")]}'\n" + json.dumps(
        [[["models/gemini-2.5-pro", None, "001", "Gemini 2.5 Pro"], ["models/x", None, "1", None]]]
    )
    found = models.parse_list(body.encode(), AISTUDIO.model_config)
    assert found == [
        models.SiteModel("gemini-2.5-pro", "Gemini 2.5 Pro"),
        models.SiteModel("x", "x"),
    ]
    assert models.resolve("GEMINI 2.5 PRO", found) == found[0]
    assert models.resolve("nope", found) is None
    assert models.parse_list(b"not json", AISTUDIO.model_config) == []


def test_selectors_take_one_string_or_fallbacks() -> None:
    assert sel.options("a") == ["a"] and sel.options("") == []
    assert sel.options(["a", "", "b"]) == ["a", "b"]
    assert sel.any_of(["a", "b"]) == "a, b"
    assert len(sel.options(AISTUDIO.selectors.prompt)) == 5
