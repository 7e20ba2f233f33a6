"""What the AI Studio replica answers: deterministic, with Markdown, thinking
and multi-byte characters, so tests can compare exact text."""

from __future__ import annotations

# id (as in "models/<id>") -> display name, as ListModels lists them.
MODELS = {
    "gemini-2.5-pro": "Gemini 2.5 Pro",
    "gemini-2.5-flash": "Gemini 2.5 Flash",
    "gemini-2.0-flash-lite": "Gemini 2.0 Flash-Lite",
}
DEFAULT_MODEL = "gemini-2.5-pro"


def thinking(model: str, prompt: str) -> str:
    return f"**Reading the request**\n\nThe user asked {len(prompt)} characters of {model}; café ✓."


def answer(model: str, prompt: str, system: str = "", images: tuple[str, ...] = ()) -> str:
    """With the sha256 of each image part received (its first 12 hex digits)."""
    words = prompt.split()[:6]
    text = f"## {MODELS.get(model, model)}\n\n**You said:** {' '.join(words)}\n\n"
    text += "- first point, with `code` and é\n- second point 😀\n\n"
    text += "```python\nprint('hello')\n```\n"
    if system:
        text += f"\n_system: {system}_\n"
    if images:
        text += f"\n**Images:** {len(images)}: {', '.join(h[:12] for h in images)}\n"
    return text


def pieces(text: str, size: int = 7) -> list[str]:
    """The answer as the stream sends it: a few characters a piece."""
    return [text[i : i + size] for i in range(0, len(text), size)]
