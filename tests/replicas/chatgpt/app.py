"""A replica of chatgpt.com, served under its real hostname (tls.py).

Facts carried over (the code is our own), each with its source:
- The page reads its access token from GET /api/auth/session
  ({"accessToken": ...}; none when signed out) and sends it as
  `Authorization: Bearer`; the login is the `__Secure-next-auth.session-token`
  cookie: xtekky/gpt4free g4f/Provider/needs_auth/OpenaiChat.py @0332c0c0
  (fetch_access_token, nodriver_access_token, _set_api_key).
- Before each message the page POSTs /backend-api/sentinel/chat-requirements
  ({"conversation_mode_kind": "primary_assistant"}) and gets {"token",
  "proofofwork": {"required", "seed", "difficulty"}, "arkose", "turnstile"};
  it solves the proof of work and sends the conversation with the headers
  `Openai-Sentinel-Chat-Requirements-Token` and `Openai-Sentinel-Proof-Token`:
  gpt4free OpenaiChat.py (create_async_generator) @0332c0c0.
- Between the two, POST /backend-api/f/conversation/prepare (with the
  sentinel headers) answers {"conduit_token": ...}, sent on as
  `X-Conduit-Token`: a public Go client of chatgpt.com found by content
  search (index id 56138041178, no repository named); its URL holds the
  conversation's, so the site file must tell them apart.
- The conversation POST /backend-api/conversation (the page now uses
  /backend-api/f/conversation: foxhui/WebAI2API src/backend/adapter/
  chatgpt_text.js @b985a5da) with {"action": "next", "messages": [{"author":
  {"role": "user"}, "content": {"content_type": "text", "parts": [...]}}],
  "parent_message_id", "model", "history_and_training_disabled",
  "conversation_mode": {"kind": "primary_assistant"}}: gpt4free OpenaiChat.py.
- The answer: delta encoding "v1" (instance_runner/sites/decoders/
  chatgpt.py cites each shape; answers.py makes them), ending in
  `{"type": "message_stream_complete"}` and `data: [DONE]`: lanqian528/chat2api
  chatgpt/stream_v1.py @e043fdff, WebAI2API chatgpt_text.js.
- GET /backend-api/models: {"models": [{"slug", ...}], "categories": [...]}:
  lanqian528/chat2api chatgpt/services/model_mixin.py @aa91e0ec
  (fetch_available_models) and api/models.py @29944c6f
  (extract_model_slugs reads models[].slug); gpt4free OpenaiChat.py
  get_default_model reads categories[-1].default_model. The display name
  in "title" is assumed.
- Images (xtekky/gpt4free g4f/Provider/needs_auth/OpenaiChat.py
  @0332c0c0dd01dd71aabca62f007ad9e8809ee48f, upload_image and
  create_messages): POST /backend-api/files {"file_name", "file_size",
  "use_case": "multimodal"} answers {"upload_url", "file_id"}; the bytes go
  in a PUT to upload_url with `x-ms-blob-type: BlockBlob` (an Azure blob)
  and the file's Content-Type; POST /backend-api/files/<id>/uploaded ({})
  answers {"download_url"}. The message is then {"content_type":
  "multimodal_text", "parts": [{"asset_pointer": "file-service://<id>",
  "size_bytes", "width", "height"}, ..., "<prompt>"]} with
  metadata.attachments [{"id", "name", "mimeType", "size", "width",
  "height"}]. The page takes the files through the file chooser of the
  "Add files and more" button (foxhui/WebAI2API src/backend/adapter/
  chatgpt_text.js @b985a5da05d1d597511d6cf972efe982e6dc6c29, which waits
  for the backend-api/files responses; it also waits for a later
  backend-api/files/process_upload_stream, a newer step no source shows
  the shape of, so the replica has none). Assumed: the upload_url's host
  (files.oaiusercontent.com, the host public drivers read ChatGPT's files
  from) and its CORS answer.
- The rate limit: a 429 whose detail says "You've reached our limit of
  messages per hour. Please try again later." (the text: public drivers of
  the page, e.g. Erol444/gpt4-openai-api driver.py; the 429 is assumed).
- Cloudflare's challenge: an HTML page titled "Just a moment..." with a 403.
Assumed (no source states them): the proof-of-work hash (SHA-256 over seed
and a counter here; the page's is SHA3-512 over a browser-config array,
gpt4free proofofwork.py, whose code does not carry over), the 401 body,
and the page details noted in static/index.html.

Behaviour by prompt text: "[ratelimit]" 429, "[captcha]" 403 Cloudflare
page, "[expired]" 401, "[hang]" the stream's first events and then nothing,
"[slow]" paced slowly. The answer names the sha256 of each image the
message points at (uploaded, its bytes as PUT).
"""

from __future__ import annotations

import asyncio
import base64
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
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from tests.replicas.chatgpt.answers import (
    ACCESS,
    COOKIE,
    MODELS,
    REASONING,
    SESSION,
    answer,
    events,
    thinking,
)

