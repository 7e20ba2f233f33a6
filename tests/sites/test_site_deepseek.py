"""deepseek.toml, unchanged, against the DeepSeek replica under its real
hostname: real Chromium, real mictl-instance processes, the openai client."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from tests.replicas.deepseek import harness
from tests.replicas.deepseek.answers import answer, thinking
from tests.replicas.tls import Replica
from tests.site_kit import ask, client, instance_fixture, replica_fixture, site_check
from tests.site_scenarios import (
    challenge_is_captcha_and_holds,
    hung_generation_is_504_then_the_next_works,
    rate_limit_cools_that_model_only,
    requests_of,
    signed_out_is_logged_out,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


rep = replica_fixture(harness, "deepseek")


inst = instance_fixture(harness)


def test_models_are_deepseeks_own_api_names(inst: int) -> None:
    with client(inst) as c:
        listed = {m.id for m in c.models.list().data}
    assert listed == {
        "deepseek-chat",
        "deepseek-reasoner",
        "deepseek-chat-search",
        "deepseek-reasoner-search",
    }


def test_stream_and_non_stream_same_markdown(inst: int, rep: Replica) -> None:
    prompt = "explain **streams** in two lines"
    with client(inst) as c:
        whole = c.chat.completions.create(model="deepseek-chat", messages=ask(prompt))
        sessions = harness.last_request(rep)["sessions"]
        chunks = list(
            c.chat.completions.create(model="deepseek-chat", messages=ask(prompt), stream=True)
        )
    expected = answer(prompt)
    assert "```python\n" in expected and "**You said:**" in expected  # Markdown to keep
    assert whole.choices[0].message.content == expected
    assert not whole.choices[0].message.model_extra.get("reasoning_content")
    deltas = [ch.choices[0].delta for ch in chunks if ch.choices]
    assert "".join(d.content or "" for d in deltas) == expected
    assert sum(1 for d in deltas if d.content) > 3  # streamed, not in one piece
    seen = harness.last_request(rep)
    # A fresh chat each time: a new session, no parent message; and the
    # page's own proof of work went with the request.
    assert seen["sessions"] == sessions + 1 and seen["parent"] is None
    assert seen["pow"] and not seen["thinking"] and not seen["search"]


def test_reasoner_turns_deepthink_on_and_thinking_is_reasoning_content(
    inst: int, rep: Replica
) -> None:
    prompt = "think about **this**"
    with client(inst) as c:
        whole = c.chat.completions.create(model="deepseek-reasoner", messages=ask(prompt))
        assert harness.last_request(rep)["thinking"] is True
        chunks = list(
            c.chat.completions.create(model="deepseek-reasoner", messages=ask(prompt), stream=True)
        )
    expected = answer(prompt, thinking=True)
    message = whole.choices[0].message
    assert message.content == expected
    assert message.model_extra["reasoning_content"] == thinking(prompt)
    deltas = [ch.choices[0].delta for ch in chunks if ch.choices]
    reasoning = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
    assert "".join(d.content or "" for d in deltas) == expected
    assert reasoning == thinking(prompt)
    assert sum(1 for d in deltas if (d.model_extra or {}).get("reasoning_content")) > 1


def test_model_pick_drives_both_toggles_both_ways(inst: int, rep: Replica) -> None:
    """The replica remembers the toggles across page loads (the harder
    case): each model must turn what it does not want off again."""
    plan = [
        ("deepseek-reasoner-search", True, True),
        ("deepseek-chat", False, False),
        ("deepseek-chat-search", False, True),
        ("deepseek-reasoner", True, False),
        ("deepseek-chat", False, False),
    ]
    with client(inst) as c:
        for model, thinks, searches in plan:
            got = c.chat.completions.create(model=model, messages=ask(f"pick {model}"))
            seen = harness.last_request(rep)
            assert (seen["thinking"], seen["search"]) == (thinks, searches), model
            expected = answer(f"pick {model}", thinking=thinks, search=searches)
            assert got.choices[0].message.content == expected


def test_rate_limit_is_429_and_cools_that_model_only(inst: int, rep: Replica) -> None:
    rate_limit_cools_that_model_only(
        inst, requests_of(harness, rep), limited="deepseek-reasoner-search", prompt="[ratelimit]",
        other="deepseek-chat", expected=answer,
    )  # fmt: skip


def test_server_busy_is_a_502_the_router_fails_over_on(inst: int) -> None:
    with client(inst) as c, pytest.raises(openai.InternalServerError) as info:
        c.chat.completions.create(model="deepseek-chat", messages=ask("[busy] now"))
    assert info.value.status_code == 502 and info.value.code == "upstream_error"


def test_hung_generation_is_504_and_the_next_request_works(inst: int) -> None:
    hung_generation_is_504_then_the_next_works(inst, "deepseek-chat", answer)


def test_no_token_in_local_storage_is_logged_out(rep: Replica) -> None:
    profile = harness.profile(rep.tmp / "nobody.json", token=None)
    proc, port = harness.instance(rep.tmp, rep, "nobody", profile)
    try:
        signed_out_is_logged_out(port, "deepseek-chat")
    finally:
        proc.stop()
    assert "sign_in" in proc.output() or "userToken" in proc.output()


def test_cloudflare_challenge_is_captcha_not_logout(rep: Replica) -> None:
    profile = harness.profile(rep.tmp / "human.json")
    proc, port = harness.instance(rep.tmp, rep, "human", profile)
    try:
        challenge_is_captcha_and_holds(port, requests_of(harness, rep), "deepseek-chat")
    finally:
        proc.stop()


def test_site_check_passes_and_names_the_matching_selectors(rep: Replica) -> None:
    report = site_check(rep, "deepseek", harness.profile(rep.tmp / "check.json"))
    assert report["ok"] and report["logged_in"], report
    assert report["verified"] == "2026-12-07" and "replica" in report["verified_against"]
    matched = {r["name"]: r for r in report["results"]}
    assert matched["prompt"]["selector"] == "textarea#chat-input"
    assert matched["send"]["selector"] == 'div[role="button"].ds-send'
    assert matched["DeepThink: click"]["found"] and matched["Search: click"]["found"]
    assert set(report["models"]) == {
        "deepseek-chat",
        "deepseek-reasoner",
        "deepseek-chat-search",
        "deepseek-reasoner-search",
    }


def test_a_model_whose_switch_will_not_show_on_fails_and_sends_nothing(rep: Replica) -> None:
    """The model check: DeepThink's `on` pointed at nothing, so after the
    click the page never shows it on; deepseek-reasoner must not be answered
    by deepseek-chat."""
    bundled = Path(__file__).resolve().parents[2] / "instance_runner/sites/deepseek.toml"
    on = 'on = \'div[role="button"].ds-toggle-button.ds-toggle-button--selected:nth-child(1 of'
    text = bundled.read_text()
    assert on in text
    variant = rep.tmp / "deepseek-wrong-on.toml"
    variant.write_text(text.replace(on, on.replace("--selected", "--nowhere")))
    profile = harness.profile(rep.tmp / "wrong.json")
    proc, port = harness.instance(rep.tmp, rep, "wrong", profile, ["--site", str(variant)])
    try:
        before = harness.last_request(rep)["requests"]
        with client(port) as c, pytest.raises(openai.APIStatusError) as info:
            c.chat.completions.create(model="deepseek-reasoner", messages=ask("hi"))
        assert "could not turn DeepThink on for deepseek-reasoner" in info.value.message
        assert harness.last_request(rep)["requests"] == before  # nothing was sent
    finally:
        proc.stop()
