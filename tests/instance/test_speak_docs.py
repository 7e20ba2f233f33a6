"""docs/tools.md and docs/api.md say exactly what the code does; the
prompt template is data a file can replace."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from instance_runner import chat_request
from instance_runner.sites.loader import load_site
from instance_runner.speak import catalogue, fields, transcript
from instance_runner.types import ChatRequest
from tests.helpers import REPO


def test_the_prompt_docs_show_is_the_prompt_sent() -> None:
    doc = (REPO / "docs" / "tools.md").read_text()
    request = re.search(r"```json\n(.*?)\n```", doc, re.DOTALL)
    shown = re.search(r"```text\n(.*?)\n```", doc, re.DOTALL)
    assert request and shown
    req = msgspec.json.decode(request.group(1), type=ChatRequest)
    plan = chat_request.plan(req)
    assert transcript.build(req.messages, plan.template, plan.instructions()) == shown.group(1)


def test_the_field_table_in_the_docs_is_the_code_s() -> None:
    assert fields.table() in (REPO / "docs" / "api.md").read_text()


def test_a_template_file_replaces_the_keys_it_names(tmp_path: Path) -> None:
    mine = tmp_path / "speak.toml"
    mine.write_text('choice_auto = "Only call when sure."\n')
    template = catalogue.load(str(mine))
    assert template.choice_auto == "Only call when sure."
    assert template.tools == catalogue.load().tools  # the rest: the default's
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('choise_auto = "typo"\n')
    with pytest.raises(catalogue.TemplateError, match="choise_auto"):
        catalogue.load(str(wrong))


def test_a_site_file_names_its_template_beside_it(tmp_path: Path) -> None:
    site = (REPO / "instance_runner" / "sites" / "demo.toml").read_text()
    (tmp_path / "mine.toml").write_text(
        site.replace('reset = "none"', 'reset = "none"\nspeak_template = "speak.toml"')
    )
    assert load_site(str(tmp_path / "mine.toml")).speak_template == str(tmp_path / "speak.toml")
