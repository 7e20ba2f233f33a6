"""Two or more tabs (`mictl-instance --tabs N`, `[profiles.browser] tabs = N`):
a request right after an answer goes to another tab, whose next chat opened
while the first one answered, instead of waiting for a page load. Against
the AI Studio replica in real Chromium, through the openai client; the
replica serves page loads late, and says when it served the page each
request came from."""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request

import openai
import pytest

from tests.helpers import renderers, wait_until
from tests.replicas.aistudio import harness
from tests.replicas.aistudio.answers import DEFAULT_MODEL, answer
from tests.replicas.tls import Replica
from tests.site_kit import replica_fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SLOW = 3.0  # seconds each page load takes once both tabs are ready


rep = replica_fixture(harness, "tabs")


def ask_in_a_row(rep: Replica, port: int, prompts: list[str]) -> list[dict]:
    """Each prompt sent as soon as the one before is answered (and checked):
    what the replica saw of each."""
    seen = []
    base = f"http://127.0.0.1:{port}/v1"
    with openai.OpenAI(base_url=base, api_key="x", max_retries=0, timeout=60) as c:
        for prompt in prompts:
            got = c.chat.completions.create(
                model=DEFAULT_MODEL, messages=[{"role": "user", "content": prompt}]
            )
            assert got.choices[0].message.content == answer(DEFAULT_MODEL, prompt)
            seen.append(wait_until(lambda: ended(rep), 10, "the replica's end of the answer"))
    return seen


def ended(rep: Replica) -> dict | None:
    """The replica's record of the last request once it has sent the whole
    answer (the page may have it all a moment before the replica says so)."""
    seen = harness.last_request(rep)
    return seen if seen["ended"] is not None else None


def back_to_back(rep: Replica, tabs: int, *, dom: bool = False) -> list[dict]:
    """Three requests, each sent as soon as the one before is answered: what
    the replica saw of each. `dom`: aistudio.toml reading the answer from
    the page instead of its request."""
    name = f"tabs{tabs}" + ("-dom" if dom else "")
    profile = harness.profile(rep.tmp / f"{name}.json")
    site = ["--site", str(harness.dom_site(rep.tmp))] if dom else []
    proc, port = harness.instance(rep.tmp, rep, name, profile, ["--tabs", str(tabs), *site])
    try:
        wait_until(lambda: pages(port) == ["free"] * tabs, 90, "every tab ready")
        harness.slow_loads(rep, SLOW)
        # The third finds neither tab's next chat open yet: it waits for one.
        words = ("one", "two", "three")
        seen = ask_in_a_row(rep, port, [f"[nothink] {name} {word}" for word in words])
    finally:
        harness.slow_loads(rep, 0)
        proc.stop()
    assert [s["turns"] for s in seen] == [1, 1, 1]  # each a new chat
    return seen


def test_two_tabs_the_next_request_finds_its_chat_open(rep: Replica) -> None:
    first, second, _ = back_to_back(rep, 2)
    # The second request came from a page served before the first answer
    # ended: the other tab, not the first one's next chat (still loading).
    assert second["loaded"] < first["ended"]


def test_two_tabs_reading_the_dom_each_tab_hears_its_own_page(rep: Replica) -> None:
    # page.js reports through one binding for the whole browser context: each
    # tab's answer must reach that tab's request, not the first tab's.
    first, second, _ = back_to_back(rep, 2, dom=True)
    assert second["loaded"] < first["ended"]  # the second answer came from the other tab


def test_three_tabs_every_request_finds_its_chat_open(rep: Replica) -> None:
    # The third request too: a third page's chat is open while the other
    # two load their next ones.
    first, second, third = back_to_back(rep, 3)
    assert second["loaded"] < first["ended"]
    assert third["loaded"] < second["ended"]


def test_one_tab_the_next_request_waits_for_its_page_load(rep: Replica) -> None:
    first, second, _ = back_to_back(rep, 1)
    assert second["loaded"] > first["ended"]


def pages(port: int) -> list[str]:
    """Each page's state, as /health says it."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
            return list(json.loads(r.read())["pages"])
    except urllib.error.HTTPError as exc:  # 503 while no page is ready
        return list(json.loads(exc.read())["pages"])
    except OSError:
        return []


def test_both_tabs_crashed_come_back(rep: Replica) -> None:
    """Every renderer killed (as the OOM killer would): the instance opens
    both tabs again and answers back to back."""
    profile = harness.profile(rep.tmp / "crash.json")
    proc, port = harness.instance(rep.tmp, rep, "crash", profile, ["--tabs", "2"])
    try:
        wait_until(lambda: "page 2 of 2 ready" in proc.output(), 90, "the second tab")
        pids = renderers(proc.proc.pid)
        assert len(pids) >= 2, pids  # one per tab
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: "crashed" in proc.output(), 30, "the crashes seen")
        wait_until(lambda: pages(port) == ["free", "free"], 90, "both pages again")
        ask_in_a_row(rep, port, ["[nothink] after", "[nothink] crash"])
        assert proc.proc.poll() is None
    finally:
        proc.stop()
