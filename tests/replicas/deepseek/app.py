"""A replica of chat.deepseek.com, served under its real hostname (tls.py).

Facts carried over (the code is our own), each with its source:
- The API under https://chat.deepseek.com/api/v0/: chat_session/create
  ({"character_id": null} -> data.biz_data.id), chat/create_pow_challenge
  ({"target_path": ...} -> data.biz_data.challenge), chat/completion, and
  users/current, all with `Authorization: Bearer <token>`; a business
  envelope {"code", "msg", "data": {"biz_code", "biz_msg", "biz_data"}}:
  LLM-Red-Team/deepseek-free-api src/api/controllers/chat.ts @15cc2a71
  (createSession, getChallengeResponse, createCompletion, checkResult);
  xtekky/deepseek4free dsk/api.py @049d67bd; xtekky/gpt4free
  g4f/Provider/needs_auth/DeepSeek.py @0ed3bcd5 (_unwrap_biz_response).
- The completion body {chat_session_id, parent_message_id, prompt,
  ref_file_ids, thinking_enabled, search_enabled} (deepseek4free dsk/api.py;
  gpt4free DeepSeek.py _build_completion_payload adds model_type, action,
  preempt) and its `x-ds-pow-response` header: base64 of JSON {algorithm,
  challenge, salt, answer, signature, target_path}, the answer found over
  "<salt>_<expire_at>_" with difficulty, algorithm "DeepSeekHashV1":
  gpt4free g4f/Provider/needs_auth/deepseek/pow.py @49c7e19e.
- The answer: text/event-stream, `event: ready` with request/response
  message ids, a response snapshot {"v": {"response": {...}}}, fragments
  APPENDed (THINK, RESPONSE), `response/fragments/-1/content` appends with
  bare {"v": "..."} continuations, a BATCH with quasi_status, status SET
  FINISHED, `event: close` {click_behavior, auto_resume}: gpt4free
  g4f/Provider/needs_auth/deepseek/stream.py @49c7e19e and DeepSeek.py;
  foxhui/WebAI2API src/backend/adapter/deepseek_text.js @940efdda.
- Files: POST /api/v0/file/upload_file, multipart with the field `file`,
  the headers `x-ds-pow-response` (a proof of work whose target_path is
  /api/v0/file/upload_file) and `x-file-size`, answers the file's id with
  status PENDING; GET /api/v0/file/fetch_files?file_ids=<ids, comma-
  separated> says each one's status (PENDING while parsed, then SUCCESS or
  FAILED); the completion refers to them in ref_file_ids: public DeepSeek
  clients found by content search (index ids 52595020011, a proxy's API
  notes; 69391278382, uploadImageFile: the form field "file" with the
  file's type and name; no repository named); the completion's
  ref_file_ids: LLM-Red-Team/deepseek-free-api src/api/controllers/chat.ts
  @0204900191791653679bab362564248d3b1c8f64 (sends it empty: that project
  drops images). Assumed: the shapes of biz_data for both (an id and a
  status; {"files": [...]}), one PENDING poll before SUCCESS, the code of
  a refused upload. DeepSeek reads a file's text: the answer here names
  each file's sha256 so the test sees the bytes arrive.
- 401 for an invalid or expired token, 429 for the rate limit, a Cloudflare
  "Just a moment..." HTML page when challenged: deepseek4free dsk/api.py
  (_make_request, chat_completion). Code 40003: a token no longer valid
  (deepseek-free-api chat.ts checkResult).
- "服务器繁忙\uff0c请稍后再试\u3002" ("server busy, please try again later"): what the
  site answers under load (zxarj/wxvl doc/2025-02, an article with its
  screenshot); here a business envelope with a non-zero biz_code (the shape
  of gpt4free's _unwrap_biz_response; the code number is assumed).
Assumed (no source states them): the 429 body, the PoW hash (SHA-256 here;
the site's is a SHA-3 variant in WebAssembly that no public project's code
may be carried over from), and the page details noted in static/index.html.

Behaviour by prompt text: "[ratelimit]" 429, "[busy]" server busy,
"[captcha]" 403 Cloudflare page, "[expired]" 401, "[hang]" the stream's
first event and then nothing, "[slow]" paced slowly.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import random
import secrets
import time
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

from tests.replicas.deepseek.answers import TOKEN, answer, events, thinking

STATIC = Path(__file__).with_name("static")
PACE = float(os.environ.get("REPLICA_PACE_MS", "5")) / 1000
ALGORITHM = "DeepSeekHashV1"
BUSY = "服务器繁忙\uff0c请稍后再试\u3002"  # "server busy, please try again later."
DIFFICULTY = 1000  # the answer lies in [0, DIFFICULTY)
COMPLETION = "/api/v0/chat/completion"
# For tests (/replica/last): the last completion, counts, sessions created.
SEEN: dict[str, object] = {"requests": 0, "sessions": 0}
CHALLENGES: dict[str, dict[str, object]] = {}  # signature -> the challenge (single use)
UPLOAD = "/api/v0/file/upload_file"
FILES: dict[str, dict] = {}  # id -> {name, mime, sha256, status, polls}


def envelope(biz_data: object = None, *, code: int = 0, biz_code: int = 0, msg: str = "") -> dict:
    data = {"biz_code": biz_code, "biz_msg": msg, "biz_data": biz_data}
    return {"code": code, "msg": "", "data": data}


def authorized(request: Request) -> bool:
    return request.headers.get("authorization", "") == f"Bearer {TOKEN}"


def unauthorized() -> Response:
    body = {"code": 40003, "msg": "Authorization Failed (invalid token)", "data": None}
    return JSONResponse(body, 401)


async def page(request: Request) -> Response:
    html = (STATIC / "index.html").read_text()
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


async def sign_in(request: Request) -> Response:
    return FileResponse(STATIC / "sign_in.html", headers={"Cache-Control": "no-store"})


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    path = STATIC / name
    if "/" in name or not path.is_file():
        return Response(status_code=404)
    return FileResponse(path, headers={"Cache-Control": "no-store"})


async def current_user(request: Request) -> Response:
    if not authorized(request):
        return unauthorized()
    return JSONResponse(envelope({"email": "s***@example.com", "chat": {"is_muted": 0}}))


async def login(request: Request) -> Response:
    """Any e-mail and password sign in the replica's one account."""
    user = {"token": TOKEN, "email": "s***@example.com"}
    return JSONResponse(envelope({"code": 0, "user": user}))


