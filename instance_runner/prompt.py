"""OpenAI messages -> the one prompt a chat web app takes.

A lone user message is sent as it is. Anything else (a system message, or a
conversation) becomes a transcript, one block per message, blank line between:

    System: <system content>

    User: <first question>

    Assistant: <earlier answer>

    User: <the question to answer now>

Content given as a list of parts keeps its text parts, joined by newlines.
Tool turns and instructions: speak/transcript.py.
"""

from __future__ import annotations

from instance_runner.speak import catalogue, transcript
from instance_runner.speak.transcript import LABELS, text_of
from instance_runner.speak.types import Message, Part, Role


def build(messages: list[Message]) -> str:
    """The prompt of a conversation with no tools and no format asked."""
    return transcript.build(messages, catalogue.load(), [])


__all__ = ["LABELS", "Message", "Part", "Role", "build", "text_of"]
