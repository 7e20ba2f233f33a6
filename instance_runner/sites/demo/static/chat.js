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

async function send(event) {
  event.preventDefault();
  const prompt = $("#prompt").value;
  if (!prompt.trim() || controller) return;
  if (prompt.includes("[[freeze]]")) for (;;) {}  // a renderer that never answers again
  $("#prompt").value = "";
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
      body: JSON.stringify({ model: $("#model").value, prompt }),
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
$("#stop").addEventListener("click", () => controller && controller.abort());
