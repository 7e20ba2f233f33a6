"""Images through lmarena.toml's [upload], unchanged, against the arena.ai
replica in a real Chromium (headed under Xvfb, as the site file asks), real
mictl-instance, the openai client (issue 22). The files are set on the
page's file input; the replica's page uploads each one (server action, PUT, signed
URL) and sends it as an experimental_attachments entry; its answer names the
sha256 of each, so the bytes are seen to arrive."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.image_server import PNG
from tests.replicas.arena import catalog, harness
from tests.replicas.tls import Replica

pytestmark = [pytest.mark.browser, pytest.mark.slow]

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01mictl-arena\xff\xd9"
THINKING = "claude-sonnet-4-5-20250929-thinking-32k"  # lists no image input


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def asking(text: str, *urls: str) -> list[dict]:
    parts: list[dict] = [{"type": "text", "text": text}]
    parts += [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    return [{"role": "user", "content": parts}]


def client(port: int) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0, timeout=90
    )


def last(replica: Replica) -> dict:
    return harness.account(replica, "ivy")["requests"][-1]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("arena-images")


@pytest.fixture(scope="module")
def replica(tmp: Path) -> Iterator[Replica]:
    r = harness.start(tmp, ["ivy"])
    yield r
    r.stop()


@pytest.fixture(scope="module")
def ivy(tmp: Path, replica: Replica) -> Iterator[int]:
    proc, port = harness.instance(tmp, replica, "ivy", harness.profile("ivy"))
    yield port
    proc.stop()


def test_an_image_from_a_data_url_reaches_the_site(ivy: int, replica: Replica) -> None:
    model = catalog.BY_NAME["gemini-2.5-pro"]
    with client(ivy) as c:
        got = c.chat.completions.create(
            model="gemini-2.5-pro", messages=asking("what is this?", data_url(PNG))
        )
        assert got.choices[0].message.content == catalog.answer(model, "what is this?", (sha(PNG),))
        assert last(replica)["images"] == [{"mime": "image/png", "sha256": sha(PNG)}]
        # two in one streamed request, to another model that lists image input
        stream = c.chat.completions.create(
            model="gpt-5.1",
            messages=asking("compare", data_url(PNG), data_url(JPEG, "image/jpeg")),
            stream=True,
        )
        text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
        assert text == catalog.answer(catalog.BY_NAME["gpt-5.1"], "compare", (sha(PNG), sha(JPEG)))
        assert sorted(i["sha256"] for i in last(replica)["images"]) == sorted([sha(PNG), sha(JPEG)])
        # the next request carries no image left over from the last
        plain = c.chat.completions.create(model="gemini-2.5-pro", messages=asking("none"))
    assert plain.choices[0].message.content == catalog.answer(model, "none")
    assert last(replica)["images"] == []


def test_an_image_to_a_model_without_image_input_is_a_400(ivy: int, replica: Replica) -> None:
    sent = len(harness.account(replica, "ivy")["requests"])
    with client(ivy) as c, pytest.raises(openai.BadRequestError) as refused:
        c.chat.completions.create(model=THINKING, messages=asking("x", data_url(PNG)))
    error = refused.value.body
    assert isinstance(error, dict) and error["param"] == "messages"
    assert THINKING in error["message"] and "lmarena" in error["message"]
    assert len(harness.account(replica, "ivy")["requests"]) == sent  # no page was asked


def test_the_model_list_says_which_models_take_images(ivy: int) -> None:
    with client(ivy) as c:
        listed = {m.id: (m.model_extra or {}).get("capabilities", {}) for m in c.models.list()}
    assert listed["gemini-2.5-pro"]["images"] is True
    assert listed["gpt-5.1"]["images"] is True
    assert listed[THINKING]["images"] is False
