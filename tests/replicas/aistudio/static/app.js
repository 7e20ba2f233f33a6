// The replica page's behaviour (see index.html and app.py for the sources of
// each fact). The answer comes from an XMLHttpRequest, as on the real page.
(() => {
  const RPC = "https://alkalimakersuite-pa.clients6.google.com/$rpc/"
    + "google.internal.alkali.applications.makersuite.v1.MakerSuiteService";
  const PREF = "aiStudioUserPreference";
  const $ = (id) => document.getElementById(id);
  const ui = document.body.dataset.ui;
  const composer = $("composer");
  composer.innerHTML = ui === "old"
    ? `<ms-prompt-input-wrapper><div class="prompt-input-wrapper"><ms-autosize-textarea>
         <textarea aria-label="Type something"></textarea></ms-autosize-textarea>
         <button aria-label="Run" class="run-button" type="button" disabled>Run</button>
       </div></ms-prompt-input-wrapper>`
    : `<ms-prompt-box><div class="prompt-box-container"><ms-chunk-editor><ms-autosize-textarea>
         <textarea aria-label="Enter a prompt" placeholder="Start typing a prompt"></textarea>
         </ms-autosize-textarea></ms-chunk-editor>
         <ms-run-button><button type="submit" class="ms-button-primary" aria-label="Run" disabled>
           <span class="run-button-label">Run</span></button></ms-run-button>
       </div></ms-prompt-box>`;
  // "Temporary chat" (see index.html for the sources): in a menu, or in
  // view in the older UI. Off on every page load (assumed: no source says
  // whether it persists, and this is the case that needs the most of mictl).
  $("toolbar").innerHTML = ui === "old"
    ? `<button aria-label="Temporary chat toggle" aria-pressed="false" class="ms-button-icon">T</button>`
    : `<button aria-label="View more actions" aria-expanded="false">&#8942;</button>
       <div class="mat-mdc-menu-panel" role="menu" hidden>
         <button mat-menu-item role="menuitemcheckbox" data-test-incognito-toggle>Temporary chat</button>
       </div>`;
  let temporary = false;
  const moreButton = $("toolbar").querySelector('[aria-label="View more actions"]');
  const menu = $("toolbar").querySelector("[role=menu]");
  const openMenu = (open) => { menu.hidden = !open; moreButton.setAttribute("aria-expanded", String(open)); };
  function setTemporary(on) {
    temporary = on;
    $("incognito-indicator").hidden = !on || ui === "old";
    const toggle = $("toolbar").querySelector("[data-test-incognito-toggle], [aria-label='Temporary chat toggle']");
    if (ui === "old") {
      toggle.classList.toggle("ms-button-active", on);
      toggle.setAttribute("aria-pressed", String(on));
    } else {
      toggle.innerHTML = on ? `Temporary chat<mat-icon data-test-incognito-checkmark>check</mat-icon>` : "Temporary chat";
    }
  }
  if (ui === "old") {
    $("toolbar").firstChild.addEventListener("click", () => setTemporary(!temporary));
  } else {
    moreButton.addEventListener("click", () => openMenu(menu.hidden));
    menu.querySelector("button").addEventListener("click", () => { setTemporary(!temporary); openMenu(false); });
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") openMenu(false); });
  }
  const input = composer.querySelector("textarea");
  const run = composer.querySelector("ms-run-button button, button.run-button");
  // Files into the prompt (upload.js, with the sources of its facts).
  const refresh = () => { if (!running) run.disabled = !input.value.trim() || upload.loading(); };
  const upload = window.replicaUpload(
    composer.querySelector(".prompt-box-container, .prompt-input-wrapper"), ui, () => refresh());
  const turns = $("turns");
  const history = []; // [[[null, text]], role]
  let running = null; // the XHR in flight
  let models = {};

  const prefs = () => { try { return JSON.parse(localStorage.getItem(PREF) || "{}"); } catch (e) { return {}; } };
  let model = prefs().promptModel || "models/gemini-2.5-pro";

  // Google's SAPISIDHASH from the SAPISID cookie (source in app.py).
  async function sapisidHash() {
    const m = document.cookie.match(/(?:^|; )SAPISID=([^;]+)/);
    if (!m || !crypto.subtle) return null;
    const ts = Math.floor(Date.now() / 1000);
    const data = new TextEncoder().encode(`${ts} ${m[1]} ${location.origin}`);
    const hex = [...new Uint8Array(await crypto.subtle.digest("SHA-1", data))]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    return `SAPISIDHASH ${ts}_${hex}`;
  }

  function rpc(method, body, onprogress, ondone) {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${RPC}/${method}`);
    xhr.withCredentials = true;
    xhr.setRequestHeader("content-type", "application/json+protobuf");
    xhr.setRequestHeader("x-replica-load", document.body.dataset.load);  // for tests only
    xhr.setRequestHeader("x-replica-temporary", temporary ? "1" : "0");  // for tests only
    xhr.setRequestHeader("x-replica-agreed-now", upload.agreedNow() ? "1" : "0");  // for tests only
    xhr.setRequestHeader("x-replica-stray-clicks", String(upload.stray()));  // for tests only
    xhr.setRequestHeader("x-replica-tz", Intl.DateTimeFormat().resolvedOptions().timeZone);  // tests only
    if (onprogress) xhr.onprogress = () => onprogress(xhr);
    xhr.onloadend = () => ondone(xhr);
    sapisidHash().then((auth) => {
      if (xhr.readyState !== 1) return; // aborted meanwhile
      if (auth) xhr.setRequestHeader("authorization", auth);
      xhr.send(JSON.stringify(body));
    });
    return xhr;
  }

  // ListModels on load: the display name of the chosen model.
  rpc("ListModels", [], null, (xhr) => {
    if (xhr.status !== 200) return;
    const data = JSON.parse(xhr.responseText.replace(/^\)\]\}'\n/, ""));
    for (const m of data[0]) models[m[0]] = m[3];
    if (!models[model]) { // an unknown preference falls back to the default
      model = "models/gemini-2.5-pro";
      localStorage.setItem(PREF, JSON.stringify({ ...prefs(), promptModel: model }));
    }
    $("model-name").textContent = models[model];
  });

  input.addEventListener("input", refresh);
  input.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.ctrlKey) run.click(); });
  run.addEventListener("click", (e) => {
    // For tests only: how the run button was pressed, and a page that takes
    // trusted clicks only (data-trusted-only, from app.py).
    window.__replicaRunTrusted = e.isTrusted;
    (window.__replicaClicks = window.__replicaClicks || []).push(e.isTrusted);
    if (document.body.dataset.trustedOnly && !e.isTrusted) return;
    if (!running && upload.blocked()) return; // the copyright acknowledgement first
    return running ? stop() : send();
  });

  function setRunning(on) {
    if (ui === "old") {
      run.innerHTML = on ? `<svg width="12" height="12"><circle class="stoppable-spinner" r="5" cx="6" cy="6"/></svg>Run` : "Run";
    } else {
      run.setAttribute("aria-label", on ? "Stop generating" : "Run");
      run.innerHTML = on
        ? `<svg width="12" height="12"><circle class="stoppable-spinner" r="5" cx="6" cy="6"/></svg><span class="run-button-label">Stop</span>`
        : `<span class="run-button-label">Run</span>`;
    }
    run.disabled = on ? false : !input.value.trim() || upload.loading();
    // "New chat": disabled on a fresh chat, and locked while a generation
    // runs (see index.html).
    $("new-chat").disabled = on || !history.length;
  }

  function turn(role) {
    const t = document.createElement("ms-chat-turn");
    t.innerHTML = `<div class="chat-turn-container ${role}"></div>`;
    turns.appendChild(t);
    return t.firstChild;
  }

  // Complete elements of the streamed top-level array, as they arrive.
  function scanner() {
    let pos = 0, depth = 0, inString = false, escape = false, start = -1;
    return (text) => {
      const out = [];
      for (; pos < text.length; pos++) {
        const c = text[pos];
        if (inString) {
          if (escape) escape = false; else if (c === "\\") escape = true; else if (c === '"') inString = false;
        } else if (c === '"') inString = true;
        else if (c === "[" || c === "{") { if (depth === 1) start = pos; depth++; }
        else if (c === "]" || c === "}") { depth--; if (depth === 1 && start >= 0) { out.push(JSON.parse(text.slice(start, pos + 1))); start = -1; } }
      }
      return out;
    };
  }

  function send() {
    const text = input.value;
    if (!text.trim() || running) return;
    for (const n of document.querySelectorAll("ms-callout, .toast")) n.remove();
    turn("user").textContent = text;
    history.push([[...upload.take(), [null, text]], "user"]);  // images first (assumed)
    if (!document.body.dataset.keepsPrompt) input.value = "";  // (a test variant keeps it)
    const box = turn("model");
    box.innerHTML = `<ms-thought-chunk hidden></ms-thought-chunk><ms-text-chunk><ms-cmark-node class="cmark-node"></ms-cmark-node></ms-text-chunk>`;
    const thought = box.querySelector("ms-thought-chunk"), node = box.querySelector("ms-cmark-node");
    const stops = [...document.querySelectorAll("#stop-chips mat-chip")].map((c) => c.dataset.value);
    const sys = $("sys").value;
    const config = [null, stops, null, Number($("max-tokens").value),
      Number($("temperature").value), Number($("top-p").value)];
    const body = [model, history, null, config, sys ? [[[null, sys]], "user"] : null];
    const scan = scanner();
    let answer = "";
    setRunning(true);
    running = rpc("GenerateContent", body, (xhr) => {
      if (xhr.status !== 200) return;
      for (const el of scan(xhr.responseText)) {
        for (const part of el[0][0][0][0]) {
          if (typeof part[1] !== "string") continue;
          if (part.length > 2) { thought.hidden = false; thought.textContent += part[1]; }
          else { answer += part[1]; node.textContent = answer; }
        }
      }
    }, (xhr) => {
      running = null;
      setRunning(false);
      if (xhr.status === 200) {
        history.push([[[null, answer]], "model"]);
        box.dataset.state = "done";
        if (temporary) return;  // not saved: the chat stays where it is
        // Saved to the account (CreatePrompt: Mag1cFall docs; body assumed).
        rpc("CreatePrompt", [null, history], null, () => {});
        if (location.pathname.endsWith("/new_chat")) {
          window.history.replaceState(null, "", `/prompts/${Math.random().toString(36).slice(2, 12)}`);
          document.title = "Untitled prompt | Google AI Studio";
        }
        return;
      }
      box.dataset.state = "error";
      if (xhr.status === 401) { location.href = "https://accounts.google.com/v3/signin/accountchooser"; return; }
      let message = "Failed to generate content";
      try { message = JSON.parse(xhr.responseText).error.message; } catch (e) { /* aborted */ }
      if (xhr.status === 0) return; // stopped
      const where = $("callouts");
      where.innerHTML = xhr.status === 429
        ? `<ms-callout class="error-callout"><div class="message">${message}</div></ms-callout>`
        : `<div class="toast error">Failed to generate content: ${message}</div>`;
    });
  }

  function stop() {
    if (running) { running.abort(); running = null; }
    setRunning(false);
  }

  $("new-chat").addEventListener("click", () => $("discard").showModal());
  $("discard-cancel").addEventListener("click", () => $("discard").close());
  $("discard-ok").addEventListener("click", () => { location.href = "/prompts/new_chat"; });
  $("sys-open").addEventListener("click", () => { $("sys").hidden = false; });
  $("stop-token").addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || !e.target.value) return;
    const chip = document.createElement("mat-chip");
    chip.dataset.value = e.target.value;
    chip.innerHTML = `${e.target.value}<button class="remove-button" aria-label="Remove ${e.target.value}">x</button>`;
    chip.querySelector("button").addEventListener("click", () => chip.remove());
    $("stop-chips").appendChild(chip);
    e.target.value = "";
  });
  window.__replica = { get model() { return model; }, models: () => models };
})();
