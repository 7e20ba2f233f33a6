"""What the demo site answers: deterministic, so tests can check exact text."""

from __future__ import annotations

import re

from instance_runner.sites.demo import tools

MODELS = ("demo-fast", "demo-smart", "demo-long")

# Markers a prompt may carry to make the site misbehave like the real ones.
RATE_LIMIT = "[[rate-limit]]"
ERROR = "[[error]]"
LOGOUT = "[[logout]]"
HANG = "[[hang]]"
SLOW = "[[slow]]"
FREEZE = "[[freeze]]"  # the page's script never returns (chat.js): a jammed renderer

RATE_LIMIT_SECONDS = 30


# The models that take images (demo.toml's [upload] models says the same).
VISION = ("demo-smart", "demo-long")


def answer(model: str, prompt: str, images: tuple[str, ...] = (), previous: str = "") -> str:
    """The full answer the demo site streams for `prompt` on `model`, with
    the sha256 of each image the page sent (the first 12 hex digits);
    `previous`: the prompt before it in the same chat. Tool calls and JSON:
    tools.py."""
    if tools.wants(prompt):
        spoken = tools.answer(model, prompt, previous)
        if spoken is not None:
            return spoken
    words = prompt.split()
    last = words[-1] if words else ""
    turns = prompt.count("User:") or 1
    text = f'Hello from {model}. You wrote {len(words)} words, ending with "{last}".'
    text += f" This is turn {turns}."
    if images:
        text += f" You sent {len(images)} image(s): " + ", ".join(h[:12] for h in images) + "."
    if model == "demo-long":
        text += " " + " ".join(f"Point {i}." for i in range(1, 41))
    return text


def tokens(text: str) -> list[str]:
    """How the answer is cut into streamed pieces (a word and its space)."""
    return re.findall(r"\S+\s*", text)
