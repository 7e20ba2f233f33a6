"""OpenAI-shaped answers for what the routing table itself refuses.

Starlette answers an unknown path or a wrong method with plain text, and an
unhandled exception with a plain-text 500; every port of mictl speaks
`{"error": {...}}` instead. Shared by the front port, each instance and the
control socket.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from common.errors import error_json, kind_of

log = logging.getLogger("mictl.http")

CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


def error_response(
    status: int, message: str, code: str, headers: Mapping[str, str] | None = None
) -> Response:
    """One OpenAI-shaped JSON error response."""
    body = error_json(message, kind_of(status), code)
    return Response(body, status, dict(headers or {}), media_type="application/json")


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    code = CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, message, code, exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log (never the request body: it may hold a prompt).
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, f"internal error ({type(exc).__name__})", "internal_error")


def handlers() -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    """Starlette `exception_handlers=` for 404, 405, other HTTP errors and 500."""
    return {HTTPException: _http_exception, Exception: _server_error}
