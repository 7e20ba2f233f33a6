"""ChatGPT, DeepSeek and Gemini behind mictld's front port, each site file
unchanged against its replica (real Chromium, real instance, the openai
client): a tool call comes back as tool_calls, json_schema gives valid
JSON, and images go in the way the page takes them (ChatGPT: POST
/backend-api/files, a PUT to the blob store, /uploaded, a multimodal_text
message; DeepSeek: upload_file with its own proof of work, polled until
parsed, ref_file_ids; Gemini: Google's resumable upload, references in the
prompt). Each replica's answer names each image's sha256. One site's
replica and daemon at a time (module-scoped, by site)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from tests import site_kit
from tests.helpers import Mictld
from tests.image_server import PNG
from tests.replicas.chatgpt import answers as chatgpt
from tests.replicas.chatgpt import harness as chatgpt_harness
from tests.replicas.deepseek import answers as deepseek
from tests.replicas.deepseek import harness as deepseek_harness
from tests.replicas.gemini import answers as gemini
from tests.replicas.gemini import harness as gemini_harness
from tests.replicas.tls import Replica
from tests.site_kit import asking, data_url, sha

pytestmark = [pytest.mark.browser, pytest.mark.slow]

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01mictl-site\xff\xd9"


@dataclass(frozen=True)
class Site:
    harness: ModuleType
    models: set[str]  # what the instance lists
    model: str  # asked plainly
    thinks: str  # a model that reasons
    answer: Callable[[str, str, tuple[str, ...]], str]  # the replica's, by prompt, model, images


SITES = {
    "chatgpt": Site(chatgpt_harness, {"gpt-4o", "o3", "gpt-4-5"}, "gpt-4o", "o3", chatgpt.answer),
    "deepseek": Site(
        deepseek_harness,
        {"deepseek-chat", "deepseek-reasoner", "deepseek-chat-search", "deepseek-reasoner-search"},
        "deepseek-chat",
        "deepseek-reasoner",
        lambda p, m, images: deepseek.answer(p, thinking=m == "deepseek-reasoner", images=images),
    ),
    "gemini": Site(gemini_harness, set(gemini.MODES), "Fast", "Thinking", gemini.answer),
}


@pytest.fixture(scope="module", params=list(SITES))
def name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def site(name: str) -> Site:
    return SITES[name]


@pytest.fixture(scope="module")
def rep(name: str, site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    r = site.harness.replica(tmp_path_factory.mktemp(f"{name}-front"))
    yield r
    r.stop()


@pytest.fixture(scope="module")
def daemon(name: str, site: Site, rep: Replica) -> Iterator[Mictld]:
    def profiles(where: Path) -> None:
        site.harness.profile(where / "alice.json")

    with site_kit.front(rep.tmp / "daemon", rep, name, profiles) as d:
        yield d


def test_a_tool_call_comes_back_as_tool_calls(daemon: Mictld, site: Site) -> None:
    with site_kit.client(daemon.front_port) as c:
        site_kit.a_tool_round_trip(c, site.model)


def test_json_schema_gives_valid_json(daemon: Mictld, site: Site) -> None:
    with site_kit.client(daemon.front_port) as c:
        site_kit.json_to_a_schema(c, site.model)


def test_images_go_in_as_the_page_takes_them(daemon: Mictld, site: Site, rep: Replica) -> None:
    def seen() -> list[dict]:
        return site.harness.last_request(rep)["images"]

    with site_kit.client(daemon.front_port) as c:
        got = c.chat.completions.create(
            model=site.model, messages=asking("what is this?", data_url(PNG))
        )
        assert got.choices[0].message.content == site.answer(
            "what is this?", site.model, (sha(PNG),)
        )
        assert seen() == [{"mime": "image/png", "sha256": sha(PNG)}]
        # two in one streamed request, to a model that reasons
        stream = c.chat.completions.create(
            model=site.thinks,
            messages=asking("compare", data_url(PNG), data_url(JPEG, "image/jpeg")),
            stream=True,
        )
        text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
        assert text == site.answer("compare", site.thinks, (sha(PNG), sha(JPEG)))
        assert seen() == [
            {"mime": "image/png", "sha256": sha(PNG)},
            {"mime": "image/jpeg", "sha256": sha(JPEG)},
        ]
        # the next request carries no image left over from the last
        plain = c.chat.completions.create(model=site.model, messages=asking("none"))
        assert plain.choices[0].message.content == site.answer("none", site.model, ())
        assert seen() == []
    listed = site_kit.capabilities(daemon, "alice")
    assert set(listed) == site.models
    assert all(cap["images"] is True for cap in listed.values()), listed
