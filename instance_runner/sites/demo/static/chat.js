// The demo chat page: streams answers from /api/generate (ndjson) into the
// last assistant message, like the real chat apps stream into their DOM.
const $ = (s) => document.querySelector(s);
let controller = null;

function addMessage(role, text) {
  const node = document.createElement("div");
  node.className = `message ${role}`;
  const content = document.createElement("div");
  content.className = "content";
  content.textContent = text;
  node.appendChild(content);
  $("#messages").appendChild(node);
  return node;
}

function showBanner(kind, message) {
  const banner = $("#banner");
  banner.className = `banner ${kind}`;
  banner.textContent = message;
  banner.hidden = false;
}

// Images chosen with the file input or pasted on the prompt box: a chip
// each (with the file's sha256 once read), sent with the next prompt.
let attached = [];

async function attach(files) {
  for (const file of files) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const digest = await crypto.subtle.digest("SHA-256", bytes);
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
    let binary = "";
    for (let i = 0; i < bytes.length; i += 32768) {
      binary += String.fromCharCode(...bytes.subarray(i, i + 32768));
    }
    attached.push({ type: file.type, data: btoa(binary) });
    const chip = document.createElement("span");
    chip.className = "attachment";
    chip.dataset.sha256 = hex;
    chip.textContent = file.name;
    $("#attachments").appendChild(chip);
  }
}

async function send(event) {
  event.preventDefault();
  const prompt = $("#prompt").value;
  if (!prompt.trim() || controller) return;
  if (prompt.includes("[[freeze]]")) for (;;) {}  // a renderer that never answers again
  $("#prompt").value = "";
  const images = attached;
  attached = [];
  $("#attachments").replaceChildren();
  $("#banner").hidden = true;
  addMessage("user", prompt);
  const message = addMessage("assistant", "");
  message.dataset.state = "streaming";
  const content = message.querySelector(".content");
  controller = new AbortController();
  $("#stop").hidden = false;
  $("#send").disabled = true;
  try {
    const response = await fetch("/api/generate", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: $("#model").value, prompt, images }),
      signal: controller.signal,
    });
    if (response.status === 401) {
      message.dataset.state = "error";
      location.reload();  // the session is gone: the sign-in page shows
      return;
    }
    if (!response.ok) {
      const body = await response.json();
      showBanner(body.error === "rate_limit" ? "rate-limit" : "error", body.message);
      message.dataset.state = "error";
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (!line) continue;
        const item = JSON.parse(line);
        if (item.token) content.textContent += item.token;
      }
    }
    message.dataset.state = "done";
  } catch (err) {
    if (controller.signal.aborted) {
      message.dataset.state = "stopped";
    } else {
      message.dataset.state = "error";
      showBanner("error", `Network error: ${err}`);
    }
  } finally {
    controller = null;
    $("#stop").hidden = true;
    $("#send").disabled = false;
  }
}

$("#composer").addEventListener("submit", send);
$("#attach").addEventListener("click", () => $("#file").click());
$("#file").addEventListener("change", async (e) => {
  await attach(e.target.files);
  e.target.value = "";  // the same file may be chosen again
});
$("#prompt").addEventListener("paste", (e) => {
  const files = [...e.clipboardData.files];
  if (files.length) {
    e.preventDefault();
    attach(files);
  }
});
$("#stop").addEventListener("click", () => controller && controller.abort());
