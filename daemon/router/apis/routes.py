"""The endpoints of the translated APIs: POST /v1/messages (+ count_tokens)
and POST /v1/responses.

Thin: read and check the body, translate it (anthropic_in, responses_in),
resolve the model's alias, hand the Chat Completions body to the same
forwarder /v1/chat/completions uses (routing, queue, breakers, failover),
and translate what comes back (chat_stream, then anthropic_out or
responses_out), stream chunk by chunk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any, NamedTuple, Protocol

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from common.errors import error_json
from common.serving import ClientGone, cancel_on_disconnect
from daemon.config.schema import Config
from daemon.router import validate
from daemon.router.apis import aliases, anthropic_in, anthropic_out, responses_in, responses_out
from daemon.router.apis.chat_stream import SseDecoder, events_of_chunk, events_of_completion
from daemon.router.apis.chat_stream import estimate_tokens as estimate
from daemon.router.apis.types import Refused, Translated
from daemon.router.pool import NoRoute, Pool
from daemon.router.proxy import Forwarder, Relay, no_route_response

log = logging.getLogger("mictld.router")
JSON = "application/json"


class Front(Protocol):
    """What the endpoints need of the router (daemon/router/app.py's Router)."""

    cfg: Config
    pool: Pool
    forwarder: Forwarder

    def authorized(self, given: str) -> bool: ...


class Prepared(NamedTuple):
    raw: Any  # the client's request, decoded
    translated: Translated
    body: bytes  # the Chat Completions body to forward
    info: validate.ChatInfo | None  # None for count_tokens (nothing is forwarded)


class Failed(Exception):
    """An answer for the client before anything was forwarded: (status, body)."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body


def routes(front: Front) -> list[Route]:
    messages = _Api(front, anthropic=True)
    responses = _Api(front, anthropic=False)
    return [
        Route("/v1/messages", messages.create, methods=["POST"]),
        Route("/v1/messages/count_tokens", messages.count_tokens, methods=["POST"]),
        Route("/v1/responses", responses.create, methods=["POST"]),
    ]


class _Api:
    def __init__(self, front: Front, *, anthropic: bool) -> None:
        self.front, self.anthropic = front, anthropic

    def error(self, status: int, message: str, param: str | None = None) -> Failed:
        if self.anthropic:
            return Failed(*anthropic_out.error(status, error_json(message, "x")))
        kind = "invalid_request_error" if status < 500 else "server_error"
        return Failed(status, error_json(message, kind, None, param))

    async def _read(self, request: Request) -> bytes:
        headers = request.headers
        key = headers.get("x-api-key")
        if not self.front.authorized(f"Bearer {key}" if key else headers.get("authorization", "")):
            header = "x-api-key or Authorization: Bearer" if self.anthropic else "Authorization"
            raise self.error(401, f"Incorrect or missing API key ({header})")
        limit = self.front.cfg.router.max_body_bytes
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise self.error(413, f"request body over {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _prepare(self, body: bytes, *, counting: bool = False) -> Prepared:
        """Decode, translate, resolve the alias, check: in a worker thread
        when the body is big enough to matter (as the chat path checks)."""
        served = self.front.pool.known_models()
        if len(body) <= validate.OFF_LOOP_BYTES:
            return self._prepare_now(body, served, counting)
        return await asyncio.to_thread(self._prepare_now, body, served, counting)

    def _prepare_now(self, body: bytes, served: set[str], counting: bool) -> Prepared:
        nesting = validate.depth(body)
        if nesting is None or nesting > validate.MAX_DEPTH:
            raise self.error(400, "malformed JSON (unbalanced or nested too deeply)")
        try:
            raw = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise self.error(400, f"malformed JSON: {exc}") from None
        if counting and isinstance(raw, dict):
            raw.setdefault("max_tokens", 1)  # count_tokens takes no max_tokens
        try:
            if self.anthropic:
                translated = anthropic_in.translate(raw)
            else:
                translated = responses_in.translate(raw)
        except Refused as exc:
            raise self.error(400, exc.message, exc.param) from None
        chat = translated.chat
        chat["model"] = aliases.resolve(self.front.cfg.aliases, chat["model"], served)
        encoded = msgspec.json.encode(chat)
        try:
            info = validate.check(encoded) if not counting else None
        except validate.BadRequest as exc:
            raise self.error(400, exc.message, exc.param) from None
        return Prepared(raw, translated, encoded, info)

    async def count_tokens(self, request: Request) -> Response:
        try:
            prepared = await self._prepare(await self._read(request), counting=True)
        except Failed as exc:
            return Response(exc.body, exc.status, media_type=JSON)
        except ClientDisconnect:
            return Response(status_code=499)
        # Characters / 4: the site's tokenizer is not known here.
        count = estimate(prepared.translated.prompt_chars)
        body = {"input_tokens": count, "estimated": True}
        headers = {"x-mictl-estimate": "characters/4"}
        return Response(msgspec.json.encode(body), headers=headers, media_type=JSON)

    async def create(self, request: Request) -> Response | Relay:
        try:
            prepared = await self._prepare(await self._read(request))
        except Failed as exc:
            return Response(exc.body, exc.status, media_type=JSON)
        except ClientDisconnect:
            return Response(status_code=499)
        raw, translated, body, info = (
            prepared.raw,
            prepared.translated,
            prepared.body,
            prepared.info,
        )
        assert info is not None
        r = self.front.cfg.router
        sticky = info.user if r.sticky == "user" else None
        if r.sticky == "header":
            sticky = request.headers.get(r.sticky_header)
        asked = raw["model"]
        try:
            async with cancel_on_disconnect(request.receive):
                answer = await self.front.forwarder.forward(body, info.model, info.stream, sticky)
        except ClientGone:
            return Response(status_code=499)
        except NoRoute as exc:
            answer = no_route_response(exc)
        headers = {"x-mictl-ignored": ", ".join(translated.ignored)} if translated.ignored else {}
        if info.model != asked:
            headers["x-mictl-model"] = info.model
        estimate_in = estimate(translated.prompt_chars)
        if isinstance(answer, Relay):
            encoder = self._stream_encoder(raw, asked, estimate_in, translated.stop_sequences)
            relay = Relay(_translated(answer.chunks, encoder), "text/event-stream")
            relay.headers += [(k.encode(), v.encode()) for k, v in headers.items()]
            return relay
        if answer.status_code != 200:
            return self._upstream_error(answer, info.model, headers)
        events = events_of_completion(_decode(bytes(answer.body)))
        try:
            if self.anthropic:
                out = anthropic_out.message(events, asked, estimate_in, translated.stop_sequences)
            else:
                builder = responses_out.Builder(raw, asked, estimate_in)
                out = responses_out.response(builder, events)
        except (anthropic_out.UpstreamFailed, responses_out.UpstreamFailed) as exc:
            failed = self.error(502, str(exc))
            return Response(failed.body, failed.status, headers, media_type=JSON)
        return Response(msgspec.json.encode(out), 200, headers, media_type=JSON)

    def _stream_encoder(self, raw: Any, asked: str, estimate_in: int, stops: list[str]) -> Any:
        if self.anthropic:
            return anthropic_out.Stream(asked, estimate_in, stops)
        return responses_out.Stream(responses_out.Builder(raw, asked, estimate_in))

    def _upstream_error(self, answer: Response, model: str, headers: dict[str, str]) -> Response:
        status, body = answer.status_code, bytes(answer.body)
        if status == 404 and b"model_not_found" in body:  # name the aliases too
            served = self.front.pool.known_models()
            text = aliases.unknown_message(model, served, self.front.cfg.aliases)
            body = error_json(text, "invalid_request_error", "model_not_found", "model")
        if "retry-after" in answer.headers:
            headers["Retry-After"] = answer.headers["retry-after"]
        if self.anthropic:
            status, body = anthropic_out.error(status, body)
        return Response(body, status, headers, media_type=JSON)


def _decode(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None


Encoder = anthropic_out.Stream | responses_out.Stream


async def _translated(
    chunks: AsyncGenerator[bytes, None], encoder: Encoder
) -> AsyncGenerator[bytes, None]:
    """The upstream's Chat Completions stream, re-encoded event by event."""
    decoder = SseDecoder()
    feed: Callable[[Any], bytes] = encoder.feed
    try:
        yield encoder.start()
        async for chunk in chunks:
            out = b"".join(feed(e) for p in decoder.feed(chunk) for e in events_of_chunk(p))
            if out:
                yield out
            if encoder.stopped:  # a stop sequence: closing the stream stops the generation
                break
        out = b"".join(feed(e) for p in decoder.close() for e in events_of_chunk(p))
        yield out + encoder.finish()
    finally:
        await chunks.aclose()
