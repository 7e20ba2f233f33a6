"""The replica's HTML: the direct chat page, the signed-out page, Cloudflare's pages.

Sources of the facts (studied, not copied):
- foxhui/WebAI2API src/backend/adapter/lmarena_text.js: direct chat lives at
  https://arena.ai/text/direct; the composer is a `textarea`, sent with
  `button[type="submit"]`; the model picker is reached from the textarea by
  Shift+Tab twice and opened with Enter; typing filters it; the matching entry
  is the first `[role="option"]` and Enter takes it.
- xtekky/gpt4free g4f/Provider/needs_auth/LMArena.py: `textarea[name="message"]`;
  the model list is Next.js flight data pushed with `self.__next_f.push(...)`,
  holding `initialModels` followed by `initialModelAId`; signing in sets the
  `arena-auth-prod-v1` cookie.
- godnight10061/LMArenaBridge src/main.py: the flight data appears escaped in
  the HTML (`{\\"initialModels\\":[...],\\"initialModelAId`); src/constants.py:
  Cloudflare's challenge page title "Just a moment", its Turnstile widget
  `#cf-turnstile` / `iframe[src*="challenges.cloudflare.com"]`.
- The sign-in button and no composer when signed out: issue 11's description
  of the live page (no public project's selector for it).
Cloudflare's own pages: a challenge is served with status 403, the header
`cf-mitigated: challenge` and the title "Just a moment..."; a block with the
title "Attention Required! | Cloudflare" (Cloudflare's documented interstitials).
"""

from __future__ import annotations

import html
import json
from typing import Any

from tests.replicas.arena import catalog

# The upload's two server actions (made up: the real ids are opaque hashes the
# page's JS carries; godnight10061/LMArenaBridge src/main.py reads them from
# its config as next_action_upload / next_action_signed_url).
UPLOAD_ACTION = "7f3a9c0d1e2b4f5a6b7c8d9e0f1a2b3c4d5e6f7a"
SIGNED_URL_ACTION = "7f8e7d6c5b4a39281706f5e4d3c2b1a098765432"


def flight_data(models: list[dict[str, Any]]) -> str:
    """The Next.js RSC payload line that carries the model list, as a script."""
    props = {
        "initialModels": models,
        "initialModelAId": models[0]["id"],
        "initialModelBId": models[1]["id"],
    }
    line = '5:["$","$L1a",null,' + json.dumps(props, separators=(",", ":")) + "]\n"
    push = json.dumps([1, line]).replace("</", "<\\/")
    return (
        "<script>(self.__next_f=self.__next_f||[]).push([0])</script>"
        f"<script>self.__next_f.push({push})</script>"
    )


def direct_page(account: str, model_id: str) -> str:
    current = html.escape(catalog.BY_ID[model_id]["publicName"])
    options = "".join(
        f'<div role="option" cmdk-item="" data-value="{html.escape(m["publicName"])}" '
        f'data-model-id="{m["id"]}" aria-selected="false">{html.escape(m["publicName"])}</div>'
        for m in catalog.MODELS
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LMArena</title>
<link rel="stylesheet" href="/_next/static/css/arena.css"></head>
<body data-upload-action="{UPLOAD_ACTION}" data-signed-url-action="{SIGNED_URL_ACTION}">
<header><a href="/">LMArena</a>
  <button type="button" aria-label="Account" data-account="{html.escape(account)}">
    {html.escape(account)}</button></header>
<main>
  <ol id="messages"></ol>
  <form id="composer">
    <button type="button" role="combobox" aria-haspopup="listbox" aria-expanded="false"
      id="model-picker" data-model-id="{model_id}"><span data-model-name="">{current}</span>
    </button>
    <button type="button" aria-label="Add files">+</button>
    <textarea name="message" placeholder="Ask anything…" rows="2"></textarea>
    <button type="submit" aria-label="Send message" disabled>Send</button>
    <button type="button" aria-label="Stop generating" hidden>Stop</button>
  </form>
  <div id="model-menu" role="dialog" hidden>
    <input cmdk-input="" placeholder="Search models" aria-label="Search models">
    <div role="listbox">{options}</div>
  </div>
  <section aria-label="Notifications"><ol data-sonner-toaster=""></ol></section>
</main>
{flight_data(catalog.MODELS)}
<script src="/_next/static/chunks/upload.js"></script>
<script src="/_next/static/chunks/arena.js"></script>
</body></html>"""


SIGNED_OUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LMArena</title></head>
<body>
<header><a href="/">LMArena</a>
  <button type="button" data-testid="sign-in-button">Sign in</button></header>
<main><h1>Find the best AI for you</h1>
  <p>Sign in to chat with the models directly.</p></main>
</body></html>"""


CHALLENGE = """<!DOCTYPE html>
<html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<meta name="robots" content="noindex,nofollow"></head>
<body><div class="main-wrapper" role="main"><div class="main-content">
<h1 class="zone-name-title h1">arena.ai</h1>
<h2 class="h2" id="challenge-running">Verify you are human by completing the action below.</h2>
<div id="cf-turnstile"><iframe title="Widget containing a Cloudflare security challenge"
  src="about:blank#challenges.cloudflare.com"></iframe></div>
<div id="challenge-body-text" class="core-msg spacer">arena.ai needs to review the security
of your connection before proceeding.</div>
</div></div></body></html>"""

BLOCKED = """<!DOCTYPE html>
<html lang="en-US"><head><title>Attention Required! | Cloudflare</title></head>
<body><div id="cf-wrapper"><div id="cf-error-details" class="cf-error-details-wrapper">
<h1><span class="cf-error-type">Sorry, you have been blocked</span></h1>
<h2 class="cf-subheadline">You are unable to access arena.ai</h2>
</div></div></body></html>"""
