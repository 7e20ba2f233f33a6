"""Images through aistudio.toml's [upload], unchanged, against the AI Studio
replica under its real hostnames: real Chromium, real mictl-instances, the
openai client (issue 22). The add-media menu's input takes one file per
opening, the first upload asks for the copyright acknowledgement, and the
replica's answer names the sha256 of each image part GenerateContent
carried, so the bytes are seen to arrive."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.helpers import BIN
from tests.image_server import PNG
from tests.replicas.aistudio import harness
from tests.replicas.aistudio.answers import answer
from tests.replicas.tls import Replica
from tests.site_kit import replica_fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BUNDLED = Path(__file__).resolve().parents[2] / "instance_runner/sites/aistudio.toml"
# Other bytes, other types: the replica's page takes what the file input's
# chooser says (set_input_files's mimeType, from mictl's sniffing).
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01mictl-replica\xff\xd9"
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
# A generation that hangs is given up after 8 s here, not the site's 120 s.
TIMEOUTS = ["--timeout", "first_delta=8", "--timeout", "stall=8"]


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def asking(text: str, *urls: str) -> list[dict]:
    parts: list[dict] = [{"type": "text", "text": text}]
    parts += [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    return [{"role": "user", "content": parts}]


def client(port: int) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)


rep = replica_fixture(harness, "aistudio-images")


@pytest.fixture(scope="module")
def inst(rep: Replica) -> Iterator[int]:
    """aistudio.toml as it is, a fresh profile (never acknowledged)."""
    profile = harness.profile(rep.tmp / "images.json")
    proc, port = harness.instance(rep.tmp, rep, "images", profile, TIMEOUTS)
    yield port
    proc.stop()


@pytest.fixture(scope="module")
def variant(rep: Replica) -> Iterator[int]:
    """A copy of aistudio.toml whose [upload] pastes the files onto the
    prompt box, takes images on the 2.5 models only, claims GIF (which the
    page refuses) and waits 3 s for a chip."""
    text = BUNDLED.read_text()
    edits = {
        'method = "input"': 'method = "paste"',
        'models = ["gemini-*"]': 'models = ["gemini-2.5-*"]',
        'accept = ["image/png", "image/jpeg", "image/webp"]': 'accept = ["image/png", "image/gif"]',
        "timeout = 10\n": "timeout = 3\n",
    }
    upload = text.index("[upload]")
    head, section = text[:upload], text[upload:]
    for old, new in edits.items():
        assert section.count(old) == 1, f"aistudio.toml's [upload] no longer says {old}"
        section = section.replace(old, new)
    path = rep.tmp / "aistudio-paste.toml"
    path.write_text(head + section)
    profile = harness.profile(rep.tmp / "paste.json")
    proc, port = harness.instance(rep.tmp, rep, "paste", profile, [*TIMEOUTS, "--site", str(path)])
    yield port
    proc.stop()


def test_the_first_upload_is_acknowledged_and_the_bytes_reach_the_site(
    inst: int, rep: Replica
) -> None:
    with client(inst) as c:
        got = c.chat.completions.create(
            model="gemini-2.5-pro", messages=asking("what is this?", data_url(PNG))
        )
        seen = harness.last_request(rep)
        assert got.choices[0].message.content == answer(
            "gemini-2.5-pro", "what is this?", images=(sha(PNG),)
        )
        assert seen["images"] == [{"mime": "image/png", "sha256": sha(PNG)}]
        assert seen["agreed_now"] is True  # the dialog showed and Agree was clicked
        # the acknowledgement is the account's: not asked again
        again = c.chat.completions.create(
            model="gemini-2.5-flash", messages=asking("and this?", data_url(JPEG, "image/jpeg"))
        )
        seen = harness.last_request(rep)
    assert again.choices[0].message.content == answer(
        "gemini-2.5-flash", "and this?", images=(sha(JPEG),)
    )
    assert seen["agreed_now"] is False and seen["images"][0]["mime"] == "image/jpeg"


def test_two_images_in_one_request_one_menu_opening_each(inst: int, rep: Replica) -> None:
    with client(inst) as c:
        stream = c.chat.completions.create(
            model="gemini-2.5-pro",
            messages=asking("compare", data_url(PNG), data_url(JPEG, "image/jpeg")),
            stream=True,
        )
        text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
        seen = harness.last_request(rep)
        assert text == answer("gemini-2.5-pro", "compare", images=(sha(PNG), sha(JPEG)))
        assert [i["sha256"] for i in seen["images"]] == [sha(PNG), sha(JPEG)]
        assert seen["stray_clicks"] == 0  # the menu was closed before it was opened again
        # the next request carries no image left over from the last
        plain = c.chat.completions.create(model="gemini-2.5-pro", messages=asking("none"))
    assert plain.choices[0].message.content == answer("gemini-2.5-pro", "none")
    assert harness.last_request(rep)["images"] == []


def test_an_image_the_site_file_does_not_take_is_a_400_before_the_page(
    inst: int, variant: int, rep: Replica
) -> None:
    sent = harness.last_request(rep)["requests"]
    with client(variant) as c, pytest.raises(openai.BadRequestError) as refused:
        c.chat.completions.create(
            model="gemini-2.0-flash-lite", messages=asking("x", data_url(PNG))
        )
    error = refused.value.body
    assert isinstance(error, dict) and error["param"] == "messages"
    assert "gemini-2.0-flash-lite" in error["message"] and "aistudio" in error["message"]
    # a GIF: not among the Gemini models' image types (aistudio.toml's accept)
    with client(inst) as c, pytest.raises(openai.BadRequestError, match="image/gif"):
        c.chat.completions.create(model="gemini-2.5-pro", messages=asking("x", data_url(GIF)))
    assert harness.last_request(rep)["requests"] == sent  # no page was asked


def test_a_pasted_image_is_taken_too(variant: int, rep: Replica) -> None:
    with client(variant) as c:
        got = c.chat.completions.create(
            model="gemini-2.5-flash", messages=asking("pasted", data_url(PNG))
        )
    assert got.choices[0].message.content == answer(
        "gemini-2.5-flash", "pasted", images=(sha(PNG),)
    )
    assert harness.last_request(rep)["images"] == [{"mime": "image/png", "sha256": sha(PNG)}]


def test_a_file_the_page_refuses_is_an_error_not_an_answer(variant: int, rep: Replica) -> None:
    sent = harness.last_request(rep)["requests"]
    with client(variant) as c, pytest.raises(openai.APIStatusError) as failed:
        c.chat.completions.create(model="gemini-2.5-pro", messages=asking("gif", data_url(GIF)))
    assert failed.value.status_code >= 500
    assert "did not take the image" in failed.value.message
    assert "unsupported file type" in failed.value.message  # the page's own words
    assert harness.last_request(rep)["requests"] == sent  # nothing was sent


def test_the_older_ui_takes_images_through_the_fallbacks(rep: Replica) -> None:
    """The older UI: "Insert assets ..." and "Upload File" (CJackHwang PR
    #169), the chips outside ms-prompt-box (assumed). Its add-media button
    loses its first click here: the menu that did not open is clicked once
    more, as CJackHwang's driver does."""
    profile = harness.profile(rep.tmp / "old-ui-images.json", ui="old", loses_first_click=True)
    proc, port = harness.instance(rep.tmp, rep, "old-images", profile, TIMEOUTS)
    try:
        with client(port) as c:
            got = c.chat.completions.create(
                model="gemini-2.5-flash",
                messages=asking("old", data_url(PNG), data_url(JPEG, "image/jpeg")),
            )
    finally:
        proc.stop()
    assert got.choices[0].message.content == answer(
        "gemini-2.5-flash", "old", images=(sha(PNG), sha(JPEG))
    )
    assert harness.last_request(rep)["agreed_now"] is True


def test_site_check_names_the_add_media_button(rep: Replica) -> None:
    profile = harness.profile(rep.tmp / "check-images.json", ui="old")
    out = subprocess.run(
        [str(BIN / "mictl"), "site", "check", "--profile", str(profile), "--site", "aistudio",
         "--screenshot", str(rep.tmp / "check-images.png"), "--json",
         *[f"--browser-arg={a}" for a in rep.browser_args]],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    matched = {r["name"]: r for r in json.loads(out.stdout)["results"]}
    # the older UI's button, by CJackHwang's 'button[aria-label^="Insert assets"]'
    assert matched["upload: open 1"]["selector"] == 'button[aria-label^="Insert assets"]'
    assert matched["upload: open 1"]["fallback"] == 2
