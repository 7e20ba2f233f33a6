"""A replica of Google AI Studio, served under its real hostnames (tls.py).

Facts carried over (code is our own), each with its source:
- The page at https://aistudio.google.com/prompts/new_chat; signed out, the
  visit ends on accounts.google.com (an account chooser, title "Sign in"):
  iBUHub/AIStudioToAPI src/core/BrowserManager.js _checkPageStatusAndErrors
  (url includes "accounts.google.com", title includes "Sign in").
- The RPC host and paths: https://alkalimakersuite-pa.clients6.google.com/$rpc/
  google.internal.alkali.applications.makersuite.v1.MakerSuiteService/
  {GenerateContent, ListModels}, content-type application/json+protobuf:
  Mag1cFall/AIStudio2API docs/reverse-engineering-internals.md ("RPC 服务端点",
  "必需请求头"); src/config/constants.py MODELS_ENDPOINT_URL_CONTAINS.
- ListModels answers `)]}'` + newline + nested arrays, a model per entry with
  "models/<id>" at [0] and the display name at [3], max output tokens at [6],
  top_p at [9]: CJackHwang/AIstudioProxyAPI browser_utils/operations.py
  _handle_model_list_response; browser_utils/initialization/network.py
  (ANTI_HIJACK_PREFIX).
- GenerateContent streams one JSON array element by element; an element is
  [[candidate], null, [usage...], null, null, null, null, "v1_..."], its
  content [[part], "model"], a text part [null, text], a thinking part
  [null, text, null x10, 1]: Mag1cFall/AIStudio2API
  docs/reverse-engineering-internals.md ("流式响应块结构"); CJackHwang/
  AIstudioProxyAPI stream/interceptors.py (len 2 = text, > 2 = thinking).
- The request body ["models/<id>", contents, ...] with contents as
  [[[null, text]], "user"]: Mag1cFall docs ("请求 Payload 结构").
- Quota: RESOURCE_EXHAUSTED / "exceeded quota": CJackHwang stream/
  interceptors.py process_request (jserror keywords).
- Requests to the RPC host carry `Authorization: SAPISIDHASH <ts>_<sha1 of
  "<ts> <SAPISID> <origin>">`, computed by the page from the SAPISID cookie:
  yt-dlp/yt-dlp yt_dlp/extractor/youtube/_base.py _make_sid_authorization
  (the same Google scheme).
- "Temporary chat" (the page saves no chat while it is on) and its
  switches: CJackHwang browser_utils/initialization/core.py
  (enable_temporary_chat_mode, _is_temporary_chat_active); a chat is saved
  with CreatePrompt: Mag1cFall docs/reverse-engineering-internals.md
  ("/CreatePrompt - 保存对话").
Assumed (no source states them): that "Temporary chat" is off on each page
load, the CreatePrompt body, the account button in the page's header
(Google's bar labels it "Google Account: NAME &#10;(EMAIL)"; a signed-in
AI Studio shows it), a candidate's finish reason right after its
content (the public API's Candidate field order), the error body's JSON shape
({"error": {code, message, status}}, Google's REST error), and where the
generation settings sit in the request (GenerationConfig's field order).

Behaviour by prompt text: "[quota]" 429, "[error]" 500, "[forbidden]" 403
(permission), "[captcha]" 403 (unusual traffic), "[slow]" paced slowly,
"[hang]" headers and then nothing, "[nothink]" no thinking parts, "[tail]"
("[tail:S]") the array's end held back 1 (S) seconds after the answer's last
element (the page keeps generating, its run button a stop button and "New
chat" locked, after a proxy has read the whole answer: CJackHwang/
AIstudioProxyAPI browser_utils/page_controller_modules/chat.py
clear_chat_history's comments; the length is ours).
A profile cookie `replica_ui=old` serves the older UI.
Images (static/upload.js says where each fact comes from): the answer names
the sha256 of each image part of the last user turn (answers.py), so tests
see the bytes arrive.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import os
import random
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from tests.replicas.aistudio.answers import DEFAULT_MODEL, MODELS, answer, pieces, thinking

STATIC = Path(__file__).with_name("static")
RPC = "/$rpc/google.internal.alkali.applications.makersuite.v1.MakerSuiteService"
ORIGIN = "https://aistudio.google.com"
XSSI = ")]}'\n"
PACE = float(os.environ.get("REPLICA_PACE_MS", "5")) / 1000
TAIL = re.compile(r"\[tail(?::(\d+(?:\.\d+)?))?\]")  # "[tail]", "[tail:S]"
SESSION_COOKIE = "SID"  # Google's session cookie; without it, the account chooser
ACCOUNT_NAME, ACCOUNT_EMAIL = "Ada Lovelace", "someone@example.com"  # the signed-in account
# The last GenerateContent, and chats saved (CreatePrompt), for tests (/replica/last)
SEEN: dict[str, object] = {"requests": 0, "saved": 0}
# Not part of AI Studio, for tests: when each page load was served (the page
# sends its number with GenerateContent), and a delay for page loads.
LOADS: list[float] = []
SLOW_LOADS = [0.0]


def signed_in(request: Request) -> bool:
    return bool(request.cookies.get(SESSION_COOKIE))


async def page(request: Request) -> Response:
    if not signed_in(request):
        target = f"{ORIGIN}{request.url.path}"
        return RedirectResponse(
            f"https://accounts.google.com/v3/signin/accountchooser?continue={target}", 302
        )
    ui = "old" if request.cookies.get("replica_ui") == "old" else "new"
    await asyncio.sleep(SLOW_LOADS[0])
    html = (STATIC / "index.html").read_text().replace("{{UI}}", ui)
    html = html.replace("{{LOAD}}", str(len(LOADS)))
    # Not part of AI Studio, for tests: a Run button that ignores clicks from
    # page script, as a site checking `isTrusted` would; a page that leaves
    # the prompt in its box as it sends; an add-media button whose first
    # click is lost (a page not yet ready for it).
    switches = {
        "TRUSTED_ONLY": "replica_trusted_only",
        "KEEPS": "replica_keeps_prompt",
        "LOSES": "replica_loses_first_click",
    }
    for key, cookie in switches.items():
        html = html.replace(f"{{{{{key}}}}}", "1" if request.cookies.get(cookie) == "1" else "")
    LOADS.append(time.monotonic())
    for key, value in (("{{ACCOUNT_NAME}}", ACCOUNT_NAME), ("{{ACCOUNT_EMAIL}}", ACCOUNT_EMAIL)):
        html = html.replace(key, value)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


async def root(request: Request) -> Response:
    return RedirectResponse(f"{ORIGIN}/prompts/new_chat", 302)


async def account_chooser(request: Request) -> Response:
    return FileResponse(STATIC / "accountchooser.html")


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    path = STATIC / name
    if "/" in name or not path.is_file():
        return Response(status_code=404)
    return FileResponse(path, headers={"Cache-Control": "no-store"})


def cors(request: Request) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": request.headers.get("origin", ORIGIN),
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Headers": (
            "authorization, content-type, x-goog-api-key, x-goog-authuser, x-replica-load, "
            "x-replica-temporary, x-replica-agreed-now, x-replica-stray-clicks, x-replica-tz"
        ),
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Expose-Headers": "retry-after",
    }


async def preflight(request: Request) -> Response:
    return Response(status_code=204, headers=cors(request))


def rpc_error(request: Request, code: int, status: str, message: str, **headers: str) -> Response:
    body = json.dumps({"error": {"code": code, "message": message, "status": status}})
    return Response(body, code, {**cors(request), **headers}, media_type="application/json")


def bad_hash(request: Request) -> bool:
    """With a SAPISID cookie, the request must carry its SAPISIDHASH (any age)."""
    sapisid = request.cookies.get("SAPISID")
    if not sapisid:
        return False
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    ts, _, digest = value.partition("_")
    origin = request.headers.get("origin", ORIGIN)
    want = hashlib.sha1(f"{ts} {sapisid} {origin}".encode()).hexdigest()
    return scheme != "SAPISIDHASH" or digest != want


async def list_models(request: Request) -> Response:
    if not signed_in(request) or bad_hash(request):
        return rpc_error(request, 401, "UNAUTHENTICATED", "Request is missing credentials.")
    entries = [
        [f"models/{mid}", None, "001", name, f"{name}, replica", None, 65536, None, 1.0, 0.95]
        for mid, name in MODELS.items()
    ]
    body = XSSI + json.dumps([entries])
    return Response(body, headers=cors(request), media_type="application/json+protobuf")


async def create_prompt(request: Request) -> Response:
    """Save a chat to the account (the page does, unless "Temporary chat" is on)."""
    if not signed_in(request) or bad_hash(request):
        return rpc_error(request, 401, "UNAUTHENTICATED", "Request is missing credentials.")
    SEEN["saved"] = int(SEEN.get("saved", 0)) + 1  # type: ignore[call-overload]
    return Response(XSSI + "[]", headers=cors(request), media_type="application/json+protobuf")


def element(part: list[object], finish: int | None = None, n: int = 0) -> bytes:
    content: list[object] = [[part], "model"]
    candidate = [content] if finish is None else [content, finish]
    usage = [12, None, 12 + n, None, [[1, 12]], None, None, None, None, n]
    return json.dumps(
        [[candidate], None, usage, None, None, None, None, "v1_replica"], ensure_ascii=False
    ).encode()


def last_user_parts(body: list[object]) -> list[object]:
    contents = body[1] if len(body) > 1 and isinstance(body[1], list) else []
    for content in reversed(contents):
        if isinstance(content, list) and len(content) > 1 and content[1] == "user":
            return content[0] if isinstance(content[0], list) else []
    return []


def last_user_text(body: list[object]) -> str:
    """The text parts, [null, text]; parts of other shapes are passed over."""
    parts = last_user_parts(body)
    return "".join(
        p[1] for p in parts if isinstance(p, list) and len(p) > 1 and isinstance(p[1], str)
    )


def last_user_images(body: list[object]) -> list[dict[str, str]] | None:
    """The image parts, [null, null, [mime, base64]] (inferred: see
    static/upload.js), as their type and sha256; None if one does not decode."""
    found = []
    for p in last_user_parts(body):
        if not (isinstance(p, list) and len(p) > 2 and isinstance(p[2], list) and len(p[2]) > 1):
            continue
        mime, data = p[2][0], p[2][1]
        try:
            raw = base64.b64decode(str(data), validate=True)
        except (binascii.Error, ValueError):
            return None
        found.append({"mime": str(mime), "sha256": hashlib.sha256(raw).hexdigest()})
    return found


async def generate(request: Request) -> Response:
    arrived = time.monotonic()
    if not signed_in(request) or bad_hash(request):
        return rpc_error(request, 401, "UNAUTHENTICATED", "Request is missing credentials.")
    body = json.loads(await request.body())
    model = str(body[0]).removeprefix("models/") or DEFAULT_MODEL
    prompt = last_user_text(body)
    images = last_user_images(body)
    system = body[4][0][0][1] if len(body) > 4 and body[4] else ""
    SEEN.update(
        requests=int(SEEN["requests"]) + 1,  # type: ignore[call-overload]
        model=model,
        prompt=prompt,
        turns=len(body[1]),
        config=body[3] if len(body) > 3 else None,
        system=system,
        arrived=arrived,
        loaded=page_loaded(request.headers.get("x-replica-load", "")),
        ended=None,  # set once this answer is out
        temporary=request.headers.get("x-replica-temporary") == "1",  # "Temporary chat" on
        images=images,  # the last user turn's image parts: [{mime, sha256}]
        agreed_now=request.headers.get("x-replica-agreed-now") == "1",  # copyright, this page
        stray_clicks=int(request.headers.get("x-replica-stray-clicks") or 0),  # on a backdrop
        timezone=request.headers.get("x-replica-tz", ""),  # the page's Intl time zone
        accept_language=request.headers.get("accept-language", ""),  # the browser's locale
    )
    if images is None:  # assumed: Google's answer to a part it cannot read
        return rpc_error(request, 400, "INVALID_ARGUMENT", "Unable to process input image.")
    if "[quota]" in prompt:
        message = "You've exceeded your quota for this model. Please try again later."
        return rpc_error(request, 429, "RESOURCE_EXHAUSTED", message)
    if "[error]" in prompt:
        return rpc_error(request, 500, "INTERNAL", "An internal error has occurred.")
    if "[forbidden]" in prompt:
        return rpc_error(request, 403, "PERMISSION_DENIED", "The caller does not have permission")
    if "[captcha]" in prompt:
        message = "Our systems have detected unusual traffic from your computer network."
        return rpc_error(request, 403, "PERMISSION_DENIED", message)
    pace = 0.15 if "[slow]" in prompt else PACE
    rng = random.Random(prompt)
    think = [] if "[nothink]" in prompt else pieces(thinking(model, prompt), 11)
    text = pieces(answer(model, prompt, system, tuple(i["sha256"] for i in images)))

    async def stream() -> AsyncIterator[bytes]:
        if "[hang]" in prompt:
            yield b"["
            await asyncio.Event().wait()  # never: the page gives up or stops it
        first = True
        items = [[None, t, *[None] * 10, 1] for t in think] + [[None, t] for t in text]
        # (monotonic time, answer characters so far, body bytes so far)
        sent: list[tuple[float, int, int]] = []
        SEEN["sent"] = sent  # for bench/instance_overhead.py
        length = size = 0
        for i, part in enumerate(items):
            data = (b"[" if first else b",\r\n") + element(
                part, 1 if i == len(items) - 1 else None, i
            )
            first = False
            cut = rng.randrange(1, len(data))  # network chunks split anywhere
            yield data[:cut]
            yield data[cut:]
            size += len(data)
            if len(part) == 2:
                length += len(str(part[1]))
                sent.append((time.monotonic(), length, size))
            await asyncio.sleep(pace)
        if tail := TAIL.search(prompt):
            await asyncio.sleep(float(tail[1] or 1))
        yield b"]"
        SEEN["ended"] = time.monotonic()  # the whole answer is out (the end follows)

    headers = {**cors(request), "Cache-Control": "no-store"}
    return StreamingResponse(stream(), headers=headers, media_type="application/json+protobuf")


def page_loaded(number: str) -> float | None:
    """When the page that sent this request was served."""
    return LOADS[int(number)] if number.isdigit() and int(number) < len(LOADS) else None


async def slow_loads(request: Request) -> Response:
    """Not part of AI Studio: delay every page load by ?seconds=S from now on."""
    SLOW_LOADS[0] = float(request.query_params.get("seconds", "0"))
    return Response(status_code=204)


async def last(request: Request) -> Response:
    """Not part of AI Studio: what the page last sent, for the tests."""
    return Response(json.dumps(SEEN), media_type="application/json")


app = Starlette(
    routes=[
        Route("/replica/last", last),
        Route("/replica/slow-loads", slow_loads, methods=["POST"]),
        Route("/", root),
        Route("/prompts/{rest:path}", page),
        Route("/static/{name}", static),
        Route("/v3/signin/accountchooser", account_chooser),
        Route(f"{RPC}/ListModels", list_models, methods=["POST"]),
        Route(f"{RPC}/GenerateContent", generate, methods=["POST"]),
        Route(f"{RPC}/CreatePrompt", create_prompt, methods=["POST"]),
        Route(f"{RPC}/{{method}}", preflight, methods=["OPTIONS"]),
    ]
)
