"""The OpenAI error shape, spoken by the front port, every instance and the
control socket alike: `{"error": {"message", "type", "code"}}`.
"""

from __future__ import annotations

import msgspec


class ErrorDetail(msgspec.Struct, omit_defaults=True):
    message: str
    type: str
    code: str | None = None
    known: list[str] | None = None


class ErrorBody(msgspec.Struct):
    error: ErrorDetail


def error_json(message: str, kind: str, code: str | None = None) -> bytes:
    """One encoded OpenAI-shaped error body."""
    return msgspec.json.encode(ErrorBody(ErrorDetail(message, kind, code)))
