"""How the prompt goes in and where a request's time goes, against the AI
Studio replica in real Chromium: the prompt replaces whatever the box held
(a textarea, and a contenteditable editor), the send button is pressed as
the site file says, a fresh chat's switches are turned on, and `--timeline`
follows one request hop by hop (instance_runner/timeline.py,
bench/instance_overhead.py)."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
from pathlib import Path
from typing import Any

import msgspec
import openai
import pytest
from playwright.async_api import Error as PlaywrightError

from instance_runner.browser import BrowserSession
from instance_runner.sites import clicks, pick, toggles
from instance_runner.sites.loader import load_site
from instance_runner.sites.types import SiteFile
from tests.replicas.aistudio import harness
from tests.replicas.aistudio.answers import answer
from tests.replicas.tls import Replica
from tests.site_kit import replica_fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PROMPT = "ms-prompt-box ms-chunk-editor textarea"


rep = replica_fixture(harness, "typing")


def test_the_prompt_replaces_what_the_box_held(rep: Replica) -> None:
    async def scenario() -> tuple[str, str]:
        site = load_site("aistudio")
        profile = harness.profile(rep.tmp / "typing.json")
        session = BrowserSession(
            site, profile=str(profile), extra_args=rep.browser_args, read_only=True
        )
        await session.start()
        try:
            page, adapter = session.page, session.adapter
            assert page is not None
            await page.fill(PROMPT, "left over from before")
            await adapter.type_prompt("line one\nline two")
            in_textarea = await page.input_value(PROMPT)
            # A contenteditable editor (ProseMirror-like) instead of a textarea.
            await page.evaluate(
                """() => document.body.insertAdjacentHTML("beforeend",
                    '<div id="editor" contenteditable="true"><p>old <b>text</b></p></div>')"""
            )
            selectors = msgspec.structs.replace(site.selectors, prompt="#editor")
            adapter.site = msgspec.structs.replace(site, selectors=selectors)
            await adapter.type_prompt("typed here")
            return in_textarea, await page.inner_text("#editor")
        finally:
            await session.close()

    in_textarea, in_editor = asyncio.run(scenario())
    assert in_textarea == "line one\nline two"
    assert in_editor.strip() == "typed here"


async def answered(
    rep: Replica, profile: Path, asks: list[tuple[SiteFile, str]], read: str
) -> list:
    """Each (site file, prompt) answered in turn by one session on the
    replica, the answered page left as it is: `read` evaluated after each."""
    site = load_site("aistudio")
    session = BrowserSession(site, profile=str(profile), extra_args=rep.browser_args)
    await session.start()
    out = []
    try:
        page, adapter = session.page, session.adapter
        assert page is not None
        adapter.reset_ahead = False  # the answered page stays to be read
        for site, prompt in asks:
            adapter.site = site
            text = "".join([e.text async for e in adapter.generate(prompt, "gemini-2.5-pro")])
            assert text == answer("gemini-2.5-pro", prompt)
            out.append(await page.evaluate(read))
    finally:
        await session.close()
    return out


def test_the_send_button_is_pressed_as_the_site_file_says(rep: Replica) -> None:
    """press = "script" (aistudio.toml): the page script that typed clicks the
    button, untrusted; press = "mouse": a real click through DevTools."""
    site = load_site("aistudio")
    asks = [
        (msgspec.structs.replace(site, press=p), f"[nothink] by {p}") for p in ("script", "mouse")
    ]
    trusted = asyncio.run(
        answered(rep, harness.profile(rep.tmp / "press.json"), asks, "window.__replicaRunTrusted")
    )
    assert site.press == "script"
    assert trusted == [False, True]


def test_a_click_the_site_ignores_is_made_again_with_the_mouse(rep: Replica) -> None:
    """press = "script" on a page whose Run button takes trusted clicks only:
    the prompt stays in the box, so the button is pressed with the mouse,
    and from then on with the mouse alone."""
    profile = harness.profile(rep.tmp / "trusted.json", trusted_only=True)
    asks = [(load_site("aistudio"), f"[nothink] trusted clicks only {i}") for i in range(2)]
    clicks = asyncio.run(answered(rep, profile, asks, "window.__replicaClicks"))
    # (isTrusted of each click on Run, per page: each request opens a new chat)
    assert clicks == [[False, True], [True]]


def test_a_site_that_keeps_its_prompt_in_the_box_is_not_clicked_twice(
    rep: Replica, caplog: pytest.LogCaptureFixture
) -> None:
    """press = "script" on a page that sends but leaves the prompt in its box:
    its request went out, so the button is not pressed again (by then it is
    the Stop button, or a second send), on this request or the next; and
    the next request does not watch the box again."""
    profile = harness.profile(rep.tmp / "keeps.json", keeps_prompt=True)
    asks = [(load_site("aistudio"), f"[nothink] keeps its prompt {i}") for i in range(2)]
    with caplog.at_level(logging.INFO, logger="mictl.instance"):
        clicks = asyncio.run(answered(rep, profile, asks, "window.__replicaClicks"))
    assert clicks == [[False], [False]]
    said = [r.getMessage() for r in caplog.records]
    assert len([m for m in said if "keeps its prompt in the box" in m]) == 1, said
    assert not [m for m in said if "ignored a click" in m], said


def test_the_next_chats_model_label_is_read_while_no_one_waits(
    rep: Replica, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> tuple[str | None, list[str]]:
        profile = harness.profile(rep.tmp / "ahead.json")
        session = BrowserSession(
            load_site("aistudio"), profile=str(profile), extra_args=rep.browser_args
        )
        await session.start()
        try:
            adapter = session.adapter
            await adapter.load_models()
            adapter.reset_ahead = True
            answers = [
                "".join([e.text async for e in adapter.generate("[nothink] one", "gemini-2.5-pro")])
            ]
            assert adapter._ahead is not None
            label = await asyncio.shield(adapter._ahead)

            async def no_reading(*args: object, **kw: object) -> str:
                raise AssertionError("the label was read while the request waited")

            # The next request on that chat, same model: nothing left to read.
            monkeypatch.setattr(pick, "shown_model", no_reading)
            answers.append(
                "".join([e.text async for e in adapter.generate("[nothink] two", "gemini-2.5-pro")])
            )
            # The chat after this one is opened ahead too, and its read raises
            # here: end that task and take its outcome (an exception nobody
            # retrieves is logged later, from whatever test is running then).
            if adapter._ahead is not None:
                adapter._ahead.cancel()
                await asyncio.gather(adapter._ahead, return_exceptions=True)
            return label, answers
        finally:
            await session.close()

    label, answers = asyncio.run(scenario())
    assert label == "Gemini 2.5 Pro"
    assert answers == [answer("gemini-2.5-pro", f"[nothink] {n}") for n in ("one", "two")]
    assert harness.last_request(rep)["model"] == "gemini-2.5-pro"


def timeline(port: int) -> tuple[int, list[list]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/debug/timeline")
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, (json.loads(body)["marks"] if response.status == 200 else [])


def test_timeline_follows_one_request_hop_by_hop(rep: Replica) -> None:
    profile = harness.profile(rep.tmp / "timeline.json")
    proc, port = harness.instance(rep.tmp, rep, "timeline", profile, ["--timeline"])
    other = harness.profile(rep.tmp / "plain.json")
    plain, plain_port = harness.instance(rep.tmp, rep, "plain", other)
    try:
        prompt = "[nothink] where does the time go"
        with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0) as c:
            chunks = list(
                c.chat.completions.create(
                    model="gemini-2.5-pro",
                    messages=[{"role": "user", "content": prompt}],
                    stream=True,
                )
            )
        text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
        assert text == answer("gemini-2.5-pro", prompt)
        status, marks = timeline(port)
        sent = harness.last_request(rep)["sent"]
        assert timeline(plain_port)[0] == 404  # off unless asked for
    finally:
        proc.stop()
        plain.stop()
    assert status == 200
    names = [m[0] for m in marks]
    steps = [names.index(n) for n in ("request", "prepared", "typed", "clicked")]
    assert steps == sorted(steps)
    at = {m[0]: m for m in reversed(marks)}
    # Chromium's own timestamps, on the instance's clock: the page's request
    # left after the instance began preparing it, and before its answer came.
    assert at["prepared"][1] <= at["browser_request"][2] <= at["browser_response"][2]
    assert at["browser_request"][2] <= at["received"][1]
    # Every piece's bytes, as Chromium had them and as the instance got
    # them (the closing "]" may come after the last piece ended the answer).
    pieces = sent[-1][2]
    assert pieces <= sum(m[3] for m in marks if m[0] == "received") <= pieces + 1
    assert pieces <= sum(m[3] for m in marks if m[0] == "browser_data") <= pieces + 1
    # The answer's characters as handed to the server, in order.
    handed = [m[3] for m in marks if m[0] == "sent"]
    assert handed == sorted(handed) and handed[-1] == len(text)


def test_a_page_closed_under_a_switch_is_no_warning(
    rep: Replica, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page closes as "Temporary chat" is being turned on: the error goes
    to the caller (which is closing anyway), not into a warning that the
    switch could not be turned on."""
    site = load_site("aistudio")
    real = clicks.click_found

    async def closing_first(page: Any, *args: Any) -> None:
        await page.close()
        await real(page, *args)

    async def scenario() -> None:
        profile = harness.profile(rep.tmp / "closing.json")
        session = BrowserSession(site, profile=str(profile), extra_args=rep.browser_args)
        await session.start()
        try:
            page = session.page
            assert page is not None
            await session.adapter.next_chat()
            await page.goto(site.url)  # the replica turns the switch off on each load
            monkeypatch.setattr(clicks, "click_found", closing_first)
            with pytest.raises(PlaywrightError):
                await toggles.ensure(page, site)
        finally:
            await session.close()

    with caplog.at_level(logging.WARNING, logger="mictl.instance"):
        asyncio.run(scenario())
    assert not [r for r in caplog.records if "could not turn on" in r.getMessage()]
