// The replica page's behaviour (sources of each fact in index.html and app.py).
// The answer comes from fetch() reading an event stream.
(() => {
  const $ = (s) => document.querySelector(s);
  const COMPLETION = "/api/v0/chat/completion";
  let stored = null;
  try { stored = JSON.parse(localStorage.getItem("userToken") || "null"); } catch (e) { /* none */ }
  const token = stored && stored.value;
  const signOut = () => { localStorage.removeItem("userToken"); location.replace("/sign_in"); };
  if (!token) { signOut(); return; }
  const auth = { authorization: `Bearer ${token}` };

  const input = $("#chat-input");
  const [think, search] = document.querySelectorAll(".ds-toggle-button");
  const sendButton = $(".ds-send");
  let session = null, parent = null, running = null;

  // The toggles, remembered across page loads (assumed; see index.html).
  const saved = (() => { try { return JSON.parse(localStorage.getItem("replica-toggles") || "{}"); } catch (e) { return {}; } })();
  const on = (b) => b.classList.contains("ds-toggle-button--selected");
  const set = (b, value) => b.classList.toggle("ds-toggle-button--selected", value);
  set(think, !!saved.thinking); set(search, !!saved.search);
  for (const b of [think, search]) {
    b.addEventListener("click", () => {
      set(b, !on(b));
      localStorage.setItem("replica-toggles", JSON.stringify({ thinking: on(think), search: on(search) }));
    });
  }

  const updateSend = () => {
    if (!running) sendButton.setAttribute("aria-disabled", String(!input.value.trim()));
  };
  input.addEventListener("input", updateSend);
  input.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); } });
  sendButton.addEventListener("click", () => (running ? stop() : send()));
  $("#new-chat").addEventListener("click", () => { location.href = "/"; });

  fetch("/api/v0/users/current", { headers: auth }).then((r) => {
    if (r.status === 401) return signOut();
    $("#composer").hidden = false;
  });

  async function api(path, body) {
    const r = await fetch(path, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify(body) });
    if (r.status === 401) { signOut(); throw new Error("signed out"); }
    return r.json();
  }

  async function sha256(text) {
    const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
    return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function powHeader(target = COMPLETION) {
    const ch = (await api("/api/v0/chat/create_pow_challenge", { target_path: target })).data.biz_data.challenge;
    let answer = null;
    for (let n = 0; n < ch.difficulty && answer === null; n++) {
      if (await sha256(`${ch.salt}_${ch.expire_at}_${n}`) === ch.challenge) answer = n;
    }
    const { algorithm, challenge, salt, signature, target_path } = ch;
    return btoa(JSON.stringify({ algorithm, challenge, salt, answer, signature, target_path }));
  }

  // Files: each one is uploaded (multipart, with its own proof of work),
  // then polled until parsed; a chip shows per file once it is, and the
  // completion refers to them by id (facts: app.py).
  const UPLOAD = "/api/v0/file/upload_file";
  const fileInput = $('#composer input[type="file"]');
  let refs = [];
  fileInput.addEventListener("change", async () => {
    const chosen = [...fileInput.files];
    fileInput.value = "";
    for (const f of chosen) {
      try { refs.push(await upload(f)); } catch (e) { toast(`Upload failed: ${e.message || e}`); }
    }
  });

  async function upload(f) {
    const form = new FormData();
    form.append("file", f, f.name);
    const r = await fetch(UPLOAD, { method: "POST", body: form,
      headers: { ...auth, "x-ds-pow-response": await powHeader(UPLOAD), "x-file-size": String(f.size) } });
    const made = (await r.json()).data;
    if (!r.ok || !made || made.biz_code !== 0) throw new Error((made && made.biz_msg) || `upload ${r.status}`);
    const id = made.biz_data.id;
    for (let i = 0; i < 50; i++) {
      const got = await fetch(`/api/v0/file/fetch_files?file_ids=${id}`, { headers: auth });
      const file = (await got.json()).data.biz_data.files[0];
      if (file.status === "SUCCESS") {
        const chip = document.createElement("div");
        chip.className = "ds-file-chip"; chip.textContent = f.name;
        $(".ds-attachments").appendChild(chip);
        return id;
      }
      if (file.status !== "PENDING") throw new Error(`file ${file.status}`);
      await new Promise((done) => setTimeout(done, 100));
    }
    throw new Error("file still parsing");
  }

  function setRunning(value) {
    sendButton.classList.toggle("ds-stop", value);
    sendButton.setAttribute("aria-disabled", value ? "false" : String(!input.value.trim()));
  }

  function toast(text) {
    const t = document.createElement("div");
    t.className = "ds-toast"; t.textContent = text;
    $("#toasts").appendChild(t);
  }

  function message(role) {
    const m = document.createElement("div");
    m.className = `ds-message ds-message--${role}`;
    $("#messages").appendChild(m);
    return m;
  }

  // The response object, patched by path as the events say.
  function patcher(render) {
    const response = { fragments: [], status: "WIP" };
    let last = null;
    const at = (path) => {
      const parts = path.replace(/^response\/?/, "").split("/").filter(Boolean);
      let obj = response;
      for (const p of parts.slice(0, -1)) obj = obj[/^-?\d+$/.test(p) ? (Number(p) < 0 ? obj.length + Number(p) : Number(p)) : p];
      return [obj, parts[parts.length - 1]];
    };
    const apply = (item, base) => {
      if (item.p === undefined && item.v && typeof item.v === "object" && item.v.response) {
        Object.assign(response, item.v.response); return;
      }
      const path = item.p === undefined ? last : (base ? `${base}/${item.p}` : item.p);
      if (!path) return;
      if (item.o === "BATCH") { for (const sub of item.v) apply(sub, path); return; }
      last = path;
      if (path === "response") return;
      const [obj, key] = at(path);
      if (!obj) return;
      if (Array.isArray(obj[key]) && item.o === "APPEND") obj[key].push(...item.v);
      else if (typeof obj[key] === "string" && (item.o === "APPEND" || item.o === undefined)) obj[key] += item.v;
      else obj[key] = item.v;
    };
    return (item) => { apply(item, ""); render(response); return response; };
  }

  async function send() {
    const prompt = input.value;
    if (!prompt.trim() || running) return;
    for (const t of document.querySelectorAll(".ds-toast")) t.remove();
    input.value = "";
    message("user").textContent = prompt;
    const box = message("assistant");
    box.innerHTML = `<div class="ds-think-content" hidden></div><div class="ds-markdown"></div>`;
    const render = (response) => {
      const kinds = (t) => response.fragments.filter((f) => f.type === t).map((f) => f.content).join("");
      const thought = kinds("THINK");
      box.firstChild.hidden = !thought; box.firstChild.textContent = thought;
      box.lastChild.textContent = kinds("RESPONSE");
    };
    running = new AbortController();
    setRunning(true);
    try {
      if (!session) session = (await api("/api/v0/chat_session/create", { character_id: null })).data.biz_data.id;
      const pow = await powHeader();
      const sent = refs; refs = []; $(".ds-attachments").textContent = "";
      const r = await fetch(COMPLETION, {
        method: "POST", signal: running.signal,
        headers: { ...auth, "content-type": "application/json", "x-ds-pow-response": pow },
        body: JSON.stringify({ chat_session_id: session, parent_message_id: parent, prompt, ref_file_ids: sent,
          thinking_enabled: on(think), search_enabled: on(search) }),
      });
      if (r.status === 401) return signOut();
      if (!(r.headers.get("content-type") || "").includes("text/event-stream")) {
        let text = `Request failed (${r.status})`;
        try { const j = await r.json(); text = (j.data && j.data.biz_msg) || j.msg || text; } catch (e) { /* html */ }
        toast(text);
        return;
      }
      const apply = patcher(render);
      const reader = r.body.getReader(), utf8 = new TextDecoder();
      let buffer = "", event = "message", data = [], response = null;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += utf8.decode(value, { stream: true });
        let nl;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, nl); buffer = buffer.slice(nl + 1);
          if (line === "") {
            if (data.length && event === "ready") parent = JSON.parse(data.join("\n")).response_message_id;
            else if (data.length && event === "message") response = apply(JSON.parse(data.join("\n")));
            event = "message"; data = [];
          } else if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
      }
      if (response && response.status === "FINISHED" && !location.pathname.startsWith("/a/chat/s/")) {
        history.replaceState(null, "", `/a/chat/s/${session}`);
      }
    } catch (e) {
      if (e.name !== "AbortError" && e.message !== "signed out") toast(String(e.message || e));
    } finally {
      running = null;
      setRunning(false);
    }
  }

  function stop() {
    if (running) running.abort();
  }
})();
