// The replica page's behaviour (sources of each fact in index.html and app.py).
// The answer comes from fetch() reading StreamGenerate's frames.
(() => {
  const $ = (s) => document.querySelector(s);
  const GENERATE = "/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate";
  const MODES = { Fast: "fbb127bbb056c959", Thinking: "5bf011840784117a", Pro: "9d8ca3786ebdfbea" };
  const wiz = window.WIZ_global_data;
  const editor = $(".ql-editor"), send = $(".send-button"), picker = $('[data-test-id="bard-mode-menu-button"]');
  const menu = $(".mat-mdc-menu-content"), temp = $('[data-test-id="temp-chat-button"]');
  let mode = localStorage.getItem("replica-mode") || "Fast";  // remembered across loads (assumed)
  let temporary = false, running = null, reqid = 10000 + Math.floor(Math.random() * 90000);
  let metadata = ["", "", "", null, null, null, null, null, null, ""];

  const showMode = () => {
    picker.querySelector(".mode-label").textContent = mode;
    for (const item of menu.querySelectorAll("[mat-menu-item]")) item.setAttribute("aria-checked", String(item.dataset.mode === mode));
  };
  showMode();
  picker.addEventListener("click", () => {
    menu.hidden = !menu.hidden;
    picker.setAttribute("aria-expanded", String(!menu.hidden));
  });
  for (const item of menu.querySelectorAll("[mat-menu-item]")) {
    item.addEventListener("click", () => {
      mode = item.dataset.mode; localStorage.setItem("replica-mode", mode); showMode();
      menu.hidden = true; picker.setAttribute("aria-expanded", "false");
    });
  }
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") { menu.hidden = true; picker.setAttribute("aria-expanded", "false"); } });
  temp.addEventListener("click", () => {
    temporary = !temporary;
    temp.classList.toggle("temp-chat-on", temporary);
    temp.setAttribute("aria-pressed", String(temporary));
  });

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
  const promptText = () => lines(editor);

  // Images: each file goes to Google's upload service in a resumable
  // upload (start, then "upload, finalize" with the bytes), whose answer is
  // the file's reference; a chip shows per file once it is (facts: app.py).
  const PUSH = "https://push.clients6.google.com/upload/";
  const uploadMenu = $(".upload-menu"), fileInput = uploadMenu.querySelector("input[type=file]");
  let files = [];
  $(".upload-card-button").addEventListener("click", () => { uploadMenu.hidden = !uploadMenu.hidden; });
  uploadMenu.querySelector(".upload-files").addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", async () => {
    const chosen = [...fileInput.files];
    fileInput.value = ""; uploadMenu.hidden = true;
    for (const f of chosen) {
      try { files.push(await upload(f)); } catch (e) { snackbar(`File upload failed: ${e.message || e}`); }
    }
  });

  async function upload(f) {
    const base = { "push-id": "feeds/mcudyrk2a4khkz", "x-tenant-id": "bard-storage" };
    const start = await fetch(PUSH, { method: "POST", body: new URLSearchParams({ [`File name: ${f.name}`]: "" }),
      headers: { ...base, "content-type": "application/x-www-form-urlencoded;charset=UTF-8",
        "x-goog-upload-command": "start", "x-goog-upload-protocol": "resumable",
        "x-goog-upload-header-content-length": String(f.size) } });
    const url = start.headers.get("x-goog-upload-url");
    if (!start.ok || !url) throw new Error(`start ${start.status}`);
    const sent = await fetch(url, { method: "POST", body: f,
      headers: { ...base, "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0" } });
    if (!sent.ok) throw new Error(`upload ${sent.status}`);
    const ref = await sent.text();
    const chip = document.createElement("uploader-file-preview");
    chip.textContent = f.name;
    $(".file-preview-container").appendChild(chip);
    return { ref, name: f.name };
  }
  const setRunning = (value) => {
    send.classList.toggle("stop", value);
    send.setAttribute("aria-label", value ? "Stop response" : "Send message");
    send.querySelector("mat-icon").dataset.matIconName = value ? "stop" : "send";
    send.setAttribute("aria-disabled", value ? "false" : String(!promptText().trim()));
  };
  editor.addEventListener("input", () => { if (!running) setRunning(false); });
  editor.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); submit(); } });
  send.addEventListener("click", () => (running ? running.abort() : submit()));

  function snackbar(text) {
    const s = document.createElement("mat-snack-bar-container");
    s.innerHTML = '<div class="mat-mdc-snack-bar-label"></div>';
    s.firstChild.textContent = text;
    $("#snackbars").appendChild(s);
  }

  // Frames: "<length>\n<json>\n", the length in UTF-16 units (a JS string's own).
  function frames(buffer) {
    const out = [];
    for (;;) {
      const m = /^\s*(\d+)\n/.exec(buffer);
      if (!m) break;
      const start = m.index + m[0].length - 1, end = start + Number(m[1]);
      if (buffer.length < end) break;
      out.push(...JSON.parse(buffer.slice(start, end)));
      buffer = buffer.slice(end);
    }
    return [out, buffer];
  }
  const at = (node, ...path) => path.reduce((n, k) => (Array.isArray(n) ? n[k] : undefined), node);

  async function submit() {
    const prompt = promptText();
    if (!prompt.trim() || running) return;
    for (const s of document.querySelectorAll("mat-snack-bar-container")) s.remove();
    editor.innerHTML = "<p><br></p>";
    const turn = document.createElement("div");
    turn.innerHTML = '<user-query><div class="query-text"></div></user-query><model-response><div class="model-thoughts" hidden></div><message-content class="model-response-text"><div class="markdown markdown-main-panel"></div></message-content></model-response>';
    turn.querySelector(".query-text").textContent = prompt;
    $("#chat-history").appendChild(turn);
    const thoughtsBox = turn.querySelector(".model-thoughts"), textBox = turn.querySelector(".markdown");
    const inner = new Array(69).fill(null);
    const sent = files; files = []; $(".file-preview-container").textContent = "";
    inner[0] = [prompt, 0, null, sent.length ? sent.map((f) => [[f.ref, 1], f.name]) : null, null, null, 0]; inner[1] = ["en"]; inner[2] = metadata;
    inner[7] = 1; if (temporary) inner[45] = 1;
    const form = new URLSearchParams({ at: wiz.SNlM0e, "f.req": JSON.stringify([null, JSON.stringify(inner)]) });
    const query = new URLSearchParams({ bl: wiz.cfb2h, "f.sid": wiz.FdrFJe, hl: "en", _reqid: String(reqid), rt: "c" });
    reqid += 100000;
    running = new AbortController();
    setRunning(true);
    try {
      const r = await fetch(`${GENERATE}?${query}`, {
        method: "POST", signal: running.signal, body: form,
        headers: { "content-type": "application/x-www-form-urlencoded;charset=utf-8", "x-same-domain": "1",
          "x-goog-ext-525001261-jspb": `[1,null,null,null,"${MODES[mode]}",null,null,0,[4],null,null,1]` },
      });
      if (!r.ok) { snackbar("Something went wrong. Try again."); return; }
      const reader = r.body.getReader(), utf8 = new TextDecoder();
      let buffer = "", guard = false, cid = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += utf8.decode(value, { stream: true });
        if (!guard) { if (buffer.length < 5) continue; buffer = buffer.replace(/^\)\]\}'/, ""); guard = true; }
        let got; [got, buffer] = frames(buffer);
        for (const env of got) {
          if (at(env, 5, 2, 0, 1, 0) === 1037) { snackbar("You've reached your limit for this model. Try again later."); return; }
          if (at(env, 0) !== "wrb.fr" || typeof env[2] !== "string") continue;
          const data = JSON.parse(env[2]);
          if (at(data, 1, 0)) cid = data[1][0];
          const c = at(data, 4, 0);
          if (!c) continue;
          const thought = at(c, 37, 0, 0);
          if (thought) { thoughtsBox.hidden = false; thoughtsBox.textContent = thought; }
          textBox.textContent = c[1][0];
          if (typeof data[25] === "string" && !temporary) { metadata = [cid, data[1][1], c[0]]; history.replaceState(null, "", `/app/${cid.replace(/^c_/, "")}`); }
        }
      }
    } catch (e) {
      if (e.name !== "AbortError") snackbar(String(e.message || e));
    } finally {
      running = null;
      setRunning(false);
    }
  }
})();
