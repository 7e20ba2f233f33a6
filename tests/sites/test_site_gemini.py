"""gemini.toml, unchanged, against the Gemini replica under its real
hostnames: real Chromium, real mictl-instance processes, the openai client."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from tests.replicas.gemini import harness
from tests.replicas.gemini.answers import answer, thinking
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


rep = replica_fixture(harness, "gemini")


inst = instance_fixture(harness)


def test_models_are_the_modes_the_picker_offers(inst: int) -> None:
    with client(inst) as c:
        listed = {m.id for m in c.models.list().data}
    assert listed == {"Fast", "Thinking", "Pro"}


def test_stream_and_non_stream_same_markdown_in_a_fresh_temporary_chat(
    inst: int, rep: Replica
) -> None:
    prompt = "explain **streams** in two lines"
    with client(inst) as c:
        whole = c.chat.completions.create(model="Fast", messages=ask(prompt))
        first = harness.last_request(rep)
        chunks = list(c.chat.completions.create(model="Fast", messages=ask(prompt), stream=True))
        second = harness.last_request(rep)
    expected = answer(prompt, "Fast")
    assert "```python\n" in expected and "**You said:**" in expected  # Markdown to keep
    assert whole.choices[0].message.content == expected
    assert not whole.choices[0].message.model_extra.get("reasoning_content")
    deltas = [ch.choices[0].delta for ch in chunks if ch.choices]
    assert "".join(d.content or "" for d in deltas) == expected
    assert sum(1 for d in deltas if d.content) > 3  # streamed, not in one piece
    for seen in (first, second):
        # A fresh chat each time (no chat id sent), temporary (saved to no
        # history), with the page's own token, build label and header.
        assert seen["chat"] == "" and seen["temporary"] is True
        assert seen["mode"] == "Fast" and seen["same_domain"] and seen["bl"]
    assert second["requests"] == first["requests"] + 1


def test_thinking_mode_thoughts_are_reasoning_content(inst: int, rep: Replica) -> None:
    prompt = "think about **this**"
    with client(inst) as c:
        whole = c.chat.completions.create(model="thinking", messages=ask(prompt))
        assert harness.last_request(rep)["mode"] == "Thinking"
        chunks = list(
            c.chat.completions.create(model="Thinking", messages=ask(prompt), stream=True)
        )
    expected = answer(prompt, "Thinking")
    message = whole.choices[0].message
    assert message.content == expected
    assert message.model_extra["reasoning_content"] == thinking(prompt)
    deltas = [ch.choices[0].delta for ch in chunks if ch.choices]
    reasoning = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
    assert "".join(d.content or "" for d in deltas) == expected
    assert reasoning == thinking(prompt)
    assert sum(1 for d in deltas if (d.model_extra or {}).get("reasoning_content")) > 1


def test_model_pick_switches_the_mode_both_ways(inst: int, rep: Replica) -> None:
    """The replica remembers the mode across page loads (the harder case):
    each request must pick its own."""
    with client(inst) as c:
        for mode in ("Pro", "Fast", "Thinking", "Fast", "Pro"):
            got = c.chat.completions.create(model=mode, messages=ask(f"pick {mode}"))
            assert harness.last_request(rep)["mode"] == mode
            assert got.choices[0].message.content == answer(f"pick {mode}", mode)


def test_usage_limit_is_429_and_cools_that_mode_only(inst: int, rep: Replica) -> None:
    rate_limit_cools_that_model_only(
        inst, requests_of(harness, rep), limited="Pro", prompt="[ratelimit]", other="Fast",
        expected=lambda p: answer(p, "Fast"),
    )  # fmt: skip


def test_hung_generation_is_504_and_the_next_request_works(inst: int) -> None:
    hung_generation_is_504_then_the_next_works(inst, "Fast", lambda p: answer(p, "Fast"))


def test_signed_out_goes_to_the_account_chooser_and_is_logged_out(rep: Replica) -> None:
    profile = harness.profile(rep.tmp / "nobody.json", signed_in=False)
    proc, port = harness.instance(rep.tmp, rep, "nobody", profile)
    try:
        signed_out_is_logged_out(port, "Fast")
    finally:
        proc.stop()


def test_unusual_traffic_is_captcha_not_rate_limit(rep: Replica) -> None:
    profile = harness.profile(rep.tmp / "human.json")
    proc, port = harness.instance(rep.tmp, rep, "human", profile)
    try:
        challenge_is_captcha_and_holds(port, requests_of(harness, rep), "Fast")
    finally:
        proc.stop()


def test_site_check_passes_and_names_the_matching_selectors(rep: Replica) -> None:
    report = site_check(rep, "gemini", harness.profile(rep.tmp / "check.json"))
    assert report["ok"] and report["logged_in"], report
    assert report["verified"] == "2026-12-07" and "replica" in report["verified_against"]
    matched = {r["name"]: r for r in report["results"]}
    assert matched["prompt"]["selector"] == 'rich-textarea .ql-editor[contenteditable="true"]'
    assert matched["send"]["selector"] == 'button.send-button[aria-label="Send message"]'
    assert matched["model_picker"]["selector"] == 'button[data-test-id="bard-mode-menu-button"]'
    assert matched["temporary chat: click"]["found"]
    assert matched["upload: open 1"]["selector"] == 'button[aria-label="Open upload file menu"]'
    assert set(report["models"]) == {"Fast", "Thinking", "Pro"}


def test_a_pick_the_page_does_not_show_fails_and_sends_nothing(rep: Replica) -> None:
    """The model check: `check` pointed at an element that never names the
    mode, so after the click the page does not show it; Pro must not be
    answered by whatever mode the page had."""
    bundled = Path(__file__).resolve().parents[2] / "instance_runner/sites/gemini.toml"
    check = "check = ['button[data-test-id=\"bard-mode-menu-button\"]', 'bard-logo + button']"
    text = bundled.read_text()
    assert check in text
    variant = rep.tmp / "gemini-wrong-check.toml"
    variant.write_text(
        text.replace(check, "check = 'toolbox-drawer'").replace("ready = 30", "ready = 3")
    )
    profile = harness.profile(rep.tmp / "wrong.json")
    proc, port = harness.instance(rep.tmp, rep, "wrong", profile, ["--site", str(variant)])
    try:
        before = harness.last_request(rep)["requests"]
        with client(port) as c, pytest.raises(openai.APIStatusError) as info:
            c.chat.completions.create(model="Pro", messages=ask("hi"))
        assert "could not switch to Pro" in info.value.message
        assert harness.last_request(rep)["requests"] == before  # nothing was sent
    finally:
        proc.stop()
