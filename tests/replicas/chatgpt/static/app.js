// The replica page's behaviour (sources of each fact in index.html and app.py).
// The answer comes from fetch() reading the delta-encoded event stream.
(async () => {
  const $ = (s) => document.querySelector(s);
  const CONVERSATION = "/backend-api/f/conversation";
  const temporary = new URLSearchParams(location.search).get("temporary-chat") === "true";
  const session = await (await fetch("/api/auth/session")).json();
  if (!session.accessToken) { location.replace("/auth/login"); return; }
  const auth = { authorization: `Bearer ${session.accessToken}` };
  const r = await fetch("/backend-api/models", { headers: auth });
  if (r.status === 401) { location.replace("/auth/login"); return; }
  const listed = (await r.json()).models;
  document.body.prepend($("#app").content.cloneNode(true));

  $("#temporary").hidden = !temporary;
  const input = $("#prompt-textarea"), sendButton = $("#composer-submit-button");
  const menu = $("#menu"), modelButton = $("#model-button");
  let model = localStorage.getItem("replica-model") || listed[0].slug;
  let running = null;
  const title = (slug) => (listed.find((m) => m.slug === slug) || listed[0]).title;
  const showModel = () => {
    modelButton.textContent = title(model);
    modelButton.setAttribute("aria-label", `Model selector, current model is ${title(model)}`);
  };
  showModel();
  for (const m of listed) {
    const item = document.createElement("div");
    item.setAttribute("role", "menuitem"); item.dataset.testid = `model-switcher-${m.slug}`;
    item.textContent = m.title;
    item.addEventListener("click", () => {
      model = m.slug; localStorage.setItem("replica-model", model); showModel(); menu.hidden = true;
    });
    menu.appendChild(item);
  }
  modelButton.addEventListener("click", () => { menu.hidden = !menu.hidden; });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") menu.hidden = true; });

  // The editor's text as its document holds it: a line per paragraph (a
  // block), not innerText's layout (which doubles the break of an empty line).
  const lines = (box) => {
    const out = [""];
    for (const n of box.childNodes) {
      if (n.nodeName === "DIV" || n.nodeName === "P") out.push(n.textContent);
      else if (n.nodeName === "BR") out.push("");
      else out[out.length - 1] += n.textContent;
    }
    const first = box.firstChild;
    if (first && (first.nodeName === "DIV" || first.nodeName === "P")) out.shift();
    return out.join("\n").replace(/\u00a0/g, " ").replace(/\n$/, "");
  };
  const text = () => lines(input);
  const updateSend = () => { if (!running) sendButton.disabled = !text().trim(); };
  input.addEventListener("input", updateSend);
  input.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); } });
  sendButton.addEventListener("click", () => (running ? stop() : send()));
  $("#composer").hidden = false;

  // Images: each file is registered (POST /backend-api/files), its bytes
  // PUT to the upload_url given, and marked uploaded; a chip shows per file
  // once it is (facts: app.py).
  let attachments = [];
  const fileInput = $("#upload-files");
  $("#composer-plus-btn").addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", async () => {
    const files = [...fileInput.files];
    fileInput.value = "";
    for (const f of files) {
      try { attachments.push(await upload(f)); } catch (e) { error(`Could not upload ${f.name}: ${e.message || e}`); }
    }
  });

  async function size(f) {
    try { const b = await createImageBitmap(f); return [b.width, b.height]; } catch (e) { return [null, null]; }
  }

  async function upload(f) {
    const json = { ...auth, "content-type": "application/json" };
    const made = await fetch("/backend-api/files", { method: "POST", headers: json,
      body: JSON.stringify({ file_name: f.name, file_size: f.size, use_case: "multimodal" }) });
    if (!made.ok) throw new Error(`files ${made.status}`);
    const { upload_url, file_id } = await made.json();
    const put = await fetch(upload_url, { method: "PUT", body: f,
      headers: { "content-type": f.type, "x-ms-blob-type": "BlockBlob" } });
    if (!put.ok) throw new Error(`upload ${put.status}`);
    const done = await fetch(`/backend-api/files/${file_id}/uploaded`, { method: "POST", headers: json, body: "{}" });
    if (!done.ok) throw new Error(`uploaded ${done.status}`);
    const [width, height] = await size(f);
    const chip = document.createElement("div");
    chip.dataset.testid = "file-chip"; chip.textContent = f.name;
    $("#attachments").appendChild(chip);
    return { id: file_id, name: f.name, size: f.size, mimeType: f.type, width, height };
  }

  function setRunning(on) {
    sendButton.dataset.testid = on ? "stop-button" : "send-button";
    sendButton.setAttribute("aria-label", on ? "Stop streaming" : "Send prompt");
    sendButton.disabled = on ? false : !text().trim();
  }

  function error(message) {
    const e = document.createElement("div");
    e.className = "text-token-text-error"; e.textContent = message;
    $("#errors").appendChild(e);
  }

  async function sha256(s) {
    const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
    return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function proof(pow) {  // the page's own proof of work
    for (let n = 0; ; n++) {
      if ((await sha256(`${pow.seed}${n}`)).slice(0, pow.difficulty.length) <= pow.difficulty) {
        return "gAAAAAB" + btoa(JSON.stringify([screen.width, navigator.userAgent.length, n]));
      }
    }
  }

  // Documents by "c", patched as the v1 delta encoding says.
  function patcher(render) {
    const docs = {}; let c = 0, path = "", op = "";
    const at = (doc, p) => {
      const keys = p.split("/").slice(1); let obj = doc;
      for (const k of keys.slice(0, -1)) obj = obj[k];
      return [obj, keys[keys.length - 1]];
    };
    const apply = (p, o, v) => {
      if (o === "patch") { for (const sub of v) apply(sub.p, sub.o, sub.v); return; }
      if (p === "" && o === "add") { docs[c] = v; return; }
      const doc = docs[c]; if (!doc) return;
      const [obj, key] = at(doc, p); if (!obj) return;
      if (o === "append" && typeof obj[key] === "string") obj[key] += v;
      else if (o === "append" && Array.isArray(obj[key])) obj[key].push(...v);
      else if (o === "append" && obj[key] && typeof obj[key] === "object") Object.assign(obj[key], v);
      else obj[key] = v;
    };
    return (item) => {
      if (typeof item.c === "number") c = item.c;
      if (!("v" in item)) return;
      if ("p" in item) path = item.p;
      if ("o" in item) op = item.o;
      apply(path, op, item.v);
      render(docs);
    };
  }

  async function send() {
    const prompt = text();
    if (!prompt.trim() || running) return;
    $("#errors").textContent = "";
    input.textContent = "";
    const user = document.createElement("div");
    user.dataset.messageAuthorRole = "user"; user.textContent = prompt;
    $("#thread").appendChild(user);
    const box = document.createElement("div");
    box.dataset.messageAuthorRole = "assistant";
    box.innerHTML = `<div class="thoughts" hidden></div><div class="markdown prose"></div>`;
    $("#thread").appendChild(box);
    const render = (docs) => {
      let thought = "", answer = "";
      for (const d of Object.values(docs)) {
        const m = d.message; if (!m || m.author.role !== "assistant") continue;
        if (m.content.content_type === "thoughts") thought += m.content.thoughts.map((t) => t.content).join("");
        if (m.content.content_type === "text") answer += m.content.parts[0];
      }
      box.firstChild.hidden = !thought; box.firstChild.textContent = thought;
      box.lastChild.textContent = answer;
    };
    running = new AbortController();
    setRunning(true);
    try {
      const req = await (await fetch("/backend-api/sentinel/chat-requirements", { method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ conversation_mode_kind: "primary_assistant" }) })).json();
      const headers = { ...auth, "content-type": "application/json", accept: "text/event-stream",
        "openai-sentinel-chat-requirements-token": req.token };
      if (req.proofofwork && req.proofofwork.required) headers["openai-sentinel-proof-token"] = await proof(req.proofofwork);
      const id = crypto.randomUUID(), sent = attachments;
      attachments = []; $("#attachments").textContent = "";
      const content = sent.length
        ? { content_type: "multimodal_text", parts: [...sent.map((a) => ({ asset_pointer: `file-service://${a.id}`,
            size_bytes: a.size, width: a.width, height: a.height })), prompt] }
        : { content_type: "text", parts: [prompt] };
      const metadata = sent.length ? { attachments: sent } : {};
      const prepared = await (await fetch(`${CONVERSATION}/prepare`, { method: "POST", headers,
        body: JSON.stringify({ action: "next", model, conversation_mode: { kind: "primary_assistant" },
          supported_encodings: ["v1"] }) })).json();
      headers["x-conduit-token"] = prepared.conduit_token;
      const r = await fetch(CONVERSATION, { method: "POST", signal: running.signal, headers,
        body: JSON.stringify({ action: "next", messages: [{ id, author: { role: "user" },
          content, metadata }],
          parent_message_id: "client-created-root", model, history_and_training_disabled: temporary,
          conversation_mode: { kind: "primary_assistant" }, timezone_offset_min: new Date().getTimezoneOffset() }) });
      if (r.status === 401) { location.replace("/auth/login"); return; }
      if (!(r.headers.get("content-type") || "").includes("text/event-stream")) {
        let message = `Something went wrong (${r.status}).`;
        try { const j = await r.json(); message = typeof j.detail === "string" ? j.detail : (j.detail.message || message); } catch (e) { /* html */ }
        error(message);
        return;
      }
      const apply = patcher(render);
      const reader = r.body.getReader(), utf8 = new TextDecoder();
      let buffer = "", data = [], conversation = null;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += utf8.decode(value, { stream: true });
        let nl;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, nl); buffer = buffer.slice(nl + 1);
          if (line === "") {
            const payload = data.join("\n"); data = [];
            if (!payload || payload === "[DONE]") continue;
            const item = JSON.parse(payload);
            if (item && typeof item === "object") {
              if (item.conversation_id) conversation = item.conversation_id;
              apply(item);
            }
          } else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
      }
      if (conversation && !temporary) history.replaceState(null, "", `/c/${conversation}`);
    } catch (e) {
      if (e.name !== "AbortError") error(String(e.message || e));
    } finally {
      running = null;
      setRunning(false);
    }
  }

  function stop() { if (running) running.abort(); }
})();
