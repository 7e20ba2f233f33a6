"""Several chats per instance (`--tabs N`, `[profiles.browser] tabs = N`):
N pages in one browser, each answering its own request with its own chat.
Against the AI Studio replica in real Chromium, through the openai client."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest
from playwright.async_api import async_playwright

from instance_runner.sites.demo.answers import answer as demo_answer
from tests.helpers import Proc, demo_site, free_port, runner, wait_until
from tests.replicas.aistudio import harness
from tests.replicas.aistudio.answers import DEFAULT_MODEL, answer
from tests.replicas.tls import Replica
from tests.site_kit import replica_fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OTHER_MODEL = "gemini-2.5-flash"


rep = replica_fixture(harness, "pages")


def health(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:  # 503: not ready, and says why
        return json.loads(exc.read())


def start(rep: Replica, name: str, tabs: int, extra: list[str] | None = None) -> tuple[Proc, int]:
    """An instance with `tabs` pages, once every page takes requests."""
    profile = harness.profile(rep.tmp / f"{name}.json")
    args = ["--tabs", str(tabs), *(extra or [])]
    proc, port = harness.instance(rep.tmp, rep, name, profile, args)
    wait_until(lambda: health(port).get("pages") == ["free"] * tabs, 120, f"{tabs} pages free")
    return proc, port


async def ask_at_once(port: int, prompts: list[str], model: str = DEFAULT_MODEL) -> list[dict]:
    """All prompts streamed at once: per prompt, the answer (or the error),
    and when its first delta and its end came."""
    base = f"http://127.0.0.1:{port}/v1"
    async with openai.AsyncOpenAI(base_url=base, api_key="x", max_retries=0, timeout=120) as c:

        async def one(prompt: str) -> dict:
            got: dict = {"prompt": prompt, "text": "", "first": None, "error": None}
            try:
                stream = await c.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": prompt}], stream=True
                )
                async for chunk in stream:
                    delta = chunk.choices[0].delta if chunk.choices else None
                    if delta and delta.content:
                        got["first"] = got["first"] or time.monotonic()
                        got["text"] += delta.content
            except openai.APIError as exc:
                got["error"] = exc
            got["end"] = time.monotonic()
            return got

        return list(await asyncio.gather(*(one(p) for p in prompts)))


def test_three_pages_answer_three_requests_at_once(rep: Replica) -> None:
    proc, port = start(rep, "three", 3)
    try:
        assert health(port)["capacity"] == 3
        began = time.monotonic()
        (alone,) = asyncio.run(ask_at_once(port, ["[slow] [nothink] alone first"]))
        one = alone["end"] - began
        assert alone["text"] == answer(DEFAULT_MODEL, alone["prompt"])
        wait_until(lambda: health(port)["pages"] == ["free"] * 3, 60, "the page free again")
        prompts = [f"[slow] [nothink] together {w}" for w in ("apple", "brick", "cloud")]
        began = time.monotonic()
        got = asyncio.run(ask_at_once(port, prompts))
        three = max(g["end"] for g in got) - began
        for g in got:  # each answer exact: none crossed between pages
            assert g["error"] is None, g["error"]
            assert g["text"] == answer(DEFAULT_MODEL, g["prompt"])
        # All three were answering at the same time, not one after another.
        assert max(g["first"] for g in got) < min(g["end"] for g in got)
        assert three < 2 * one, (three, one)
        print(f"one answer {one:.2f}s, three at once {three:.2f}s")
    finally:
        proc.stop()


def test_one_page_answers_one_request_at_a_time(rep: Replica) -> None:
    proc, port = start(rep, "single", 1)
    try:
        h = health(port)
        assert (h["capacity"], h["pages"]) == (1, ["free"])
        prompts = [f"[slow] [nothink] queued {w}" for w in ("apple", "brick")]
        got = sorted(asyncio.run(ask_at_once(port, prompts)), key=lambda g: g["end"])
        for g in got:
            assert g["error"] is None, g["error"]
            assert g["text"] == answer(DEFAULT_MODEL, g["prompt"])
        assert got[1]["first"] > got[0]["end"]  # the second waited for the page
    finally:
        proc.stop()


async def crash_a_busy_page(debug_port: int) -> None:
    """Navigate one of the instance's pages to chrome://crash, from a second
    DevTools client on the same browser."""
    async with async_playwright() as pw:
        browser = await pw.chromium.connect_over_cdp(f"http://127.0.0.1:{debug_port}")
        pages = [p for c in browser.contexts for p in c.pages if "aistudio" in p.url]
        assert len(pages) == 3, [p.url for p in pages]
        try:
            await pages[1].goto("chrome://crash", timeout=5000)
        except Exception as exc:  # the navigation never ends: the renderer is gone
            assert "crash" in str(exc).lower() or "closed" in str(exc).lower(), exc


def test_a_crashed_page_is_replaced_while_the_others_answer(rep: Replica) -> None:
    debug = free_port()
    proc, port = start(rep, "crash3", 3, [f"--browser-arg=--remote-debugging-port={debug}"])
    try:
        prompts = [f"[slow] [nothink] under load {w}" for w in ("apple", "brick", "cloud")]

        async def scenario() -> list[dict]:
            asking = asyncio.ensure_future(ask_at_once(port, prompts))
            async with asyncio.timeout(60):
                while health(port)["pages"] != ["busy"] * 3:  # all three answering
                    assert not asking.done()
                    await asyncio.sleep(0.05)
            await crash_a_busy_page(debug)
            return await asking

        got = asyncio.run(scenario())
        failed = [g for g in got if g["error"] is not None]
        assert len(failed) == 1, [(g["prompt"], g["error"]) for g in got]
        assert "crash" in str(failed[0]["error"]), failed[0]["error"]
        for g in got:
            if g["error"] is None:  # the other two pages answered in full
                assert g["text"] == answer(DEFAULT_MODEL, g["prompt"])
        assert "crashed; opening a fresh one" in proc.output()
        wait_until(lambda: health(port)["pages"] == ["free"] * 3, 90, "the page replaced")
        again = asyncio.run(ask_at_once(port, [f"[nothink] after {i}" for i in range(3)]))
        assert [g["text"] for g in again] == [answer(DEFAULT_MODEL, g["prompt"]) for g in again]
        assert proc.proc.poll() is None
    finally:
        proc.stop()


def test_a_429_on_one_page_cools_the_model_for_the_instance(rep: Replica) -> None:
    proc, port = start(rep, "quota3", 3)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        with openai.OpenAI(base_url=base, api_key="x", max_retries=0, timeout=60) as c:

            def ask(prompt: str, model: str = DEFAULT_MODEL) -> str | None:
                got = c.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": prompt}]
                )
                return got.choices[0].message.content

            with pytest.raises(openai.RateLimitError):
                ask("[nothink] [quota] one page")
            sent = harness.last_request(rep)["requests"]
            # Two pages are free and never saw the 429: the model cools all the same.
            with pytest.raises(openai.RateLimitError) as again:
                ask("[nothink] another page")
            assert again.value.response.headers.get("retry-after")
            assert harness.last_request(rep)["requests"] == sent  # not sent to the site
            assert DEFAULT_MODEL in health(port)["cooling"]
            assert ask("[nothink] other model", OTHER_MODEL) == answer(
                OTHER_MODEL, "[nothink] other model"
            )
    finally:
        proc.stop()


def test_a_page_that_stops_answering_is_replaced_while_the_other_answers(
    tmp_path: Path,
) -> None:
    """The demo site's [[freeze]] jams its page's renderer for good (a script
    that never returns): that page is replaced; the other answers throughout."""
    site, site_port = demo_site(tmp_path)
    timeouts = ["--timeout", "send=3", "--timeout", "first_delta=3"]
    proc, port, _ = runner(tmp_path, site_port, extra=["--tabs", "2", *timeouts])
    try:
        wait_until(lambda: health(port).get("pages") == ["free"] * 2, 90, "two pages free")
        base = f"http://127.0.0.1:{port}/v1"

        async def scenario() -> tuple[object, str]:
            async with openai.AsyncOpenAI(base_url=base, api_key="x", max_retries=0) as c:

                async def ask(prompt: str) -> object:
                    try:
                        got = await c.chat.completions.create(
                            model="demo-fast", messages=[{"role": "user", "content": prompt}]
                        )
                        return got.choices[0].message.content
                    except openai.APIStatusError as exc:
                        return exc

                return tuple(await asyncio.gather(ask("[[freeze]] jam"), ask("[[slow]] go on")))

        frozen, answered = asyncio.run(scenario())
        assert isinstance(frozen, openai.APIStatusError) and frozen.status_code in (502, 504)
        assert answered == demo_answer("demo-fast", "[[slow]] go on")
        assert "stopped answering; opening a fresh one" in proc.output()
        wait_until(lambda: health(port).get("pages") == ["free"] * 2, 90, "the page replaced")
    finally:
        proc.stop()
        site.stop()


async def each_its_model(port: int, asks: list[tuple[str, str]]) -> list[object]:
    """(model, prompt) pairs asked at once: each answer, or its error."""
    base = f"http://127.0.0.1:{port}/v1"
    async with openai.AsyncOpenAI(base_url=base, api_key="x", max_retries=0) as c:

        async def one(model: str, prompt: str) -> object:
            try:
                got = await c.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": prompt}]
                )
                return got.choices[0].message.content
            except openai.APIStatusError as exc:
                return exc

        return list(await asyncio.gather(*(one(m, p) for m, p in asks)))


def test_pages_asking_for_different_models_at_once_each_get_theirs(rep: Replica) -> None:
    """AI Studio keeps the model choice in localStorage, which the pages of
    one browser context share: switches on several pages at once must not
    let one page load with another's choice."""
    proc, port = start(rep, "models3", 3)
    models = ["gemini-2.5-flash", "gemini-2.0-flash-lite", DEFAULT_MODEL]
    try:
        for r in range(3):  # each page switches to each model once
            order = models[r:] + models[:r]
            asks = [(m, f"[nothink] round {r} wants {m}") for m in order]
            got = asyncio.run(each_its_model(port, asks))
            assert got == [answer(m, p) for m, p in asks]
    finally:
        proc.stop()
