"""The page's events (sites/events.py) to answer events (instance_runner/sites/answer.py),
without a browser: the step function, then the loop over a queue."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
import pytest

from instance_runner.sites import answer
from instance_runner.sites.answer import Answer
from instance_runner.sites.decoders import Event
from instance_runner.sites.errors import (
    LoggedOut,
    RateLimited,
    SiteError,
    Stalled,
    UpstreamError,
)
from instance_runner.sites.events import (
    Crashed,
    Delta,
    Done,
    ErrorShown,
    Navigated,
    NetData,
    NetEnd,
    NetFailed,
    NetResponse,
    RateLimitShown,
    SiteEvent,
)
from instance_runner.sites.loader import load_site
from tests.replicas.aistudio.app import element

AISTUDIO = load_site("aistudio")
DEMO = load_site("demo")  # reads the DOM


def stream(*parts: list[Any]) -> bytes:
    """A GenerateContent body as the replica streams it; the last part finishes."""
    last = len(parts) - 1
    return b"[" + b",\r\n".join(element(p, 1 if i == last else None) for i, p in enumerate(parts))


def feed(a: Answer, *events: SiteEvent) -> list[answer.Step]:
    return [a.on(event) for event in events]


def test_network_text_and_thinking_in_order_then_done() -> None:
    a = Answer(AISTUDIO, network=True)
    body = stream([None, "Let me think.", *[None] * 10, 1], [None, "**Hi**"], [None, " there"])
    steps = feed(a, NetResponse(200), NetData(body[:40]), NetData(body[40:]))
    events = [e for s in steps for e in s.events]
    assert events == [
        Event("reasoning", "Let me think."),
        Event("text", "**Hi**"),
        Event("text", " there"),
    ]
    assert steps[-1].done and not any(s.done for s in steps[:-1])
    assert a.timeout == AISTUDIO.timeouts.stall  # after the first delta, the stall limit


def test_a_failed_response_is_classified_from_its_body_kept_up_to_a_cap() -> None:
    a = Answer(AISTUDIO, network=True)
    body = json.dumps({"error": {"code": 429, "message": "You've exceeded your quota"}})
    filler = b" " * answer.MAX_ERROR_BODY
    steps = feed(
        a, NetResponse(429), NetData(body.encode()), NetData(filler),
        NetEnd(),
    )  # fmt: skip
    assert len(a.body) == answer.MAX_ERROR_BODY
    assert [s.events for s in steps] == [[], [], [], []]
    assert isinstance(steps[-1].problem, RateLimited)


def test_a_banner_waits_for_the_status_which_wins() -> None:
    a = Answer(AISTUDIO, network=True)
    (step,) = feed(a, RateLimitShown("You've exceeded your quota"))
    assert step == answer.Step() and a.timeout == answer.BANNER_GRACE
    # No status within the grace: the banner has its say.
    assert a.timed_out().ask_page == RateLimitShown("You've exceeded your quota")
    # With a failed status first, the banner is not even kept.
    b = Answer(AISTUDIO, network=True)
    feed(b, NetResponse(500), ErrorShown("Failed to generate content"))
    assert b.banner is None
    assert isinstance(b.on(NetEnd()).problem, UpstreamError)


def test_an_error_inside_the_stream_keeps_the_text_before_it() -> None:
    a = Answer(AISTUDIO, network=True)
    err = json.dumps({"error": {"code": 500, "message": "An internal error has occurred."}})
    body = b"[" + element([None, "partial"]) + b",\r\n" + err.encode() + b"]"
    step = a.on(NetData(body))
    assert step.events == [Event("text", "partial")]
    assert isinstance(step.problem, UpstreamError)  # a 500: the router fails over


def test_the_dom_source_and_what_only_the_page_can_explain() -> None:
    a = Answer(DEMO, network=False)
    steps = feed(a, Delta("Hel"), Delta("lo"), Done())
    assert [e.text for s in steps for e in s.events] == ["Hel", "lo"] and steps[-1].done
    # A navigation mid-answer: the page must say whether we were signed out...
    assert Answer(DEMO, network=False).on(Navigated()).ask_page == Navigated()
    # ...but with the network source a site may change its URL as it saves a chat.
    assert Answer(AISTUDIO, network=True).on(Navigated()) == answer.Step()
    assert Answer(DEMO, network=False).on(Crashed()).ask_page == Crashed()
    assert isinstance(Answer(AISTUDIO, network=True).on(NetFailed("x")).problem, SiteError)


async def collect(a: Answer, *events: SiteEvent, ask: Any = None) -> list[Event]:
    queue: asyncio.Queue[SiteEvent] = asyncio.Queue()
    for e in events:
        queue.put_nowait(e)

    async def ask_page(event: SiteEvent) -> None:
        raise ask(event.kind) if ask else AssertionError("the page was asked")

    return [e async for e in answer.read(queue, a, ask_page)]


def test_read_yields_until_done_and_raises_what_went_wrong() -> None:
    a = Answer(DEMO, network=False)
    got = asyncio.run(collect(a, Delta("a"), Delta("b"), Done()))
    assert [e.text for e in got] == ["a", "b"]
    with pytest.raises(RateLimited):
        asyncio.run(collect(Answer(DEMO, network=False), RateLimitShown("slow down"),
                            ask=lambda kind: RateLimited(kind, 1.0)))  # fmt: skip
    quick = msgspec.structs.replace(
        DEMO, timeouts=msgspec.structs.replace(DEMO.timeouts, first_delta=0.05)
    )
    with pytest.raises(Stalled, match="no answer from the page"):
        asyncio.run(collect(Answer(quick, network=False)))


def test_a_page_that_leaves_as_its_request_fails_is_judged_by_the_status() -> None:
    """DeepSeek's page goes to sign in on a 401 before its body is read: the
    status alone decides, at once, not after first_delta."""
    for leaving in (Navigated(), NetFailed("net::ERR_ABORTED")):
        a = Answer(load_site("deepseek"), network=True)
        step = feed(a, NetResponse(401), leaving)[-1]
        assert isinstance(step.problem, LoggedOut), leaving
    a = Answer(load_site("deepseek"), network=True)  # a 200 page that navigates: go on
    assert feed(a, NetResponse(200), Navigated())[-1].problem is None