async def create_session(request: Request) -> Response:
    if not authorized(request):
        return unauthorized()
    SEEN["sessions"] = int(SEEN["sessions"]) + 1  # type: ignore[call-overload]
    return JSONResponse(envelope({"id": str(uuid.uuid4()), "title": None}))


def digest(salt: str, expire_at: int, answer: int) -> str:
    return hashlib.sha256(f"{salt}_{expire_at}_{answer}".encode()).hexdigest()


async def pow_challenge(request: Request) -> Response:
    if not authorized(request):
        return unauthorized()
    target = (await request.json()).get("target_path", "")
    salt, expire_at = secrets.token_hex(10), int(time.time() * 1000) + 300_000
    answer = random.randrange(DIFFICULTY)
    challenge = {
        "algorithm": ALGORITHM,
        "challenge": digest(salt, expire_at, answer),
        "salt": salt,
        "signature": secrets.token_hex(32),
        "difficulty": DIFFICULTY,
        "expire_at": expire_at,
        "expire_after": 300_000,
        "target_path": target,
    }
    CHALLENGES[str(challenge["signature"])] = challenge
    return JSONResponse(envelope({"challenge": challenge}))


def pow_ok(header: str, target: str = COMPLETION) -> bool:
    """The header answers a challenge this server set for `target`, once."""
    try:
        got = json.loads(base64.b64decode(header))
        challenge = CHALLENGES.pop(got["signature"])
    except (ValueError, KeyError, TypeError):
        return False
    return (
        got.get("target_path") == target == challenge["target_path"]
        and got.get("algorithm") == ALGORITHM
        and digest(str(challenge["salt"]), int(challenge["expire_at"]), int(got["answer"]))  # type: ignore[call-overload]
        == challenge["challenge"]
    )


