"""Images through an instance, in real Chromium against the demo site, with
the openai client (issue 22): a data: URL and an http:// URL go into the
page (the file input on demo.toml, a paste on demo-fetch.toml) and their
bytes reach the site, which names their sha256 in its answer; what a site
or model cannot take, or mictl must not fetch, is refused with the reason."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from instance_runner.sites.demo.answers import answer
from tests.helpers import demo_site, runner
from tests.image_server import PNG, serving

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# A second image, other bytes: a PNG with a chunk of its own after IEND.
PNG2 = PNG + b"\0\0\0\x04teXtmictl"


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def asking(text: str, *urls: str) -> list[dict]:
    parts: list[dict] = [{"type": "text", "text": text}]
    parts += [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    return [{"role": "user", "content": parts}]


@pytest.fixture(scope="module")
def images() -> Iterator[str]:
    with serving() as url:
        yield url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    tmp = tmp_path_factory.mktemp("img")
    proc, port = demo_site(tmp)
    yield tmp, port
    proc.stop()


@pytest.fixture(scope="module", params=["demo", "demo-fetch"])
def instance(request: pytest.FixtureRequest, site: tuple[Path, int]) -> Iterator[int]:
    """demo.toml takes images through its file input, demo-fetch.toml as a paste."""
    tmp, port = site
    proc, iport, _ = runner(
        tmp,
        port,
        site=request.param,
        name=f"img-{request.param}",
        extra=["--image-allow", "127.0.0.1/32"],
    )
    yield iport
    proc.stop()


def client(port: int) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="-", max_retries=0)


def test_images_from_a_data_url_and_an_http_url_reach_the_site(instance: int, images: str) -> None:
    with client(instance) as c:
        reply = c.chat.completions.create(
            model="demo-smart",
            messages=asking("what are these?", data_url(PNG2), f"{images}/a.png"),
        )
        got = reply.choices[0].message.content
        assert got == answer("demo-smart", "what are these?", (sha(PNG2), sha(PNG)))
        # and streamed, one image
        stream = c.chat.completions.create(
            model="demo-smart", messages=asking("and this?", data_url(PNG)), stream=True
        )
        text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
        assert text == answer("demo-smart", "and this?", (sha(PNG),))
        # the next request carries no image left over from the last
        plain = c.chat.completions.create(model="demo-smart", messages=asking("no image"))
        assert plain.choices[0].message.content == answer("demo-smart", "no image")


def test_a_model_without_vision_gets_a_400_naming_site_and_model(instance: int) -> None:
    with client(instance) as c, pytest.raises(openai.BadRequestError) as refused:
        c.chat.completions.create(model="demo-fast", messages=asking("see?", data_url(PNG)))
    error = refused.value.body
    assert isinstance(error, dict)
    assert "demo-fast" in error["message"] and "takes no images" in error["message"]
    assert error["param"] == "messages"


def test_an_image_over_the_sites_limit_is_refused_with_the_limit(instance: int) -> None:
    big = PNG + b"\0" * (5 * 1024 * 1024)  # the demo's [upload] max_bytes is 5 MiB
    with client(instance) as c, pytest.raises(openai.APIStatusError) as refused:
        c.chat.completions.create(model="demo-smart", messages=asking("big", data_url(big)))
    assert refused.value.status_code == 413
    assert "5242880 bytes" in str(refused.value)


def test_urls_into_private_addresses_are_refused_unless_allowed(instance: int, images: str) -> None:
    port = images.rsplit(":", 1)[1]
    with client(instance) as c:
        for url in ("http://10.0.0.1/x.png", f"http://127.0.0.2:{port}/a.png"):
            with pytest.raises(openai.BadRequestError, match="private or local"):
                c.chat.completions.create(model="demo-smart", messages=asking("x", url))
        # 127.0.0.1/32 is allowed for this instance: the same server answers there
        ok = c.chat.completions.create(model="demo-smart", messages=asking("x", f"{images}/a.png"))
        assert sha(PNG)[:12] in (ok.choices[0].message.content or "")


def test_an_image_detail_the_page_cannot_honour_is_named_in_x_mictl_ignored(
    instance: int,
) -> None:
    messages = asking("detail", data_url(PNG))
    messages[0]["content"][1]["image_url"]["detail"] = "high"
    with client(instance) as c:
        raw = c.chat.completions.with_raw_response.create(model="demo-smart", messages=messages)
    assert "image_url.detail" in raw.headers.get("x-mictl-ignored", "")
    assert sha(PNG)[:12] in (raw.parse().choices[0].message.content or "")


def test_the_models_list_says_which_models_take_images(instance: int) -> None:
    with client(instance) as c:
        takes = {m.id: (m.model_extra or {})["capabilities"]["images"] for m in c.models.list()}
        assert takes == {"demo-fast": False, "demo-smart": True, "demo-long": True}
        one = c.models.retrieve("demo-smart")
        assert (one.model_extra or {})["capabilities"]["images"] is True
