"""A small synchronous HTTP/1.1 client for the daemon's Unix socket."""

from __future__ import annotations

import _socket  # not `socket`: its import builds four IntEnums of ~400 constants (~5 ms)
import contextlib
from collections.abc import Iterator
from typing import Any, TypeVar
from urllib.parse import urlencode

import msgspec

from common.errors import ErrorBody
from ctl import http1

T = TypeVar("T")


class DaemonUnreachable(Exception):
    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"cannot reach mictld at {path} ({why})")
        self.path = path


class ApiError(Exception):
    def __init__(self, status: int, body: ErrorBody | None, raw: bytes) -> None:
        message = body.error.message if body else raw.decode(errors="replace").strip()
        super().__init__(message)
        self.status = status
        self.code = body.error.code if body else None


class Client:
    def __init__(self, socket_path: str, timeout: float | None = 600.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    @contextlib.contextmanager
    def _open(
        self, method: str, path: str, query: dict[str, Any] | None
    ) -> Iterator[http1.Response]:
        if query:
            path += "?" + urlencode(query, doseq=True)
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
            yield http1.request(sock, method, path)
        except FileNotFoundError:
            raise DaemonUnreachable(self.socket_path, "no such socket") from None
        except ConnectionRefusedError:
            raise DaemonUnreachable(self.socket_path, "connection refused") from None
        except PermissionError:
            raise DaemonUnreachable(self.socket_path, "permission denied") from None
        except (OSError, http1.BadResponse) as exc:
            # A daemon out of descriptors accepts nothing, or drops the
            # connection unanswered: one line (exit 3), not a traceback.
            why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise DaemonUnreachable(self.socket_path, f"no answer: {why}") from None
        finally:
            sock.close()

    def call(self, method: str, path: str, type: type[T], query: dict[str, Any] | None = None) -> T:
        with self._open(method, path, query) as response:
            raw = response.read()
        if response.status >= 400:
            try:
                body: ErrorBody | None = msgspec.json.decode(raw, type=ErrorBody)
            except msgspec.DecodeError:
                body = None
            if type is not Any and response.status == 422:  # reload refused: body is the result
                try:
                    return msgspec.json.decode(raw, type=type)
                except msgspec.DecodeError:
                    pass
            raise ApiError(response.status, body, raw)
        return msgspec.json.decode(raw, type=type)

    def stream(self, path: str, query: dict[str, Any] | None = None) -> Iterator[bytes]:
        with self._open("GET", path, query) as response:
            if response.status >= 400:
                raw = response.read()
                try:
                    body: ErrorBody | None = msgspec.json.decode(raw, type=ErrorBody)
                except msgspec.DecodeError:
                    body = None
                raise ApiError(response.status, body, raw)
            while chunk := response.read1():
                yield chunk
