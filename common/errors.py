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
    param: str | None = None  # the request field at fault, as OpenAI names it


class ErrorBody(msgspec.Struct):
    error: ErrorDetail


def error_json(message: str, kind: str, code: str | None = None, param: str | None = None) -> bytes:
    """One encoded OpenAI-shaped error body."""
    return msgspec.json.encode(ErrorBody(ErrorDetail(message, kind, code, param=param)))


def kind_of(status: int) -> str:
    """OpenAI's error `type` for an HTTP status."""
    if status == 429:
        return "rate_limit_error"
    if status in (401, 403):
        return "authentication_error"
    return "invalid_request_error" if status < 500 else "server_error"
