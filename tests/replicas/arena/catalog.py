"""What the replica's accounts can use: models, sessions, and the answers.

Model entries have the shape of arena.ai's `initialModels` page data: `id`,
`publicName`, `organization`, `provider`, `capabilities` with input and
output capability maps (xtekky/gpt4free g4f/Provider/needs_auth/LMArena.py
`load_models`: `model["capabilities"]["outputCapabilities"]`, `publicName`,
`id`; godnight10061/LMArenaBridge src/main.py lists `publicName`). The public
names are real arena.ai names (foxhui/WebAI2API
src/backend/adapter/lmarena_text.js `manifest.models`); the ids are made up
UUIDs, as the real ones are opaque.
"""

from __future__ import annotations

from typing import Any

# A thinking model streams `ag:` reasoning before its answer.
MODELS: list[dict[str, Any]] = [
    {
        "id": "0199f060-b306-7cf8-b2a5-1e6a0a0a3b21",
        "publicName": "gemini-2.5-pro",
        "organization": "google",
        "provider": "google",
        "capabilities": {
            "inputCapabilities": {"text": True, "image": True},
            "outputCapabilities": {"text": True},
        },
    },
    {
        "id": "0199f060-b306-7cf8-b2a5-2f7b1b1b4c32",
        "publicName": "claude-sonnet-4-5-20250929-thinking-32k",
        "organization": "anthropic",
        "provider": "anthropic",
        "capabilities": {
            "inputCapabilities": {"text": True},
            "outputCapabilities": {"text": True},
        },
    },
    {
        "id": "0199f060-b306-7cf8-b2a5-3a8c2c2c5d43",
        "publicName": "gpt-5.1",
        "organization": "openai",
        "provider": "openai",
        "capabilities": {
            "inputCapabilities": {"text": True, "image": True},
            "outputCapabilities": {"text": True},
        },
    },
    {
        "id": "0199f060-b306-7cf8-b2a5-4b9d3d3d6e54",
        "publicName": "gemini-2.5-flash-image-preview",
        "organization": "google",
        "provider": "google",
        "capabilities": {
            "inputCapabilities": {"text": True, "image": True},
            "outputCapabilities": {"image": True},
        },
    },
]
BY_ID = {m["id"]: m for m in MODELS}
BY_NAME = {m["publicName"]: m for m in MODELS}
DEFAULT_MODEL = MODELS[0]["id"]


def is_thinking(model: dict[str, Any]) -> bool:
    return "thinking" in model["publicName"]


def takes_images(model: dict[str, Any]) -> bool:
    """The model lists image input (LMArenaBridge src/main.py
    process_message_content reads capabilities.inputCapabilities.image)."""
    return bool(model.get("capabilities", {}).get("inputCapabilities", {}).get("image"))


def answer(model: dict[str, Any], prompt: str, images: tuple[str, ...] = ()) -> str:
    """A deterministic Markdown answer with multi-byte characters in it;
    `images`: the sha256 of each attachment, named by its first 12 digits."""
    seen = f"- images: {len(images)}: {', '.join(h[:12] for h in images)}\n" if images else ""
    return (
        f"**{model['publicName']}** read your prompt:\n\n"
        f"> {prompt}\n\n"
        "- it has " + str(len(prompt)) + " characters\n" + seen + "- ¡olé! — naïve café 🌍\n\n"
        "```python\nprint('arena')\n```"
    )


def reasoning(prompt: str) -> str:
    return f"The user asks about “{prompt[:40]}”. Let me think step by step."


def pieces(text: str, size: int = 7) -> list[str]:
    """Split like a model streams: small uneven pieces."""
    out, i, step = [], 0, size
    while i < len(text):
        out.append(text[i : i + step])
        i += step
        step = size + (i % 3)
    return out
