"""A replica of arena.ai (LMArena) to test `lmarena.toml` unchanged.

Served under the real hostnames (Chromium's --host-resolver-rules and a
self-signed certificate): `arena.ai` serves the site, `lmarena.ai` (the old
host) redirects there keeping the path. Sources of each fact are cited where
it is used (pages.py for the HTML, catalog.py for the models).

Accounts are sessions: the `arena-auth-prod-v1` cookie (or its split halves
`arena-auth-prod-v1.0` + `.1`) names one. What goes wrong is set per account,
by a control endpoint the tests call or by markers in the prompt:

    POST /__replica/accounts/NAME  {"captcha": true, "cloudflare": "challenge",
                                    "rate_limit": {"gpt-5.1": 30},
                                    "recaptcha_fails": 1}
    GET  /__replica/accounts/NAME  -> the flags and every request it received
    prompt markers: [[429]] [[captcha]] [[cloudflare]] [[a3]] [[slow]] [[hang]]

Images go the way godnight10061/LMArenaBridge src/main.py
(@6714f25fc7fe0b58dbb5c834d930fe4119ac9ed3, upload_image_to_lmarena and
process_message_content) sends them: a Next.js server action (a POST to the
page with a `Next-Action` header, body `[filename, mime]`) answers
`1:{"success":true,"data":{"uploadUrl","key"}}`; the bytes are PUT to that
URL (R2 storage); a second action (`[key]`) answers the signed download
`{"data":{"url"}}`; create-evaluation carries `userMessage.
experimental_attachments: [{name: key, contentType, url}]`. Assumed (no
source says): the action ids (the real ones are opaque hashes in the
page's JS), the storage on arena.ai itself under /__r2/ (the real one is
another host), and the 400 for an image to a model without image input.
The answer names each attachment's sha256 (first 12 digits). How the files
get into the page: static/chunks/upload.js.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tests.replicas.arena import catalog, pages

HOST = "arena.ai"
OLD_HOSTS = ("lmarena.ai", "www.lmarena.ai")
# godnight10061/LMArenaBridge src/constants.py ARENA_AUTH_COOKIE; src/auth.py
# joins the split `.0`/`.1` halves the site sets for long values.
COOKIE = "arena-auth-prod-v1"
STREAM_PATH = "/nextjs-api/stream/create-evaluation"
STATIC = Path(__file__).with_name("static")
UPLOAD_ACTION, SIGNED_URL_ACTION = pages.UPLOAD_ACTION, pages.SIGNED_URL_ACTION


def token_for(name: str) -> str:
    """A session value shaped like the real one: `base64-<json>` (LMArenaBridge
    src/auth.py decodes `arena-auth-prod-v1` as base64 JSON with that prefix)."""
    payload = {"access_token": f"replica-{name}", "token_type": "bearer", "user": {"id": name}}
    return "base64-" + base64.b64encode(json.dumps(payload).encode()).decode()


class Account:
    def __init__(self, name: str) -> None:
        self.name = name
        self.captcha = False
        # The next N answer requests fail reCAPTCHA, then it passes again (a
        # low score once: LMArenaBridge tests/test_stream_403_recaptcha_retries.py).
        self.recaptcha_fails = 0
        self.cloudflare = ""  # "", "challenge" or "block"
        self.rate_limit: dict[str, float] = {}  # publicName -> Retry-After seconds
        self.requests: list[dict[str, Any]] = []
        self.pages = 0

    def view(self) -> dict[str, Any]:
        return {
            "captcha": self.captcha,
            "recaptcha_fails": self.recaptcha_fails,
            "cloudflare": self.cloudflare,
            "rate_limit": self.rate_limit,
            "requests": self.requests,
            "pages": self.pages,
        }


def create_app(accounts: list[str], *, pace: float = 0.01) -> Starlette:
    by_token = {token_for(n): Account(n) for n in accounts}
    by_name = {a.name: a for a in by_token.values()}
    stored: dict[str, tuple[str, bytes | None]] = {}  # key -> (mime, bytes once PUT)

    def account(request: Request) -> Account | None:
        token = request.cookies.get(COOKIE) or (
            request.cookies.get(f"{COOKIE}.0", "") + request.cookies.get(f"{COOKIE}.1", "")
        )
        return by_token.get(token)

    def cloudflare(who: Account | None) -> Response | None:
        if who is None or not who.cloudflare:
            return None
        if who.cloudflare == "block":
            return HTMLResponse(pages.BLOCKED, 403)
        return HTMLResponse(pages.CHALLENGE, 403, {"cf-mitigated": "challenge"})

    async def page(request: Request) -> Response:
        if request.method == "POST" and request.url.hostname not in OLD_HOSTS:
            return await action(request)
        if request.url.hostname in OLD_HOSTS:
            # The old host sends everything to arena.ai, path kept (the move:
            # LMArenaBridge src/constants.py ARENA_HOST_TO_ORIGIN knows both;
            # WebAI2API targets https://arena.ai/text/direct).
            query = f"?{request.url.query}" if request.url.query else ""
            return RedirectResponse(f"https://{HOST}{request.url.path}{query}", 308)
        if request.url.path == "/" and request.query_params.get("mode") == "direct":
            return RedirectResponse("/text/direct", 307)  # the old direct-mode URL
        who = account(request)
        blocked = cloudflare(who)
        if blocked is not None:
            return blocked
        if who is None:
            return HTMLResponse(pages.SIGNED_OUT)
        who.pages += 1
        return HTMLResponse(pages.direct_page(who.name, catalog.DEFAULT_MODEL))

    async def action(request: Request) -> Response:
        """The two server actions of an upload (a POST to the page)."""
        if account(request) is None:
            return JSONResponse({"error": "Unauthorized"}, 401)
        which = request.headers.get("next-action", "")
        args = json.loads(await request.body())
        if which == UPLOAD_ACTION:
            filename, mime = str(args[0]), str(args[1])
            key = f"uploads/{uuid.uuid4()}/{filename}"
            stored[key] = (mime, None)
            data = {"uploadUrl": f"https://{HOST}/__r2/{key}?X-Amz-Signature=replica", "key": key}
        elif which == SIGNED_URL_ACTION and str(args[0]) in stored:
            data = {"url": f"https://{HOST}/__r2/{args[0]}?X-Amz-Signature=replica-get"}
        else:
            return Response("Server action not found", 404)
        out = line("0", {"a": "$@1", "f": "", "b": "replica"}) + line(
            "1", {"success": True, "data": data}
        )
        return Response(out, media_type="text/x-component")

    async def put_object(request: Request) -> Response:
        key = request.path_params["key"]
        if key not in stored:
            return Response("NoSuchUpload", 403)
        mime = request.headers.get("content-type", "")
        stored[key] = (mime, await request.body())
        if mime == "image/png":  # storage slower for some: a later file's upload ends first
            await asyncio.sleep(0.3)
        return Response(status_code=200)

    def attachments(body: dict[str, Any]) -> list[dict[str, str]] | None:
        """Each attachment's type and sha256, or None if one was never uploaded."""
        out = []
        for a in body.get("userMessage", {}).get("experimental_attachments") or []:
            mime, data = stored.get(str(a.get("name")), ("", None))
            if data is None:
                return None
            out.append(
                {
                    "mime": str(a.get("contentType") or mime),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
        return out

    async def create_evaluation(request: Request) -> Response:
        who = account(request)
        blocked = cloudflare(who)
        if blocked is not None:
            return blocked
        if who is None:
            return JSONResponse({"error": "Unauthorized"}, 401)
        body = await request.json()
        prompt = str(body.get("userMessage", {}).get("content", ""))
        model = catalog.BY_ID.get(str(body.get("modelAId", "")))
        images = attachments(body)
        who.requests.append(
            {
                "time": time.time(),
                "modelAId": body.get("modelAId"),
                "model": model and model["publicName"],
                "prompt": prompt,
                "mode": body.get("mode"),
                "recaptchaV3Token": bool(body.get("recaptchaV3Token")),
                "images": images,
            }
        )
        if model is None:
            return JSONResponse({"error": "Model not found"}, 400)
        if images is None:
            return JSONResponse({"error": "Attachment not found"}, 400)
        if images and not catalog.takes_images(model):
            return JSONResponse({"error": "Model does not support image input"}, 400)
        if "[[cloudflare]]" in prompt:
            who.cloudflare = "challenge"
            return cloudflare(who) or Response(status_code=500)
        failing = who.recaptcha_fails > 0
        who.recaptcha_fails = max(0, who.recaptcha_fails - 1)
        if who.captcha or failing or "[[captcha]]" in prompt:
            # LMArenaBridge src/main.py: 403 whose JSON `error` is exactly this;
            # WebAI2API src/backend/utils/error.js matches the same text.
            return JSONResponse({"error": "recaptcha validation failed"}, 403)
        seconds = who.rate_limit.get(model["publicName"])
        if seconds is None and "[[429]]" in prompt:
            seconds = 30
        if seconds is not None:
            # LMArenaBridge src/main.py (429 handling) reads Retry-After;
            # WebAI2API error.js matches "Too Many Requests".
            return JSONResponse(
                {"error": "Too Many Requests"}, 429, {"Retry-After": str(int(seconds))}
            )
        return StreamingResponse(
            _stream(model, prompt, pace, tuple(i["sha256"] for i in images)),
            media_type="text/plain; charset=utf-8",
        )

    async def control(request: Request) -> Response:
        who = by_name.get(request.path_params["name"])
        if who is None:
            return JSONResponse({"error": "no such account"}, 404)
        if request.method == "POST":
            change = await request.json()
            who.captcha = bool(change.get("captcha", who.captcha))
            who.recaptcha_fails = int(change.get("recaptcha_fails", who.recaptcha_fails))
            who.cloudflare = str(change.get("cloudflare", who.cloudflare) or "")
            if "rate_limit" in change:
                who.rate_limit = {k: float(v) for k, v in change["rate_limit"].items()}
        return JSONResponse(who.view())

    return Starlette(
        routes=[
            Route("/__replica/accounts/{name}", control, methods=["GET", "POST"]),
            Route(STREAM_PATH, create_evaluation, methods=["POST"]),
            Route("/__r2/{key:path}", put_object, methods=["PUT"]),
            Mount("/_next/static", StaticFiles(directory=STATIC)),
            Route("/", page, methods=["GET", "POST"]),
            Route("/text/direct", page, methods=["GET", "POST"]),
            Route("/c/{id}", page, methods=["GET", "POST"]),
        ]
    )


def line(prefix: str, value: Any) -> bytes:
    return prefix.encode() + b":" + json.dumps(value, ensure_ascii=False).encode() + b"\n"


async def _stream(
    model: dict[str, Any], prompt: str, pace: float, images: tuple[str, ...] = ()
) -> AsyncIterator[bytes]:
    """The create-evaluation body: prefix lines (see the prefix-lines decoder's
    docstring for the sources), in uneven chunks that split lines and
    characters, as the network does."""
    if "[[hang]]" in prompt:
        yield line("a2", [{"type": "heartbeat"}])
        await asyncio.sleep(3600)
    delay = pace * 20 if "[[slow]]" in prompt else pace
    out = bytearray()
    out += line("a2", [{"type": "heartbeat"}])
    if catalog.is_thinking(model):
        out += b"".join(line("ag", p) for p in catalog.pieces(catalog.reasoning(prompt)))
        out += line("a2", [{"type": "heartbeat"}])
    text = catalog.pieces(catalog.answer(model, prompt, images))
    for i, piece in enumerate(text):
        out += line("a0", piece)
        if i == len(text) // 2:
            out += line("a2", [{"type": "heartbeat"}])
            if "[[a3]]" in prompt:
                out += line("a3", "An error occurred with the model provider")
                break
    usage = {"promptTokens": len(prompt) // 4, "completionTokens": len(text)}
    out += line("ad", {"finishReason": "stop", "usage": usage})
    data = bytes(out)
    step = 23  # not a multiple of anything: splits lines and UTF-8 sequences
    for start in range(0, len(data), step):
        yield data[start : start + step]
        await asyncio.sleep(delay)


# For tests/replicas/tls.py, which serves an app by its import path: the
# accounts come from the environment.
app = create_app(
    [n for n in os.environ.get("ARENA_REPLICA_ACCOUNTS", "alice,bob").split(",") if n],
    pace=float(os.environ.get("ARENA_REPLICA_PACE", "0.01")),
)
