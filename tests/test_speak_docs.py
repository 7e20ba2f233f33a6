"""docs/tools.md and docs/api.md say exactly what the code does."""

from __future__ import annotations

import re

import msgspec

from instance_runner import chat_request
from instance_runner.speak import fields, transcript
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
