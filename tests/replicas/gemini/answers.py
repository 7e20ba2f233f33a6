"""What the Gemini replica answers: deterministic, with Markdown, thoughts
and multi-byte characters (an emoji is two UTF-16 units: the frame lengths
count them so), and the StreamGenerate body that carries it (the shapes are
cited in app.py and instance_runner/sites/decoders/gemini.py)."""

from __future__ import annotations

import json

from instance_runner.sites.demo import tools

# The modes the page offers and the model ids the page sends for them in
# x-goog-ext-525001261-jspb (HanaokaYuzu/Gemini-API
# src/gemini_webapi/constants.py @fbe07905: BASIC_FLASH, BASIC_THINKING,
# BASIC_PRO; the names are WebAI2API's menu items, see static/index.html).
MODES = {"Fast": "fbb127bbb056c959", "Thinking": "5bf011840784117a", "Pro": "9d8ca3786ebdfbea"}
THINKS = {"Thinking", "Pro"}  # modes that stream thoughts (assumed: Fast does not)
AT_TOKEN = "replica-at-token"  # the page's SNlM0e, which its requests send as `at`


def thinking(prompt: str) -> str:
    return f"**Weighing it**\n\nThe prompt has {len(prompt)} characters; naïve ✓ 🤔."


def answer(prompt: str, mode: str = "Fast", images: tuple[str, ...] = ()) -> str:
    """With the sha256 of each image received (its first 12 hex digits). A
    prompt of mictl's tool or JSON template is answered as the demo model
    does (instance_runner/sites/demo/tools.py): calls, or JSON."""
    scripted = tools.answer(mode, prompt) if tools.wants(prompt) else None
    if scripted is not None:
        return scripted
    words = prompt.split()[:6]
    text = f"## Gemini {mode}\n\n**You said:** {' '.join(words)}\n\n"
    text += "- first point, with `code` and é\n- second point 😀\n\n"
    text += "```python\nprint('hello')\n```\n\nDone, 日本語 too."
    if images:
        text += f"\n\n**Images:** {len(images)}: {', '.join(h[:12] for h in images)}"
    return text


def frame(envelopes: list[object]) -> bytes:
    """`<length>\\n<json>\\n`, the length in UTF-16 units of both newlines and the JSON."""
    body = json.dumps(envelopes, ensure_ascii=False, separators=(",", ":"))
    units = len(body.encode("utf-16-le")) // 2 + 2
    return f"{units}\n{body}\n".encode()


def candidate(text: str, thoughts: str, done: bool) -> list[object]:
    c: list[object] = [None] * 38
    c[0], c[1], c[8] = "rc_replica", [text], [2 if done else 1]
    if thoughts:
        c[37] = [[thoughts]]
    return c


def wrb(cid: str, candidates: list[object] | None, final: bool = False) -> list[object]:
    inner: list[object] = [None, [cid, "r_replica"], None, None, candidates]
    if final:
        inner += [None] * 20 + ["replica-context"]  # [25]: the turn is saved (client.py)
    return ["wrb.fr", None, json.dumps(inner, ensure_ascii=False)]


def error(code: int) -> list[object]:
    """An envelope with an error code at [5][2][0][1][0] (client.py _process_parts)."""
    info = ["type.googleapis.com/assistant.boq.bard.application.BardErrorInfo", [code]]
    return ["wrb.fr", None, None, None, None, [3, None, [info]]]


def open_fence(text: str) -> bool:
    return text.count("```") % 2 == 1


def snapshots(thoughts: str, text: str, size: int = 9) -> list[tuple[str, str]]:
    """(thoughts so far, answer so far), growing: thoughts first, then text."""
    out = [(thoughts[:i], "") for i in range(size, len(thoughts), size)]
    out += [(thoughts, text[:i]) for i in range(size, len(text), size)]
    return out


def body(cid: str, thoughts: str, text: str) -> list[bytes]:
    """The StreamGenerate body, a frame per item after the XSSI guard.

    While a code block is open the page's text so far ends in a closing
    fence it takes back later (what get_clean_text strips: parsing.py)."""
    out = [b")]}'\n", frame([["wrb.fr", None, json.dumps([None, [cid, "r_replica"]])]])]
    for think, so_far in snapshots(thoughts, text):
        shown = so_far + "\n```" if open_fence(so_far) else so_far
        out.append(frame([wrb(cid, [candidate(shown, think, False)])]))
    out.append(frame([wrb(cid, [candidate(text, thoughts, True)], final=True)]))
    out.append(frame([["di", 70], ["af.httprm", 70, "-1", 4]]))
    return out
