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
and then nothing, "[slow]" paced slowly.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
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
    except (ValueError, IndexError, TypeError):
        return Response(status_code=400)
    mode = model_of(request)
    SEEN.update(
        requests=int(SEEN["requests"]) + 1,  # type: ignore[call-overload]
        prompt_chars=len(prompt),
        mode=mode,
        temporary=len(inner) > 45 and inner[45] == 1,
        chat=inner[2][0] if isinstance(inner[2], list) and inner[2] else "",
        same_domain=request.headers.get("x-same-domain") == "1",
        bl=request.query_params.get("bl") == BUILD,
    )
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
        parts = body(f"c_{uuid.uuid4().hex[:16]}", think, answer(prompt, mode or "Fast"))
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
    ]
)
