"""What the ChatGPT replica answers: deterministic, with Markdown, reasoning
and multi-byte characters, so tests can compare exact text; and the
delta-encoded SSE events that carry it (the shapes are cited in app.py)."""

from __future__ import annotations

import json
import uuid

from instance_runner.sites.demo import tools

SESSION = "replica-session-token"  # the __Secure-next-auth.session-token cookie's value
ACCESS = "replica-access-token"  # /api/auth/session's accessToken
COOKIE = "__Secure-next-auth.session-token"
# /backend-api/models: slug and title (the slugs are the API's model ids).
MODELS = [
    {"slug": "gpt-4o", "title": "GPT-4o", "reasoning": False},
    {"slug": "o3", "title": "o3", "reasoning": True},
    {"slug": "gpt-4-5", "title": "GPT-4.5", "reasoning": False},
]
REASONING = {m["slug"] for m in MODELS if m["reasoning"]}


def thinking(prompt: str) -> str:
    return f"**Reading it**\n\nThe user wrote {len(prompt)} characters; café ✓."


def answer(prompt: str, model: str = "gpt-4o", images: tuple[str, ...] = ()) -> str:
    """With the sha256 of each image received (its first 12 hex digits). A
    prompt of mictl's tool or JSON template is answered as the demo model
    does (instance_runner/sites/demo/tools.py): calls, or JSON."""
    scripted = tools.answer(model, prompt) if tools.wants(prompt) else None
    if scripted is not None:
        return scripted
    words = prompt.split()[:6]
    text = f"## ChatGPT ({model})\n\n**You said:** {' '.join(words)}\n\n"
    text += "- first point, with `code` and é\n- second point 😀\n\n"
    text += "```python\nprint('hello')\n```\n"
    if images:
        text += f"\n**Images:** {len(images)}: {', '.join(h[:12] for h in images)}\n"
    return text


def pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _event(item: object, event: str = "delta") -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(item, ensure_ascii=False)}\n\n".encode()


def _message(role: str, content: dict, **extra: object) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "author": {"role": role, "name": None, "metadata": {}},
        "content": content,
        "status": "in_progress",
        "end_turn": None,
        "weight": 1.0,
        "metadata": {},
        "recipient": "all",
        "channel": extra.pop("channel", None),
        **extra,
    }


def events(think: str, text: str, conversation: str) -> list[bytes]:
    """The answer's SSE events, one per list item."""
    out = [_event("v1", "delta_encoding")]
    c = 0
    user = _message(
        "user", {"content_type": "text", "parts": ["…"]}, status="finished_successfully"
    )
    out.append(
        _event(
            {"type": "input_message", "input_message": user, "conversation_id": conversation}, ""
        )
    )
    if think:
        first, *rest = pieces(think)
        content = {
            "content_type": "thoughts",
            "thoughts": [{"summary": "Reading", "content": first}],
        }
        add = {"message": _message("assistant", content), "conversation_id": conversation}
        out.append(_event({"p": "", "o": "add", "v": add, "c": c}))
        for i, piece in enumerate(rest):
            if i % 3 == 0:
                out.append(
                    _event({"p": "/message/content/thoughts/0/content", "o": "append", "v": piece})
                )
            else:
                out.append(_event({"v": piece}))
        done = [{"p": "/message/status", "o": "replace", "v": "finished_successfully"}]
        out.append(_event({"p": "", "o": "patch", "v": done}))
        c += 1
    first, *rest = pieces(text)
    content = {"content_type": "text", "parts": [first]}
    add = {
        "message": _message("assistant", content, channel="final"),
        "conversation_id": conversation,
    }
    out.append(_event({"p": "", "o": "add", "v": add, "c": c}))
    last = rest.pop() if rest else ""
    for i, piece in enumerate(rest):
        if i % 3 == 0:
            out.append(_event({"p": "/message/content/parts/0", "o": "append", "v": piece}))
        else:
            out.append(_event({"v": piece}))
    out.append(
        _event(
            {
                "p": "",
                "o": "patch",
                "v": [
                    {"p": "/message/content/parts/0", "o": "append", "v": last},
                    {"p": "/message/status", "o": "replace", "v": "finished_successfully"},
                    {"p": "/message/end_turn", "o": "replace", "v": True},
                    {
                        "p": "/message/metadata",
                        "o": "append",
                        "v": {"finish_details": {"type": "stop"}},
                    },
                ],
            }
        )
    )
    out.append(_event({"type": "message_stream_complete", "conversation_id": conversation}, ""))
    out.append(b"data: [DONE]\n\n")
    return out
