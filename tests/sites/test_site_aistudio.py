"""aistudio.toml, unchanged, against the AI Studio replica under its real
hostnames: real Chromium, real mictl-instance processes, the openai client."""

from __future__ import annotations

import subprocess
from pathlib import Path

import openai
import pytest

from tests.helpers import BIN, Proc
from tests.replicas.aistudio import harness
from tests.replicas.aistudio.answers import answer, thinking
from tests.replicas.tls import Replica
from tests.site_kit import ask, client, health, instance_fixture, replica_fixture, site_check
from tests.site_scenarios import (
    challenge_is_captcha_and_holds,
    hung_generation_is_504_then_the_next_works,
    rate_limit_cools_that_model_only,
    requests_of,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


rep = replica_fixture(harness, "aistudio")


inst = instance_fixture(harness, stall=8)


def test_models_come_from_the_pages_list_models(inst: int) -> None:
    with client(inst) as c:
        listed = {m.id: m.model_extra.get("name") for m in c.models.list().data}
    assert listed == {
        "gemini-2.5-pro": "Gemini 2.5 Pro",
        "gemini-2.5-flash": "Gemini 2.5 Flash",
        "gemini-2.0-flash-lite": "Gemini 2.0 Flash-Lite",
    }


def test_stream_and_non_stream_same_markdown_with_reasoning(inst: int, rep: Replica) -> None:
    prompt = "explain **streams** in two lines"
    with client(inst) as c:
        whole = c.chat.completions.create(model="gemini-2.5-pro", messages=ask(prompt))
        chunks = list(
            c.chat.completions.create(model="gemini-2.5-pro", messages=ask(prompt), stream=True)
        )
    expected = answer("gemini-2.5-pro", prompt)
    assert "```python\n" in expected and "**You said:**" in expected  # Markdown to keep
    assert whole.choices[0].message.content == expected
    assert whole.choices[0].message.model_extra["reasoning_content"] == thinking(
        "gemini-2.5-pro", prompt
    )
    deltas = [ch.choices[0].delta for ch in chunks if ch.choices]
    text = "".join(d.content or "" for d in deltas)
    reasoning = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
    assert text == expected
    assert reasoning == thinking("gemini-2.5-pro", prompt)
    assert sum(1 for d in deltas if (d.model_extra or {}).get("reasoning_content")) > 1
    # Two requests in a row: each started a new chat (the page sent one turn).
    assert harness.last_request(rep)["turns"] == 1


def test_second_model_is_picked_on_the_page(inst: int, rep: Replica) -> None:
    with client(inst) as c:
        flash = c.chat.completions.create(model="gemini-2.5-flash", messages=ask("hi"))
        assert harness.last_request(rep)["model"] == "gemini-2.5-flash"
        by_name = c.chat.completions.create(model="Gemini 2.0 Flash-Lite", messages=ask("hi"))
        assert harness.last_request(rep)["model"] == "gemini-2.0-flash-lite"
        back = c.chat.completions.create(model="gemini-2.5-pro", messages=ask("hi"))
        assert harness.last_request(rep)["model"] == "gemini-2.5-pro"
    assert flash.choices[0].message.content == answer("gemini-2.5-flash", "hi")
    assert by_name.choices[0].message.content == answer("gemini-2.0-flash-lite", "hi")
    assert back.choices[0].message.content == answer("gemini-2.5-pro", "hi")


def test_settings_reach_the_sites_own_fields(inst: int, rep: Replica) -> None:
    messages = [
        {"role": "system", "content": "answer like a pirate"},
        {"role": "user", "content": "hello settings"},
    ]
    with client(inst) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="gemini-2.5-pro", messages=messages, temperature=0.3, top_p=0.5, max_tokens=900
        )
    seen = harness.last_request(rep)
    assert raw.headers.get("x-mictl-ignored") is None
    assert seen["system"] == "answer like a pirate"
    assert seen["prompt"] == "hello settings"  # the system text went to its own field
    assert seen["config"][3:6] == [900, 0.3, 0.5]
    assert raw.parse().choices[0].message.content.startswith("## Gemini 2.5 Pro")


