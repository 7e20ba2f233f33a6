"""gemini.toml's rules without a browser: its status rules on the decoder's
error events and the replica's own error answers; and the page token the
page posts (`at`) counted a secret wherever a recording shows it."""

from __future__ import annotations

from instance_runner.sites import status
from instance_runner.sites.decoders import DECODERS
from instance_runner.sites.errors import Captcha, LoggedOut, RateLimited, UpstreamError
from instance_runner.sites.loader import load_site
from instance_runner.tools.scrub import Scrubber, Secrets, har_secrets
from tests.replicas.gemini import answers
from tests.replicas.gemini.app import SORRY

SITE = load_site("gemini")


def stream_error(code: int) -> str:
    decoder = DECODERS["gemini"](None)  # type: ignore[arg-type]
    (event,) = decoder.feed(b")]}'\n" + answers.frame([answers.error(code)]))
    assert event.kind == "error"
    return event.text


def test_error_codes_in_the_stream() -> None:
    assert isinstance(status.classify(SITE, None, stream_error(1037)), RateLimited)
    assert isinstance(status.classify(SITE, None, stream_error(1060)), Captcha)
    assert isinstance(status.classify(SITE, None, stream_error(1013)), UpstreamError)
    other = status.classify(SITE, None, stream_error(1052))
    assert not isinstance(other, RateLimited | Captcha | LoggedOut | UpstreamError)


def test_statuses_of_stream_generate() -> None:
    assert isinstance(status.classify(SITE, 429, SORRY), Captcha)  # unusual traffic
    assert isinstance(status.classify(SITE, 429, "Too Many Requests"), RateLimited)
    assert isinstance(status.classify(SITE, 401, ""), LoggedOut)
    assert isinstance(status.classify(SITE, 503, "unavailable"), UpstreamError)


def test_a_posted_form_token_is_a_secret_in_every_body() -> None:
    page = f'<script>window.WIZ_global_data = {{"SNlM0e": "{answers.AT_TOKEN}"}};</script>'
    form = f"at={answers.AT_TOKEN}&f.req=%5Bnull%5D"
    har = {"log": {"entries": [
        {"request": {"url": "https://gemini.google.com/app"},
         "response": {"content": {"text": page, "mimeType": "text/html"}}},
        {"request": {"url": "https://gemini.google.com/x", "postData": {
            "mimeType": "application/x-www-form-urlencoded;charset=utf-8", "text": form}},
         "response": {}},
    ]}}  # fmt: skip
    secrets = Secrets()
    har_secrets(har, secrets)
    assert answers.AT_TOKEN in secrets.literals
    assert answers.AT_TOKEN not in Scrubber(secrets).text(page)
