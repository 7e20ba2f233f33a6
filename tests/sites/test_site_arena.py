"""lmarena.toml, unchanged, against the arena.ai replica in a real Chromium.

The replica is served as arena.ai and lmarena.ai (tests/replicas/arena);
each instance is a real mictl-instance driving a real Chromium in the mode
the site file chooses (headed, under a private Xvfb here), asked through the
official openai client.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.helpers import BIN, wait_until
from tests.replicas.arena import catalog, harness
from tests.replicas.tls import Replica

pytestmark = [pytest.mark.browser, pytest.mark.slow]

THINKING = "claude-sonnet-4-5-20250929-thinking-32k"


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("arena")


@pytest.fixture(scope="module")
def replica(tmp: Path) -> Iterator[Replica]:
    r = harness.start(tmp, ["alice", "carol", "olga", "rita"])
    yield r
    r.stop()


@pytest.fixture(scope="module")
def alice(tmp: Path, replica: Replica) -> Iterator[int]:
    proc, port = harness.instance(tmp, replica, "alice", harness.profile("alice"))
    yield port
    proc.stop()


def client(port: int) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0, timeout=120
    )


def ask(port: int, model: str, text: str, **kw: Any) -> Any:
    """One request; a stream is read to its end (the client then closes)."""
    with client(port) as c:
        reply = c.chat.completions.create(
            model=model, messages=[{"role": "user", "content": text}], **kw
        )
        return list(reply) if kw.get("stream") else reply


def test_stream_and_non_stream_give_the_same_markdown(alice: int) -> None:
    whole = ask(alice, "gemini-2.5-pro", "tell me *one* thing").choices[0].message.content
    pieces = [
        c.choices[0].delta.content or ""
        for c in ask(alice, "gemini-2.5-pro", "tell me *one* thing", stream=True)
        if c.choices
    ]
    expected = catalog.answer(catalog.MODELS[0], "tell me *one* thing")
    assert whole == expected, "the site's Markdown, unchanged"
    assert "".join(pieces) == expected
    assert len([p for p in pieces if p]) > 3, "streamed in pieces, not at the end"


def test_reasoning_arrives_as_reasoning_content(alice: int) -> None:
    prompt = "why is the sky blue?"
    chunks = list(ask(alice, THINKING, prompt, stream=True))
    thinking = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
        for c in chunks
        if c.choices
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert thinking == catalog.reasoning(prompt)
    assert text == catalog.answer(catalog.BY_NAME[THINKING], prompt)
    message = ask(alice, THINKING, prompt).choices[0].message
    assert (message.model_extra or {}).get("reasoning_content") == catalog.reasoning(prompt)
    assert message.content == text


def test_models_come_from_the_page_and_are_picked_by_name(alice: int, replica: Replica) -> None:
    with client(alice) as c:
        listed = {m.id for m in c.models.list().data}
    text_models = {
        m["publicName"] for m in catalog.MODELS if "text" in m["capabilities"]["outputCapabilities"]
    }
    assert listed == text_models, "initialModels, text models only"
    for name in ("gpt-5.1", THINKING, "gemini-2.5-pro"):
        ask(alice, name, f"which model is {name}?")
        sent = harness.account(replica, "alice")["requests"][-1]
        # What the page itself sent: its picker's model, chosen by typing the name.
        assert sent["model"] == name and sent["modelAId"] == catalog.BY_NAME[name]["id"]
        assert sent["recaptchaV3Token"], "the page's own request, reCAPTCHA token and all"


def test_cloudflare_is_told_apart_from_a_logout(tmp: Path, replica: Replica) -> None:
    proc, port = harness.instance(tmp, replica, "carol", harness.profile("carol"))
    try:
        assert harness.health(port)["state"] == "ok"
        harness.set_account(replica, "carol", cloudflare="challenge")
        with pytest.raises(openai.APIStatusError) as err:
            ask(port, "gemini-2.5-pro", "hello")
        assert err.value.status_code == 503
        assert err.value.code == "captcha" or "captcha" in str(err.value.body)
        report = harness.health(port)
        assert report["state"] == "captcha" and report["captcha"] is True
        assert report["logged_in"] is True and report["logged_out"] is False
        assert "wants a person" in proc.output() and "account carol" in proc.output()
    finally:
        proc.stop()
    # The same account started behind the challenge: captcha from the start,
    # and back by itself once the challenge is gone (the next probe passes).
    proc, port = harness.instance(tmp, replica, "carol2", harness.profile("carol"))
    try:
        report = harness.health(port)
        assert report["state"] == "captcha" and not report["logged_out"]
        harness.set_account(replica, "carol", cloudflare="")
        wait_until(lambda: harness.health(port)["state"] == "ok", 60, "the hold to end")
        reply = ask(port, "gpt-5.1", "are you there?").choices[0].message.content
        assert reply == catalog.answer(catalog.BY_NAME["gpt-5.1"], "are you there?")
        assert harness.account(replica, "carol")["requests"][-1]["model"] == "gpt-5.1"
        assert "human check has passed" in proc.output()
    finally:
        proc.stop()
    # A profile without the session cookie: the sign-in page, a logout.
    proc, port = harness.instance(tmp, replica, "nobody", harness.profile(None))
    try:
        report = harness.health(port)
        assert report["state"] == "logged_out" and report["captcha"] is False
        with pytest.raises(openai.APIStatusError) as err:
            ask(port, "gemini-2.5-pro", "hello")
        assert err.value.status_code == 503 and "logged out" in str(err.value.body)
    finally:
        proc.stop()


def test_one_failed_recaptcha_is_sent_again_and_only_two_hold_the_account(
    tmp: Path, replica: Replica
) -> None:
    proc, port = harness.instance(tmp, replica, "rita", harness.profile("rita"))
    try:
        seen = len(harness.account(replica, "rita")["requests"])
        harness.set_account(replica, "rita", recaptcha_fails=1)
        reply = ask(port, "gpt-5.1", "again, please").choices[0].message.content
        assert reply == catalog.answer(catalog.BY_NAME["gpt-5.1"], "again, please")
        sent = harness.account(replica, "rita")["requests"][seen:]
        assert [r["prompt"] for r in sent] == ["again, please"] * 2, "refused once, sent again"
        assert all(r["recaptchaV3Token"] for r in sent)
        report = harness.health(port)
        assert report["state"] == "ok" and report["captcha"] is False, "not held"
        # Refused twice: the account is held.
        harness.set_account(replica, "rita", recaptcha_fails=2)
        with pytest.raises(openai.APIStatusError) as err:
            ask(port, "gpt-5.1", "and again")
        assert err.value.status_code == 503 and "captcha" in str(err.value.body)
        assert len(harness.account(replica, "rita")["requests"]) == seen + 4
        assert harness.health(port)["state"] == "captcha"
    finally:
        proc.stop()


def test_an_old_host_profile_works_after_the_move(tmp: Path, replica: Replica) -> None:
    # Cookies saved on lmarena.ai, and the old URL a user may still have configured.
    old = harness.profile("olga", host=".lmarena.ai")
    extra = ["--site-url", "https://lmarena.ai/?mode=direct"]
    proc, port = harness.instance(tmp, replica, "olga", old, extra)
    try:
        assert harness.health(port)["state"] == "ok"
        reply = ask(port, "gpt-5.1", "still me?").choices[0].message.content
        assert reply == catalog.answer(catalog.BY_NAME["gpt-5.1"], "still me?")
        assert harness.account(replica, "olga")["requests"], "answered as olga, on arena.ai"
        assert "carried 1 cookies over from lmarena.ai" in proc.output()
    finally:
        proc.stop()


def test_an_old_host_profile_the_site_refuses_asks_for_a_new_capture(
    tmp: Path, replica: Replica
) -> None:
    # A session the site no longer knows, saved on the old host.
    stale = harness.profile("nobody-known", host=".lmarena.ai")
    proc, port = harness.instance(tmp, replica, "stale", stale)
    try:
        report = harness.health(port)
        assert report["state"] == "logged_out"
        with pytest.raises(openai.APIStatusError) as err:
            ask(port, "gpt-5.1", "hello")
        assert "capture the profile again on arena.ai" in str(err.value.body)
    finally:
        proc.stop()


def test_site_check_passes_against_the_replica(tmp: Path, replica: Replica) -> None:
    profile = tmp / "check.json"
    profile.write_text(harness.profile("alice"))
    profile.chmod(0o600)
    argv = [str(BIN / "mictl"), "site", "check", "--profile", str(profile), "--site", "lmarena"]
    argv += ["--screenshot", str(tmp / "check.png")]
    argv += [f"--browser-arg={a}" for a in replica.browser_args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "signed in" in result.stdout
    assert 'prompt           found (1/3)            textarea[name="message"]' in result.stdout
    assert "models: gemini-2.5-pro, claude-sonnet-4-5-20250929-thinking-32k, gpt-5.1" in (
        result.stdout
    )