def test_quota_cools_that_model_while_others_answer(inst: int, rep: Replica) -> None:
    limited = rate_limit_cools_that_model_only(
        inst, requests_of(harness, rep), limited="gemini-2.0-flash-lite", prompt="[quota] hi",
        other="gemini-2.5-flash", expected=lambda p: answer("gemini-2.5-flash", p),
    )  # fmt: skip
    assert "exceeded your quota" in str(limited)


def test_upstream_5xx_is_a_502_the_router_fails_over_on(inst: int) -> None:
    with client(inst) as c, pytest.raises(openai.InternalServerError) as info:
        c.chat.completions.create(model="gemini-2.5-pro", messages=ask("[error] now"))
    assert info.value.status_code == 502 and info.value.code == "upstream_error"


def test_hung_generation_is_504_and_the_next_request_works(inst: int) -> None:
    hung_generation_is_504_then_the_next_works(
        inst, "gemini-2.5-pro", lambda p: answer("gemini-2.5-pro", p)
    )


def test_every_chat_is_temporary_so_none_is_saved_to_the_account(rep: Replica) -> None:
    """[[toggle]] "temporary chat": on in every fresh chat (off on each page
    load in the replica), else the page saves every chat (CreatePrompt). The
    replica's page says with each GenerateContent whether it was on; a site
    file without the toggle shows the difference."""
    bundled = Path(__file__).resolve().parents[2] / "instance_runner/sites/aistudio.toml"
    text = bundled.read_text()
    without = rep.tmp / "aistudio-saving.toml"
    without.write_text(text[: text.index("[[toggle]]")] + text[text.index("[markers]") :])
    profile = harness.profile(rep.tmp / "temporary.json")
    for site, temporary in ((None, True), (without, False)):
        extra = ["--site", str(site)] if site else []
        proc, port = harness.instance(rep.tmp, rep, f"temporary-{temporary}", profile, extra)
        try:
            with client(port) as c:
                for word in ("one", "two"):
                    prompt = f"[nothink] temporary {word}"
                    got = c.chat.completions.create(model="gemini-2.5-pro", messages=ask(prompt))
                    assert got.choices[0].message.content == answer("gemini-2.5-pro", prompt)
                    assert harness.last_request(rep)["temporary"] is temporary
        finally:
            proc.stop()
        # (a next chat still opening as the instance stops may fail: not before)
        assert "could not turn on" not in proc.output().split("Shutting down")[0]


def test_a_required_toggle_that_will_not_turn_on_fails_the_request(rep: Replica) -> None:
    bundled = Path(__file__).resolve().parents[2] / "instance_runner/sites/aistudio.toml"
    menu = "menu = 'button[aria-label=\"View more actions\"]'"
    text = bundled.read_text()
    assert menu in text
    variant = rep.tmp / "aistudio-required.toml"
    variant.write_text(text.replace(menu, "menu = 'button.nowhere'\nrequired = true"))
    profile = harness.profile(rep.tmp / "required.json")
    proc, port = harness.instance(rep.tmp, rep, "required", profile, ["--site", str(variant)])
    try:
        before = harness.last_request(rep)["requests"]
        with client(port) as c, pytest.raises(openai.APIStatusError) as info:
            c.chat.completions.create(model="gemini-2.5-pro", messages=ask("hi"))
        assert "could not turn on temporary chat" in info.value.message
        assert harness.last_request(rep)["requests"] == before  # nothing was sent
    finally:
        proc.stop()


def test_missing_session_cookie_is_logged_out(rep: Replica) -> None:
    profile = harness.profile(rep.tmp / "nobody.json", signed_in=False)
    proc, port = harness.instance(rep.tmp, rep, "nobody", profile)
    try:
        report = health(port)
        assert report["state"] == "logged_out" and report["logged_out"] and not report["ok"]
        with client(port) as c, pytest.raises(openai.APIStatusError) as info:
            c.chat.completions.create(model="gemini-2.5-pro", messages=ask("hi"))
        assert info.value.status_code == 503 and info.value.code == "logged_out"
        assert "accounts.google.com" in proc.output() or "SID" in proc.output()
    finally:
        proc.stop()