async def completion(request: Request) -> Response:
    if not authorized(request):
        return unauthorized()
    body = await request.json()
    prompt = str(body.get("prompt", ""))
    files = [FILES.get(str(i)) for i in body.get("ref_file_ids") or []]
    SEEN.update(
        requests=int(SEEN["requests"]) + 1,  # type: ignore[call-overload]
        prompt=prompt,
        thinking=bool(body.get("thinking_enabled")),
        search=bool(body.get("search_enabled")),
        parent=body.get("parent_message_id"),
        session=body.get("chat_session_id"),
        pow=pow_ok(request.headers.get("x-ds-pow-response", "")),
        images=[{"mime": f["mime"], "sha256": f["sha256"]} for f in files if f],
    )
    if not all(f and f["status"] == "SUCCESS" for f in files):
        return JSONResponse(envelope(None, biz_code=40004, msg="File not found"), 200)
    if not SEEN["pow"]:
        return JSONResponse(envelope(None, biz_code=40301, msg="Invalid PoW response"), 200)
    if "[expired]" in prompt:
        return unauthorized()
    if "[ratelimit]" in prompt:
        message = "Too many requests, please wait and try again later."
        return JSONResponse(envelope(None, biz_code=4, msg=message), 429)
    if "[busy]" in prompt:
        return JSONResponse(envelope(None, biz_code=3, msg=BUSY))
    if "[captcha]" in prompt:
        html = "<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
        html += "<body>cf-chl</body></html>"
        return HTMLResponse(html, 403)
    thinks = bool(body.get("thinking_enabled"))
    think = thinking(prompt) if thinks else ""
    hashes = tuple(str(f["sha256"]) for f in files if f)
    text = answer(prompt, thinking=thinks, search=bool(body.get("search_enabled")), images=hashes)
    pace = 0.15 if "[slow]" in prompt else PACE
    rng = random.Random(prompt)

    async def stream() -> AsyncIterator[bytes]:
        parts = events(think, text)
        if "[hang]" in prompt:
            yield parts[0]
            await asyncio.Event().wait()  # never: the page gives up or stops it
        for part in parts:
            cut = rng.randrange(1, len(part))  # network chunks split anywhere
            yield part[:cut]
            yield part[cut:]
            await asyncio.sleep(pace)

    headers = {"Cache-Control": "no-store"}
    return StreamingResponse(stream(), headers=headers, media_type="text/event-stream")


async def upload_file(request: Request) -> Response:
    if not authorized(request):
        return unauthorized()
    if not pow_ok(request.headers.get("x-ds-pow-response", ""), UPLOAD):
        return JSONResponse(envelope(None, biz_code=40301, msg="Invalid PoW response"), 200)
    form = await request.form()
    f = form.get("file")
    if f is None or isinstance(f, str):
        return JSONResponse(envelope(None, biz_code=40002, msg="No file"), 200)
    data = await f.read()
    if str(len(data)) != request.headers.get("x-file-size"):
        return JSONResponse(envelope(None, biz_code=40002, msg="File size mismatch"), 200)
    file_id = "file-" + uuid.uuid4().hex
    FILES[file_id] = {"name": f.filename, "mime": f.content_type or "", "status": "PENDING",
                      "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}  # fmt: skip
    return JSONResponse(envelope({"id": file_id, "status": "PENDING", "file_name": f.filename,
                                  "file_size": len(data)}))  # fmt: skip


async def fetch_files(request: Request) -> Response:
    if not authorized(request):
        return unauthorized()
    out = []
    for file_id in request.query_params.get("file_ids", "").split(","):
        f = FILES.get(file_id)
        if f is None:
            out.append({"id": file_id, "status": "FAILED"})
            continue
        if f["status"] == "PENDING" and f.setdefault("polls", 0) >= 1:
            f["status"] = "SUCCESS"  # parsed by the second look
        f["polls"] = f.get("polls", 0) + 1
        out.append({"id": file_id, "status": f["status"], "file_name": f["name"],
                    "file_size": f["size"]})  # fmt: skip
    return JSONResponse(envelope({"files": out}))


async def last(request: Request) -> Response:
    """Not part of DeepSeek: what the page last sent, for the tests."""
    return Response(json.dumps(SEEN), media_type="application/json")


app = Starlette(
    routes=[
        Route("/replica/last", last),
        Route("/", page),
        Route("/a/chat/s/{session}", page),
        Route("/sign_in", sign_in),
        Route("/static/{name}", static),
        Route("/api/v0/users/current", current_user),
        Route("/api/v0/users/login", login, methods=["POST"]),
        Route("/api/v0/chat_session/create", create_session, methods=["POST"]),
        Route("/api/v0/chat/create_pow_challenge", pow_challenge, methods=["POST"]),
        Route(COMPLETION, completion, methods=["POST"]),
        Route(UPLOAD, upload_file, methods=["POST"]),
        Route("/api/v0/file/fetch_files", fetch_files),
    ]
)
