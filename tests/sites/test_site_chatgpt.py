"""chatgpt.toml, unchanged, against the ChatGPT replica under its real
hostname: real Chromium, real mictl-instance processes, the openai client."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from tests.replicas.chatgpt import harness
from tests.replicas.chatgpt.answers import ACCESS, SESSION, answer, thinking
from tests.replicas.tls import Replica
from tests.site_kit import (
    ask,
    client,
    health,
    instance_fixture,
    record_and_replay,
    replica_fixture,
    site_check,
)
from tests.site_scenarios import (
    challenge_is_captcha_and_holds,
    hung_generation_is_504_then_the_next_works,
    rate_limit_cools_that_model_only,
    requests_of,
    signed_out_is_logged_out,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


rep = replica_fixture(harness, "chatgpt")


inst = instance_fixture(harness)


def test_models_are_the_slugs_of_the_pages_models_request(inst: int) -> None:
    with client(inst) as c:
        listed = {m.id for m in c.models.list().data}
    assert listed == {"gpt-4o", "o3", "gpt-4-5"}


def test_stream_and_non_stream_same_markdown_in_a_temporary_chat(inst: int, rep: Replica) -> None:
    prompt = "explain **streams** in two lines"
    with client(inst) as c:
        whole = c.chat.completions.create(model="gpt-4o", messages=ask(prompt))
        seen = harness.last_request(rep)
        chunks = list(c.chat.completions.create(model="gpt-4o", messages=ask(prompt), stream=True))
    expected = answer(prompt, "gpt-4o")
    assert "```python\n" in expected and "**You said:**" in expected  # Markdown to keep
    assert whole.choices[0].message.content == expected
    assert not whole.choices[0].message.model_extra.get("reasoning_content")
    deltas = [ch.choices[0].delta for ch in chunks if ch.choices]
    assert "".join(d.content or "" for d in deltas) == expected
    assert sum(1 for d in deltas if d.content) > 3  # streamed, not in one piece
    # A fresh, temporary chat each time (no conversation id; history and
    # training off), and the page's own sentinel and proof of work went along.
    again = harness.last_request(rep)
    for s in (seen, again):
        assert s["temporary"] is True and s["conversation"] is None and s["proof"] is True
        assert s["conduit"] is True  # the prepare request went first, and was not the answer
    assert again["requirements"] > seen["requirements"]


def test_reasoning_model_thoughts_are_reasoning_content(inst: int, rep: Replica) -> None:
    prompt = "think about **this**"
    with client(inst) as c:
        whole = c.chat.completions.create(model="o3", messages=ask(prompt))
        assert harness.last_request(rep)["model"] == "o3"
        chunks = list(c.chat.completions.create(model="o3", messages=ask(prompt), stream=True))
    expected = answer(prompt, "o3")
    message = whole.choices[0].message
    assert message.content == expected
    assert message.model_extra["reasoning_content"] == thinking(prompt)
    deltas = [ch.choices[0].delta for ch in chunks if ch.choices]
    reasoning = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
    assert "".join(d.content or "" for d in deltas) == expected
    assert reasoning == thinking(prompt)


def test_model_pick_in_the_switcher_both_ways(inst: int, rep: Replica) -> None:
    """The replica remembers the model across page loads, as the site does:
    each request must pick its own."""
    with client(inst) as c:
        for model in ("gpt-4-5", "gpt-4o", "o3", "gpt-4-5", "gpt-4o"):
            got = c.chat.completions.create(model=model, messages=ask(f"pick {model}"))
            assert harness.last_request(rep)["model"] == model
            assert got.choices[0].message.content == answer(f"pick {model}", model)


def test_rate_limit_is_429_and_cools_that_model_only(inst: int, rep: Replica) -> None:
    rate_limit_cools_that_model_only(
        inst, requests_of(harness, rep), limited="gpt-4-5", prompt="[ratelimit]", other="gpt-4o",
        expected=lambda p: answer(p, "gpt-4o"),
    )  # fmt: skip


def test_hung_generation_is_504_and_the_next_request_works(inst: int) -> None:
    hung_generation_is_504_then_the_next_works(inst, "gpt-4o", lambda p: answer(p, "gpt-4o"))


def test_no_session_is_the_logged_out_page(rep: Replica) -> None:
    profile = harness.profile(rep.tmp / "nobody.json", session=None)
    # A signed-out page never loads the model list; the first request waits
    # `ready` for it (the engine's, 30 s in the site file) before its 503.
    proc, port = harness.instance(rep.tmp, rep, "nobody", profile, ["--timeout", "ready=5"])
    try:
        signed_out_is_logged_out(port, "gpt-4o")
    finally:
        proc.stop()


def test_cloudflare_challenge_is_captcha_not_logout(rep: Replica) -> None:
    profile = harness.profile(rep.tmp / "human.json")
    proc, port = harness.instance(rep.tmp, rep, "human", profile)
    try:
        challenge_is_captcha_and_holds(port, requests_of(harness, rep), "gpt-4o")
    finally:
        proc.stop()


def test_a_challenged_page_is_captcha_from_the_start(rep: Replica) -> None:
    """Cloudflare's "Just a moment..." in place of the page itself."""
    harness.challenge(rep, True)
    try:
        profile = harness.profile(rep.tmp / "cf.json")
        proc, port = harness.instance(rep.tmp, rep, "cf", profile, ["--timeout", "ready=5"])
        try:
            with client(port) as c, pytest.raises(openai.APIStatusError) as info:
                c.chat.completions.create(model="gpt-4o", messages=ask("hi"))
            assert info.value.status_code == 503 and info.value.code == "captcha"
            report = health(port)
            assert report["state"] == "captcha" and not report["logged_out"]
        finally:
            proc.stop()
    finally:
        harness.challenge(rep, False)