def test_older_ui_works_through_fallbacks(rep: Replica) -> None:
    profile = harness.profile(rep.tmp / "old-ui.json", ui="old")
    proc, port = harness.instance(rep.tmp, rep, "oldui", profile)
    try:
        with client(port) as c:
            got = c.chat.completions.create(model="gemini-2.5-flash", messages=ask("old ui"))
        assert got.choices[0].message.content == answer("gemini-2.5-flash", "old ui")
        assert harness.last_request(rep)["temporary"]  # through the toggle's fallbacks
    finally:
        proc.stop()
    report = site_check(rep, "aistudio", profile)
    matched = {r["name"]: r for r in report["results"]}
    assert report["ok"]
    assert matched["prompt"]["fallback"] > 0 and matched["send"]["fallback"] > 0


def test_site_check_passes_and_names_the_matching_selectors(rep: Replica) -> None:
    profile = harness.profile(rep.tmp / "check.json")
    report = site_check(rep, "aistudio", profile)
    assert report["ok"] and report["logged_in"]
    assert report["verified"] == "2026-12-01" and "replica" in report["verified_against"]
    matched = {r["name"]: r for r in report["results"]}
    assert matched["prompt"]["selector"] == "ms-prompt-box ms-chunk-editor textarea"
    assert matched["prompt"]["fallback"] == 0
    assert matched["send"]["selector"] == 'ms-run-button button[type="submit"]'
    assert matched["model_check"]["found"]
    # "Temporary chat": the switch and the menu it sits in
    assert matched["temporary chat: menu"]["found"]
    assert matched["temporary chat: click"]["selector"] == "button[data-test-incognito-toggle]"
    assert set(report["models"]) == {"gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.0-flash-lite"}
    human = subprocess.run(
        [str(BIN / "mictl"), "site", "check", "--profile", str(profile), "--site", "aistudio",
         "--screenshot", str(rep.tmp / "check2.png"),
         *[f"--browser-arg={a}" for a in rep.browser_args]],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert human.returncode == 0, human.stdout + human.stderr
    assert "verified 2026-12-01" in human.stdout and "(1/5)" in human.stdout


_ = Proc


def test_new_chat_button_with_its_discard_dialog(rep: Replica) -> None:
    """reset = "new_chat": the disabled button on a fresh chat is left alone,
    the enabled one is clicked and its "Discard and continue" confirmed.
    "[tail]": the page is still generating (the button locked) a second
    after mictl has the whole answer and opens the next chat: it waits."""
    bundled = Path(__file__).resolve().parents[2] / "instance_runner/sites/aistudio.toml"
    variant = rep.tmp / "aistudio-new-chat.toml"
    variant.write_text(bundled.read_text().replace('reset = "goto"', 'reset = "new_chat"'))
    profile = harness.profile(rep.tmp / "newchat.json")
    proc, port = harness.instance(rep.tmp, rep, "newchat", profile, ["--site", str(variant)])
    try:
        with client(port) as c:
            for i in range(3):
                prompt = f"[tail] n {i}" if i < 2 else f"n {i}"
                got = c.chat.completions.create(model="gemini-2.5-pro", messages=ask(prompt))
                assert got.choices[0].message.content == answer("gemini-2.5-pro", prompt)
                assert harness.last_request(rep)["turns"] == 1  # a new chat each time
    finally:
        proc.stop()
    assert "is disabled" not in proc.output()


def test_unusual_traffic_403_is_captcha_not_logout(rep: Replica) -> None:
    profile = harness.profile(rep.tmp / "human.json")
    proc, port = harness.instance(rep.tmp, rep, "human", profile)
    try:
        challenge_is_captcha_and_holds(port, requests_of(harness, rep), "gemini-2.5-pro")
    finally:
        proc.stop()
