"""A replica of gemini.google.com, served under its real hostnames (tls.py).

Facts carried over (the code is our own), each with its source:
- The page at https://gemini.google.com/app; it embeds the tokens its
  requests need in WIZ_global_data: "SNlM0e" (sent as the form field `at`;
  without it a post fails with 400), "cfb2h" (the build label, query `bl`),
  "FdrFJe" (the session id, `f.sid`): HanaokaYuzu/Gemini-API @fbe07905
  src/gemini_webapi/utils/get_access_token.py (the regexes),
  src/gemini_webapi/constants.py (Endpoint.INIT).
- The answer: POST /_/BardChatUi/data/assistant.lamda.BardFrontendService/
  StreamGenerate?hl=..&_reqid=..&rt=c&bl=.., form-encoded, `at` and
  `f.req` = JSON [null, "<inner request JSON>"] whose [0][0] is the prompt,
  [45] 1 for a temporary chat ("will not show up in Gemini history"), the
  model in the header x-goog-ext-525001261-jspb as
  [1,null,null,null,"<model id>",null,null,0,[4],null,null,<tail>], with
  X-Same-Domain: 1: client.py _generate, constants.py (build_model_header,
  TEMPORARY_CHAT_FLAG_INDEX = 45, Headers.SAME_DOMAIN).
- The body: `)]}'`, then length-prefixed frames of ["wrb.fr", null,
  "<inner JSON>"] envelopes, the answer so far in every frame, an error
  code at [5][2][0][1][0] (1037: usage limit): see answers.py and
  instance_runner/sites/decoders/gemini.py for where each is cited.
- Images: a resumable upload to Google's upload service: POST
  https://push.clients6.google.com/upload/ with `x-goog-upload-command:
  start`, `x-goog-upload-protocol: resumable`,
  `x-goog-upload-header-content-length`, `push-id: feeds/mcudyrk2a4khkz`,
  `x-tenant-id: bard-storage` and the form body "File name: <name>=";
  the session URL comes back in `x-goog-upload-url` (an upload_id in its
  query); the bytes are POSTed there with `x-goog-upload-command: upload,
  finalize` and `x-goog-upload-offset: 0`, and the answer's text is the
  file's reference, "/contrib_service/ttl_1d/<id>": public Gemini clients
  found by content search (index ids 58577877715 and 2508912939, no
  repository named; the fallback host content-push.googleapis.com/upload,
  Push-ID and the reference's form: HanaokaYuzu/Gemini-API
  src/gemini_webapi/utils/upload_file.py
  @007872e0306a8aa12a4e440701c7d228f740906f). foxhui/WebAI2API
  src/backend/adapter/gemini_text.js @edd9336bb23789ee567367fe6bbee204ed03d84a
  waits for a 200 from a URL holding "google.com/upload/" and "upload_id=".
  The prompt's [0][3] then lists [[<reference>, 1], <file name>] per file
  (a public client found by content search, index id 13848786162, no
  repository named: [[[file_id, 1], None, None]]).
- Signed out, the visit ends on accounts.google.com's account chooser
  (Google's redirect; the chooser page and its title "Sign in" are AI
  Studio's replica's, from iBUHub/AIStudioToAPI src/core/BrowserManager.js);
  SID is Google's session cookie (tests/replicas/aistudio/app.py).
Assumed (no source states them): the HTTP status of a challenged request
(429 with Google's "unusual traffic" /sorry/ page, the page Google serves
when it suspects automated traffic), that a temporary chat is off on each
page load and the mode is remembered across loads, the candidate's
incomplete status value ([8][0] = 1), the "di"/"af.httprm" envelopes' values,
and the page details noted in static/index.html.

Behaviour by prompt text: "[ratelimit]" the 1037 usage limit in a 200,
"[captcha]" 429 with the unusual-traffic page, "[hang]" the first frame
and then nothing, "[slow]" paced slowly. The answer names the sha256 of
each uploaded file the prompt refers to. Assumed: the upload host's CORS
answer, the reference's random part.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import secrets
import uuid
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

from tests.replicas.aistudio.app import account_chooser
from tests.replicas.gemini.answers import (
    AT_TOKEN,
    MODES,
    THINKS,
    answer,
    body,
    error,
    frame,
    thinking,
)

STATIC = Path(__file__).with_name("static")
ORIGIN = "https://gemini.google.com"
GENERATE = "/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate"
PACE = float(os.environ.get("REPLICA_PACE_MS", "5")) / 1000
BUILD = "boq_assistant-bard-web-server_20261201.00_p0"
SORRY = (
    "<html><head><title>https://gemini.google.com/</title></head><body>"
    "<div>Our systems have detected unusual traffic from your computer network.</div>"
    '<form action="/sorry/index"><div class="g-recaptcha"></div></form></body></html>'
)
# For tests (/replica/last): the last StreamGenerate, and how many came.
SEEN: dict[str, object] = {"requests": 0}
PUSH = "https://push.clients6.google.com/upload/"
SESSIONS: dict[str, dict] = {}  # upload_id -> {name, size, mime}
FILES: dict[str, dict] = {}  # reference -> {mime, data}
PUSH_CORS = {
    "access-control-allow-origin": ORIGIN,
    "access-control-allow-methods": "POST",
    "access-control-allow-headers": "content-type, push-id, x-tenant-id, x-goog-upload-command, "
    "x-goog-upload-protocol, x-goog-upload-header-content-length, x-goog-upload-offset",
    "access-control-expose-headers": "x-goog-upload-url, x-goog-upload-status",
}


def signed_in(request: Request) -> bool:
    return bool(request.cookies.get("SID"))


async def app_page(request: Request) -> Response:
    if not signed_in(request):
        target = f"{ORIGIN}{request.url.path}"
        return RedirectResponse(
            f"https://accounts.google.com/v3/signin/accountchooser?continue={target}", 302
        )
    html = (STATIC / "index.html").read_text()
    wiz = {"SNlM0e": AT_TOKEN, "cfb2h": BUILD, "FdrFJe": str(random.randrange(10**18))}
    html = html.replace("{{WIZ}}", json.dumps(wiz))
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


async def root(request: Request) -> Response:
    return RedirectResponse(f"{ORIGIN}/app", 302)


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    path = STATIC / name
    if "/" in name or not path.is_file():
        return Response(status_code=404)
    return FileResponse(path, headers={"Cache-Control": "no-store"})


def model_of(request: Request) -> str:
    """The mode whose model id the header names ("" for none or another)."""
    try:
        sent = json.loads(request.headers.get("x-goog-ext-525001261-jspb", ""))[4]
    except (ValueError, IndexError, TypeError):
        return ""
    return next((mode for mode, mid in MODES.items() if mid == sent), "")


async def generate(request: Request) -> Response:
    form = await request.form()
    try:
        inner = json.loads(json.loads(str(form.get("f.req", "")))[1])
        prompt = str(inner[0][0])
        refs = [str(f[0][0]) for f in inner[0][3] or []]
    except (ValueError, IndexError, TypeError):
        return Response(status_code=400)
    images = [FILES.get(r) for r in refs]
    mode = model_of(request)
    SEEN.update(
        requests=int(SEEN["requests"]) + 1,  # type: ignore[call-overload]
        prompt_chars=len(prompt),
        mode=mode,
        temporary=len(inner) > 45 and inner[45] == 1,
        chat=inner[2][0] if isinstance(inner[2], list) and inner[2] else "",
        same_domain=request.headers.get("x-same-domain") == "1",
        bl=request.query_params.get("bl") == BUILD,
        images=[{"mime": f["mime"], "sha256": f["sha256"]} for f in images if f],
    )
    if not all(images):
        return Response(")]}'\n", 400)
    if form.get("at") != AT_TOKEN or not signed_in(request):
        return Response(")]}'\n", 400)  # what a post without a valid `at` gets
    if "[captcha]" in prompt:
        return HTMLResponse(SORRY, 429)
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    kind = "application/json; charset=utf-8"
    if "[ratelimit]" in prompt:
        parts = [b")]}'\n", frame([error(1037)])]
    else:
        think = thinking(prompt) if mode in THINKS else ""
        hashes = tuple(str(f["sha256"]) for f in images if f)
        text = answer(prompt, mode or "Fast", hashes)
        parts = body(f"c_{uuid.uuid4().hex[:16]}", think, text)
    pace = 0.15 if "[slow]" in prompt else PACE
    rng = random.Random(prompt)

    async def stream() -> AsyncIterator[bytes]:
        if "[hang]" in prompt:
            yield parts[0] + parts[1]
            await asyncio.Event().wait()  # never: the page gives up or stops it
        for part in parts:
            cut = rng.randrange(1, len(part)) if len(part) > 1 else 1  # splits anywhere
            yield part[:cut]
            yield part[cut:]
            await asyncio.sleep(pace)

    return StreamingResponse(stream(), headers=headers, media_type=kind)


async def push(request: Request) -> Response:
    """Google's upload service (push.clients6.google.com/upload/): a
    resumable upload's start, then its one "upload, finalize"."""
    if request.method == "OPTIONS":
        return Response(status_code=200, headers=PUSH_CORS)
    h = request.headers
    if h.get("push-id") != "feeds/mcudyrk2a4khkz":
        return Response(status_code=400, headers=PUSH_CORS)
    command = h.get("x-goog-upload-command", "")
    if command == "start" and h.get("x-goog-upload-protocol") == "resumable":
        form = (await request.body()).decode()
        upload_id = secrets.token_urlsafe(24)
        size = int(h.get("x-goog-upload-header-content-length", "-1"))
        SESSIONS[upload_id] = {"name": form.removeprefix("File+name%3A+"), "size": size}
        url = f"{PUSH}?upload_id={upload_id}&upload_protocol=resumable"
        headers = {**PUSH_CORS, "x-goog-upload-status": "active", "x-goog-upload-url": url}
        return Response(status_code=200, headers=headers)
    session = SESSIONS.pop(request.query_params.get("upload_id", ""), None)
    if command != "upload, finalize" or session is None or h.get("x-goog-upload-offset") != "0":
        return Response(status_code=400, headers=PUSH_CORS)
    data = await request.body()
    if len(data) != session["size"]:
        return Response(status_code=400, headers=PUSH_CORS)
    ref = f"/contrib_service/ttl_1d/{secrets.token_hex(20)}"
    FILES[ref] = {"mime": h.get("content-type", ""), "sha256": hashlib.sha256(data).hexdigest()}
    headers = {**PUSH_CORS, "x-goog-upload-status": "final"}
    return Response(ref, headers=headers, media_type="text/plain")


async def last(request: Request) -> Response:
    """Not part of Gemini: what the page last sent, for the tests."""
    return Response(json.dumps(SEEN), media_type="application/json")


app = Starlette(
    routes=[
        Route("/replica/last", last),
        Route("/", root),
        Route("/app", app_page),
        Route("/app/{chat}", app_page),
        Route("/static/{name}", static),
        Route("/v3/signin/accountchooser", account_chooser),
        Route(GENERATE, generate, methods=["POST"]),
        Route("/upload/", push, methods=["POST", "OPTIONS"]),
    ]
)