STATIC = Path(__file__).with_name("static")
PACE = float(os.environ.get("REPLICA_PACE_MS", "5")) / 1000
DIFFICULTY = "0fff"  # a hex prefix the proof's hash must not exceed
LIMIT = "You've reached our limit of messages per hour. Please try again later."
SEEN: dict[str, object] = {"requests": 0, "requirements": 0, "prepared": 0}
FILES: dict[str, dict] = {}  # file_id -> {name, size, data, mime, uploaded}
BLOB = "https://files.oaiusercontent.com"
CONDUITS: set[str] = set()  # conduit tokens given out (single use)
TOKENS: dict[str, str] = {}  # chat-requirements token -> its proof-of-work seed (single use)


def signed_in(request: Request) -> bool:
    return request.cookies.get(COOKIE) == SESSION


def authorized(request: Request) -> bool:
    return request.headers.get("authorization", "") == f"Bearer {ACCESS}"


def unauthorized() -> Response:
    return JSONResponse(
        {"detail": {"code": "token_expired", "message": "Your session has expired."}}, 401
    )


def no_store(name: str) -> Response:
    return FileResponse(STATIC / name, headers={"Cache-Control": "no-store"})


def challenge_page() -> Response:
    html = "<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
    html += "<body><div id='challenge-form'>cf-chl</div></body></html>"
    return HTMLResponse(html, 403, headers={"cf-mitigated": "challenge"})


async def page(request: Request) -> Response:
    if SEEN.get("challenge"):  # Cloudflare challenges the page itself
        return challenge_page()
    return no_store("index.html" if signed_in(request) else "logged_out.html")


async def login_page(request: Request) -> Response:
    return no_store("login.html")


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if "/" in name or not (STATIC / name).is_file():
        return Response(status_code=404)
    return no_store(name)


async def session(request: Request) -> Response:
    if not signed_in(request):
        return JSONResponse({})
    user = {"id": "user-replica", "name": "Replica", "email": "r***@example.com"}
    return JSONResponse(
        {"user": user, "expires": "2099-01-01T00:00:00.000Z", "accessToken": ACCESS}
    )


async def login(request: Request) -> Response:
    """Any e-mail and password sign in the replica's one account."""
    response = JSONResponse({"ok": True})
    response.set_cookie(COOKIE, SESSION, secure=True, httponly=True, samesite="lax")
    return response


async def models(request: Request) -> Response:
    if not authorized(request):
        return unauthorized()
    listed = [{"slug": m["slug"], "title": m["title"], "max_tokens": 8191,
               "tags": ["reasoning"] if m["reasoning"] else []} for m in MODELS]  # fmt: skip
    return JSONResponse({"models": listed, "categories": [], "default_model_slug": "gpt-4o"})


def digest(seed: str, answer: int) -> str:
    return hashlib.sha256(f"{seed}{answer}".encode()).hexdigest()


async def requirements(request: Request) -> Response:
    if not authorized(request):
        return unauthorized()
    SEEN["requirements"] = int(SEEN["requirements"]) + 1  # type: ignore[call-overload]
    token, seed = "gAAAAAB" + secrets.token_urlsafe(24), secrets.token_hex(8)
    TOKENS[token] = seed
    return JSONResponse({
        "persona": "chatgpt-paid", "token": token,
        "arkose": {"required": False, "dx": None}, "turnstile": {"required": False},
        "proofofwork": {"required": True, "seed": seed, "difficulty": DIFFICULTY},
    })  # fmt: skip


def proof_ok(token: str, proof: str) -> bool:
    """The proof answers the seed this server gave with that token, once."""
    seed = TOKENS.pop(token, None)
    if seed is None or not proof.startswith("gAAAAAB"):
        return False
    try:
        n = int(json.loads(base64.b64decode(proof[7:]))[-1])
    except (ValueError, TypeError, IndexError):
        return False
    return digest(seed, n)[: len(DIFFICULTY)] <= DIFFICULTY


async def prepare(request: Request) -> Response:
    if not authorized(request):
        return unauthorized()
    SEEN["prepared"] = int(SEEN["prepared"]) + 1  # type: ignore[call-overload]
    token = secrets.token_urlsafe(16)
    CONDUITS.add(token)
    return JSONResponse({"status": "ok", "conduit_token": token})


