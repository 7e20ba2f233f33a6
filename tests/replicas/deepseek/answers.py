"""What the DeepSeek replica answers: deterministic, with Markdown, thinking
and multi-byte characters, so tests can compare exact text; and the SSE
events that carry it (the shapes are cited in app.py)."""

from __future__ import annotations

import json

from instance_runner.sites.demo import tools

TOKEN = "replica-user-token"  # the signed-in account's userToken value


def thinking(prompt: str) -> str:
    return f"**Reading it**\n\nThe user wrote {len(prompt)} characters; café ✓."


def answer(
    prompt: str, *, thinking: bool = False, search: bool = False, images: tuple[str, ...] = ()
) -> str:
    """A prompt of mictl's tool or JSON template is answered as the demo
    model does (instance_runner/sites/demo/tools.py): calls, or JSON."""
    mode = "DeepThink" if thinking else "DeepSeek"
    scripted = tools.answer(mode, prompt) if tools.wants(prompt) else None
    if scripted is not None:
        return scripted
    words = prompt.split()[:6]
    text = f"## {mode}{' + Search' if search else ''}\n\n**You said:** {' '.join(words)}\n\n"
    text += "- first point, with `code` and é\n- second point 😀\n\n"
    text += "```python\nprint('hello')\n```\n"
    if images:  # the sha256 of each file referred to (its first 12 hex digits)
        text += f"\n**Files:** {len(images)}: {', '.join(h[:12] for h in images)}\n"
    return text


def pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _data(item: object, event: str = "") -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(item, ensure_ascii=False)}\n\n".encode()


def events(think: str, text: str) -> list[bytes]:
    """The answer's SSE events, one per list item."""
    out = [
        _data({"request_message_id": 1, "response_message_id": 2}, "ready"),
        _data({"v": {"response": {"message_id": 2, "parent_id": 1, "role": "ASSISTANT",
                                  "thinking_enabled": bool(think), "status": "WIP",
                                  "accumulated_token_usage": 0, "fragments": []}}}),
    ]  # fmt: skip
    for kind, body in (("THINK", think), ("RESPONSE", text)):
        if not body:
            continue
        first, *rest = pieces(body)
        out.append(_data({"p": "response/fragments", "o": "APPEND",
                          "v": [{"id": len(out), "type": kind, "content": first}]}))  # fmt: skip
        for i, piece in enumerate(rest):
            if i % 3 == 0:  # a path now and then, bare continuations between
                out.append(_data({"p": "response/fragments/-1/content", "o": "APPEND", "v": piece}))
            else:
                out.append(_data({"v": piece}))
        if kind == "THINK":
            out.append(_data({"p": "response/fragments/-1/elapsed_secs", "o": "SET", "v": 1.2}))
    usage = {"p": "accumulated_token_usage", "v": len(text)}
    batch = [usage, {"p": "quasi_status", "v": "FINISHED"}]
    out.append(_data({"p": "response", "o": "BATCH", "v": batch}))
    out.append(_data({"p": "response/status", "o": "SET", "v": "FINISHED"}))
    out.append(_data({"click_behavior": "none", "auto_resume": False}, "close"))
    return out
