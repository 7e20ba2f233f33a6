// The replica's page client: what arena.ai's direct chat does in the browser
// (sources in ../pages.py and ../app.py). The model list comes from the Next.js
// flight data; the answer is a fetch of /nextjs-api/stream/create-evaluation
// read as prefix lines; reCAPTCHA v3 gives a token sent with each request
// (gpt4free LMArena.py: grecaptcha.enterprise.execute(key, {action: 'chat_submit'})
// into `recaptchaV3Token`).
(() => {
  const $ = (sel) => document.querySelector(sel);
  const form = $("#composer");
  const textarea = $('textarea[name="message"]');
  const send = $('button[type="submit"]');
  const stop = $('button[aria-label="Stop generating"]');
  const picker = $("#model-picker");
  const menu = $("#model-menu");
  const search = menu.querySelector("[cmdk-input]");
  const messages = $("#messages");
  let controller = null;

  // initialModels from the flight data, as the real page's props receive it.
  let models = [];
  for (const item of self.__next_f || []) {
    if (item[0] !== 1) continue;
    const at = item[1].indexOf("{");
    try {
      const props = JSON.parse(item[1].slice(at, item[1].lastIndexOf("}") + 1));
      if (props.initialModels) models = props.initialModels;
    } catch (e) { /* another line */ }
  }

  window.grecaptcha = { enterprise: { ready: (f) => f(), execute: async () => "replica-recaptcha-" + Date.now() } };

  const uuid = () => crypto.randomUUID();
  const toast = (text) => {
    const li = document.createElement("li");
    li.setAttribute("data-sonner-toast", "");
    li.setAttribute("data-type", "error");
    li.textContent = text;
    $("[data-sonner-toaster]").append(li);
    setTimeout(() => li.remove(), 4000);
  };
  const uploads = window.arenaUpload(form, textarea, toast);
  const refresh = () => { send.disabled = !textarea.value.trim() || !!controller; };
  textarea.addEventListener("input", refresh);

  // ---- the model picker: a combobox opening a searchable list of options
  const options = () => [...menu.querySelectorAll('[role="option"]')];
  const open = () => {
    menu.hidden = false;
    picker.setAttribute("aria-expanded", "true");
    search.value = "";
    filter();
    search.focus();
  };
  const close = () => { menu.hidden = true; picker.setAttribute("aria-expanded", "false"); };
  const filter = () => {
    const q = search.value.trim().toLowerCase();
    for (const o of options()) o.hidden = !o.dataset.value.toLowerCase().includes(q);
  };
  const choose = (option) => {
    picker.dataset.modelId = option.dataset.modelId;
    picker.querySelector("[data-model-name]").textContent = option.dataset.value;
    for (const o of options()) o.setAttribute("aria-selected", String(o === option));
    close();
    textarea.focus();
  };
  picker.addEventListener("click", () => (menu.hidden ? open() : close()));
  search.addEventListener("input", filter);
  search.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      const first = options().find((o) => !o.hidden);
      if (first) choose(first);
    } else if (e.key === "Escape") close();
  });
  menu.addEventListener("click", (e) => {
    const option = e.target.closest('[role="option"]');
    if (option) choose(option);
  });

  // ---- sending and reading the answer stream
  const bubble = (role) => {
    const li = document.createElement("li");
    li.dataset.role = role;
    li.innerHTML = role === "assistant"
      ? '<details class="reasoning" hidden><summary>Thinking</summary><div></div></details><div class="prose"></div>'
      : '<div class="prose"></div>';
    messages.append(li);
    return li;
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const content = textarea.value.trim();
    if (!content || controller) return;
    const id = uuid();
    const experimental_attachments = await uploads.take();
    const body = {
      id, mode: "direct", modelAId: picker.dataset.modelId,
      userMessageId: uuid(), modelAMessageId: uuid(),
      userMessage: { content, experimental_attachments, metadata: {} },
      modality: "chat",
      recaptchaV3Token: await grecaptcha.enterprise.execute("replica", { action: "chat_submit" }),
    };
    bubble("user").querySelector(".prose").textContent = content;
    textarea.value = "";
    controller = new AbortController();
    refresh();
    stop.hidden = false;
    history.pushState(null, "", "/c/" + id);
    const answer = bubble("assistant");
    answer.dataset.state = "streaming";
    try {
      const response = await fetch("/nextjs-api/stream/create-evaluation", {
        method: "POST", body: JSON.stringify(body), signal: controller.signal,
        headers: { "content-type": "application/json" },
      });
      if (!response.ok) {
        let message = "Something went wrong. Please try again.";
        try { message = (await response.json()).error || message; } catch (err) { /* HTML */ }
        answer.remove();
        toast(message);
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      const handle = (line) => {
        const at = line.indexOf(":");
        if (at < 0) return;
        const prefix = line.slice(0, at);
        const value = JSON.parse(line.slice(at + 1));
        if (prefix === "a0") answer.querySelector(".prose").textContent += value;
        else if (prefix === "ag") {
          const r = answer.querySelector(".reasoning");
          r.hidden = false;
          r.querySelector("div").textContent += value;
        } else if (prefix === "a3") toast(String(value));
      };
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let nl;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          handle(buffer.slice(0, nl));
          buffer = buffer.slice(nl + 1);
        }
      }
      answer.dataset.state = "done";
    } catch (err) {
      answer.dataset.state = "stopped";
    } finally {
      controller = null;
      stop.hidden = true;
      refresh();
    }
  });
  textarea.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  stop.addEventListener("click", () => controller && controller.abort());
  window.__arenaModels = models; // for a person poking at the replica in devtools
})();