async def conversation(request: Request) -> Response:
    if not authorized(request):
        return unauthorized()
    body = await request.json()
    message = (body.get("messages") or [{}])[0]
    parts = (message.get("content") or {}).get("parts") or [""]
    prompt = next((p for p in reversed(parts) if isinstance(p, str)), "")
    images = [pointed(p) for p in parts if isinstance(p, dict)]
    model = str(body.get("model", ""))
    headers = request.headers
    SEEN.update(
        requests=int(SEEN["requests"]) + 1,  # type: ignore[call-overload]
        prompt=prompt,
        model=model,
        temporary=bool(body.get("history_and_training_disabled")),
        conversation=body.get("conversation_id"),
        images=[{"mime": f["mime"], "sha256": f["sha256"]} for f in images if f],
        conduit=headers.get("x-conduit-token", "-") in CONDUITS,
        proof=proof_ok(headers.get("openai-sentinel-chat-requirements-token", ""),
                       headers.get("openai-sentinel-proof-token", "")),
    )  # fmt: skip
    if not all(images):
        return JSONResponse({"detail": "An attachment could not be found."}, 400)
    if not SEEN["proof"]:
        return JSONResponse({"detail": "Unusual activity has been detected from your device."}, 403)
    if "[expired]" in prompt:
        return unauthorized()
    if "[ratelimit]" in prompt:
        return JSONResponse({"detail": LIMIT}, 429)
    if "[captcha]" in prompt:
        return challenge_page()
    think = thinking(prompt) if model in REASONING else ""
    hashes = tuple(str(f["sha256"]) for f in images if f)
    parts = events(think, answer(prompt, model, hashes), str(uuid.uuid4()))
    pace = 0.15 if "[slow]" in prompt else PACE
    rng = random.Random(prompt)

    async def stream() -> AsyncIterator[bytes]:
        if "[hang]" in prompt:
            yield parts[0]
            await asyncio.Event().wait()  # never: the page gives up or stops it
        for part in parts:
            cut = rng.randrange(1, len(part))  # network chunks split anywhere
            yield part[:cut]
            yield part[cut:]
            await asyncio.sleep(pace)

    return StreamingResponse(
        stream(), headers={"Cache-Control": "no-store"}, media_type="text/event-stream"
    )


def pointed(part: dict) -> dict | None:
    """The uploaded file an asset_pointer names, with its sha256; None if none."""
    file_id = str(part.get("asset_pointer", "")).removeprefix("file-service://")
    f = FILES.get(file_id)
    if f is None or not f["uploaded"] or f["data"] is None:
        return None
    return {"mime": f["mime"], "sha256": hashlib.sha256(f["data"]).hexdigest()}


async def create_file(request: Request) -> Response:
    if not authorized(request):
        return unauthorized()
    body = await request.json()
    if body.get("use_case") != "multimodal" or not isinstance(body.get("file_size"), int):
        return JSONResponse({"detail": "Invalid file request."}, 422)
    file_id = "file-" + secrets.token_hex(12)
    FILES[file_id] = {"name": body.get("file_name"), "size": body["file_size"], "data": None,
                      "mime": "", "uploaded": False}  # fmt: skip
    url = f"{BLOB}/{file_id}?sv=replica&sig=" + secrets.token_urlsafe(8)
    return JSONResponse({"status": "success", "upload_url": url, "file_id": file_id})


BLOB_CORS = {
    "access-control-allow-origin": "https://chatgpt.com",
    "access-control-allow-methods": "PUT",
    "access-control-allow-headers": "content-type, x-ms-blob-type",
}


async def blob(request: Request) -> Response:
    """The upload_url (the blob store, on its own host): PUT the bytes."""
    if request.method == "OPTIONS":
        return Response(status_code=200, headers=BLOB_CORS)
    f = FILES.get(request.path_params["file_id"])
    if f is None or request.headers.get("x-ms-blob-type") != "BlockBlob":
        return Response(status_code=400, headers=BLOB_CORS)
    data = await request.body()
    if len(data) != f["size"]:
        return Response(status_code=400, headers=BLOB_CORS)
    f.update(data=data, mime=request.headers.get("content-type", ""))
    return Response(status_code=201, headers=BLOB_CORS)


async def uploaded(request: Request) -> Response:
    if not authorized(request):
        return unauthorized()
    f = FILES.get(request.path_params["file_id"])
    if f is None or f["data"] is None:
        return JSONResponse({"detail": "File not found."}, 404)
    f["uploaded"] = True
    url = f"{BLOB}/{request.path_params['file_id']}/download"
    return JSONResponse({"status": "success", "download_url": url})


async def set_challenge(request: Request) -> Response:
    """Not part of ChatGPT: challenge every page load from now (on=1) or not."""
    SEEN["challenge"] = request.query_params.get("on") == "1"
    return Response(status_code=204)


async def last(request: Request) -> Response:
    """Not part of ChatGPT: what the page last sent, for the tests."""
    return Response(json.dumps(SEEN), media_type="application/json")


app = Starlette(
    routes=[
        Route("/replica/last", last),
        Route("/replica/challenge", set_challenge, methods=["POST"]),
        Route("/", page),
        Route("/c/{cid}", page),
        Route("/auth/login", login_page),
        Route("/static/{name}", static),
        Route("/api/auth/session", session),
        Route("/api/auth/callback/credentials", login, methods=["POST"]),
        Route("/backend-api/models", models),
        Route("/backend-api/sentinel/chat-requirements", requirements, methods=["POST"]),
        Route("/backend-api/conversation", conversation, methods=["POST"]),
        Route("/backend-api/f/conversation/prepare", prepare, methods=["POST"]),
        Route("/backend-api/f/conversation", conversation, methods=["POST"]),
        Route("/backend-api/files", create_file, methods=["POST"]),
        Route("/backend-api/files/{file_id}/uploaded", uploaded, methods=["POST"]),
        Route("/{file_id:str}", blob, methods=["PUT", "OPTIONS"]),
    ]
)
