"""Long prompts (issue 28, item 1): an agent's context is tens of thousands
of lines. The browser's editing commands lay out each line as they go, so
their time grows with the square of the line count (20,000 lines jammed a
renderer for good); a long prompt goes in at once instead (send.py), and a
page that stops answering all the same is replaced, never left holding the
instance. Real Chromium, the real demo site, the openai client."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from playwright.async_api import async_playwright

from instance_runner import chromium
from instance_runner.sites import send
from instance_runner.sites.adapter import PAGE_JS
from instance_runner.sites.demo.answers import answer
from tests.helpers import Proc, demo_site, runner, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LONG = "a\n" * 20000  # 40 KB, 20,000 lines: typed line by line, minutes or more

BOXES = """
<textarea id="ta"></textarea>
<div id="plain" contenteditable="true"></div>
<div id="rich" contenteditable="true"></div>
<script>
  // A rich-text editor (ProseMirror, Quill, Lexical) takes a paste itself.
  const rich = document.getElementById("rich");
  rich.addEventListener("paste", (e) => {
    e.preventDefault();
    rich.innerHTML = "";
    for (const line of e.clipboardData.getData("text/plain").split("\\n")) {
      const p = document.createElement("p");
      p.textContent = line;
      rich.appendChild(p);
    }
  });
</script>
"""


def test_a_long_prompt_goes_into_every_kind_of_box_in_one_step() -> None:
    async def scenario() -> dict[str, str]:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium.find())
            page = await browser.new_page()
            await page.set_content(BOXES)
            await page.add_script_tag(content=PAGE_JS)
            got = {}
            for box in ("#ta", "#plain", "#rich"):
                # A bound far above the one step (under 0.1 s) and far below
                # typing line by line (minutes): fails with the bulk path gone.
                await asyncio.wait_for(
                    send.type_prompt(page, {"source": "dom"}, [box], LONG, ["#none"]), 60
                )
                got[box] = await page.evaluate(
                    "(s) => { const e = document.querySelector(s);"
                    " return e.value !== undefined ? e.value : e.innerText; }",
                    box,
                )
            await browser.close()
            return got

    got = asyncio.run(scenario())
    assert got["#ta"] == LONG
    for box in ("#plain", "#rich"):
        assert got[box].split() == LONG.split(), box


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    tmp = tmp_path_factory.mktemp("long")
    proc, port = demo_site(tmp)
    yield tmp, port
    proc.stop()


@pytest.fixture(scope="module")
def instance(site: tuple[Path, int]) -> Iterator[tuple[Proc, int]]:
    tmp, port = site
    proc, iport, _ = runner(tmp, port, extra=["--timeout", "send=3", "--timeout", "first_delta=3"])
    yield proc, iport
    proc.stop()


def client(port: int) -> openai.OpenAI:
    # The timeout is the behaviour: answered within seconds, not minutes.
    return openai.OpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=60
    )


def health(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health") as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def test_a_20000_line_prompt_is_answered_twice_and_the_instance_stays_free(
    instance: tuple[Proc, int],
) -> None:
    _, port = instance
    with client(port) as c:
        expected = answer("demo-fast", LONG)
        reply = c.chat.completions.create(
            model="demo-fast", messages=[{"role": "user", "content": LONG}]
        )
        assert reply.choices[0].message.content == expected
        stream = c.chat.completions.create(
            model="demo-fast", messages=[{"role": "user", "content": LONG}], stream=True
        )
        assert "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices) == (
            expected
        )
        after = c.chat.completions.create(
            model="demo-fast", messages=[{"role": "user", "content": "and now?"}]
        )
        assert after.choices[0].message.content == answer("demo-fast", "and now?")
    assert health(port)["busy"] is False


def test_a_2000_message_conversation_is_answered(instance: tuple[Proc, int]) -> None:
    _, port = instance
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i}\nline two"}
        for i in range(1999)
    ]
    with client(port) as c:
        reply = c.chat.completions.create(model="demo-fast", messages=messages)
    content = reply.choices[0].message.content or ""
    assert "This is turn 1000." in content  # every user turn reached the site
    assert content.startswith("Hello from demo-fast.")


def test_a_client_that_hangs_up_on_a_long_prompt_leaves_the_instance_free(
    instance: tuple[Proc, int],
) -> None:
    _, port = instance
    with client(port) as c:
        stream = c.chat.completions.create(
            model="demo-fast",
            messages=[{"role": "user", "content": LONG + "[[slow]]"}],
            stream=True,
        )
        next(iter(stream))  # the answer has begun
        stream.close()  # and the client is gone
        reply = c.chat.completions.create(
            model="demo-fast", messages=[{"role": "user", "content": "still there?"}]
        )
    assert reply.choices[0].message.content == answer("demo-fast", "still there?")


def test_a_page_that_stops_answering_is_replaced(instance: tuple[Proc, int]) -> None:
    proc, port = instance
    with client(port) as c:
        with pytest.raises(openai.APIStatusError) as failed:
            c.chat.completions.create(
                model="demo-fast", messages=[{"role": "user", "content": "[[freeze]] hi"}]
            )
        assert failed.value.status_code in (502, 504)
        # The next request gets a fresh page, not the frozen one.
        reply = c.chat.completions.create(
            model="demo-fast", messages=[{"role": "user", "content": "hello again"}]
        )
    assert reply.choices[0].message.content == answer("demo-fast", "hello again")
    assert "stopped answering" in proc.output()
    wait_until(lambda: health(port)["ok"], 30, "the instance healthy again")


@pytest.mark.parametrize("text", ["\ufeff", "\u200b\u200b", " \u00a0\u3000\n", "\u2060\ufeff\t"])
def test_a_prompt_the_page_would_not_send_is_refused_before_any_page_work(
    instance: tuple[Proc, int], text: str
) -> None:
    """Invisible characters only (issue 28, item 2): the page's own trim()
    drops them and sends nothing; before, each try stalled 30 s into a 504."""
    _, port = instance
    before = health(port)
    with client(port) as c, pytest.raises(openai.BadRequestError) as refused:
        c.chat.completions.create(model="demo-fast", messages=[{"role": "user", "content": text}])
    assert refused.value.code == "empty_prompt"
    after = health(port)
    assert (after["served"], after["failed"]) == (before["served"], before["failed"])


def test_a_client_gone_mid_body_leaves_no_error_in_the_log(instance: tuple[Proc, int]) -> None:
    import socket

    proc, port = instance
    seen = len(proc.output())
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model"'
            )
    reply = client(port).chat.completions.create(
        model="demo-fast", messages=[{"role": "user", "content": "after the hang-ups"}]
    )
    assert reply.choices[0].message.content == answer("demo-fast", "after the hang-ups")
    log = proc.output()[seen:]
    assert "Traceback" not in log and " ERROR " not in log
