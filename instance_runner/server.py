"""The OpenAI-compatible API of one instance: one page, one generation at a time.

Requests queue in order in front of the page (bounded: beyond it, 503 with
Retry-After); the chat route's work is in chat.py, its stream in
chat_stream.py.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Lifespan

from common import http_errors
from common.capabilities import Capabilities
from common.errors import ErrorBody, ErrorDetail
from common.serving import ClientGone
from instance_runner import chat as chat_handler
from instance_runner import timeline
from instance_runner.images.fetch import Limits
from instance_runner.instance import ApiError, Instance
from instance_runner.sites import upload
from instance_runner.sites.models import SiteModel
from instance_runner.types import Model, ModelList

log = logging.getLogger("mictl.instance")


def error_response(exc: ApiError) -> Response:
    detail = ErrorDetail(str(exc), exc.type, exc.code, param=exc.param)
    body = msgspec.json.encode(ErrorBody(detail))
    return Response(body, exc.status, exc.headers, media_type="application/json")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(msgspec.json.encode(data), status, headers, media_type="application/json")


def build_app(
    instance: Instance,
    *,
    max_body: int = 40 * 1024 * 1024,  # images in data: URLs fit (the front's is 32 MiB)
    with_timeline: bool = False,
    image_limits: Limits | None = None,
    lifespan: Lifespan[Starlette] | None = None,
) -> Starlette:
    images = image_limits or Limits()

    async def chat(request: Request) -> Response:
        try:
            return await _chat(request)
        except ApiError as exc:
            return error_response(exc)
        except ClientGone:
            log.info("client disconnected; generation stopped")
            return Response(status_code=499)
        except ClientDisconnect:  # gone before its body arrived: nothing to say
            return Response(status_code=499)
        except Exception as exc:  # never a bare 500 with a traceback
            log.exception("unexpected failure")
            message = f"the instance failed: {type(exc).__name__}: {exc}".splitlines()[0]
            return error_response(ApiError(502, message, "server_error", "instance_error"))

    def described(m: SiteModel) -> Model:
        takes = upload.refusal(instance.session.site, m.id, []) is None
        return Model(id=m.id, name=m.name, capabilities=Capabilities(images=takes))

    async def _chat(request: Request) -> Response:
        return await chat_handler.handle(request, instance, max_body, images)

    async def models(request: Request) -> Response:
        adapter = instance.session.adapter if instance.session.page_ready else None
        found = await adapter.load_models() if adapter else []
        return json_response(ModelList([described(m) for m in found]))

    async def model(request: Request) -> Response:
        wanted = request.path_params["model"]
        adapter = instance.session.adapter if instance.session.page_ready else None
        found = {m.id: m for m in (await adapter.load_models() if adapter else [])}
        if wanted not in found:
            served = ", ".join(found) or "none yet"
            message = f"The model '{wanted}' does not exist (served: {served})"
            return http_errors.error_response(404, message, "model_not_found")
        return json_response(described(found[wanted]))

    async def health(request: Request) -> Response:
        report = instance.health()
        return json_response(report.wire(), 200 if report.ok else 503)

    async def last_timeline(request: Request) -> Response:
        return json_response(timeline.last())

    routes = [
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/models", models),
        Route("/v1/models/{model:path}", model),
        Route("/health", health),
    ]
    if with_timeline:  # a bench aid (timeline.py): times and sizes, no text
        timeline.enable()
        routes.append(Route("/debug/timeline", last_timeline))
    return Starlette(exception_handlers=http_errors.handlers(), routes=routes, lifespan=lifespan)