def test_site_check_passes_and_names_the_matching_selectors(rep: Replica) -> None:
    report = site_check(rep, "chatgpt", harness.profile(rep.tmp / "check.json"))
    assert report["ok"] and report["logged_in"], report
    assert report["verified"] == "2026-12-07" and "replica" in report["verified_against"]
    matched = {r["name"]: r for r in report["results"]}
    assert matched["prompt"]["selector"] == "div#prompt-textarea.ProseMirror"
    assert matched["send"]["selector"] == 'button[data-testid="send-button"]'
    assert set(report["models"]) == {"gpt-4o", "o3", "gpt-4-5"}


def test_record_then_replay_round_trips_with_no_secret(rep: Replica) -> None:
    profile = harness.profile(rep.tmp / "record.json")
    meta, whole = record_and_replay(rep, "chatgpt", profile, "o3")
    assert SESSION.encode() not in whole and ACCESS.encode() not in whole
    assert meta["answer"] == answer("record me", "o3")


def test_a_model_the_switcher_will_not_show_fails_and_sends_nothing(rep: Replica) -> None:
    """The model check: pointed at an element that never names the model,
    o3 must not be answered by whatever the page had."""
    bundled = Path(__file__).resolve().parents[2] / "instance_runner/sites/chatgpt.toml"
    text = bundled.read_text()
    check = "check = ['button[data-testid=\"model-switcher-dropdown-button\"]', "
    check += "'button[aria-label^=\"Model selector\"]']"
    assert check in text
    variant = rep.tmp / "chatgpt-wrong-check.toml"
    variant.write_text(text.replace(check, "check = 'button[data-testid=\"profile-button\"]'"))
    profile = harness.profile(rep.tmp / "wrong.json")
    # The check is waited for `ready` seconds: 5 here, not the site file's 30.
    extra = ["--site", str(variant), "--timeout", "ready=5"]
    proc, port = harness.instance(rep.tmp, rep, "wrong", profile, extra)
    try:
        before = harness.last_request(rep)["requests"]
        with client(port) as c, pytest.raises(openai.APIStatusError) as info:
            c.chat.completions.create(model="o3", messages=ask("hi"))
        assert "could not switch to o3" in info.value.message
        assert harness.last_request(rep)["requests"] == before  # nothing was sent
    finally:
        proc.stop()
