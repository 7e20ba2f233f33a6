// The replica's client: POST the prompt, read the SSE answer, render it.
(() => {
  const box = document.querySelector(".ProseMirror");
  const send = document.querySelector('button[aria-label="Send message"]');
  const stop = document.querySelector('button[aria-label="Stop response"]');
  const thread = document.getElementById("thread");
  const org = document.body.dataset.org;
  let controller = null;
  send.addEventListener("click", async () => {
    const prompt = box.textContent.trim();
    if (!prompt || controller) return;
    box.textContent = "";
    const id = crypto.randomUUID();
    history.pushState(null, "", "/chat/" + id);
    const turn = document.createElement("div");
    turn.className = "font-claude-message";
    thread.append(turn);
    controller = new AbortController();
    stop.hidden = false;
    try {
      const r = await fetch(`/api/organizations/${org}/chat_conversations/${id}/completion`, {
        method: "POST", signal: controller.signal,
        headers: { "content-type": "application/json", accept: "text/event-stream" },
        body: JSON.stringify({ prompt, timezone: "UTC", attachments: [], files: [] }),
      });
      if (!r.ok) { turn.textContent = "Error " + r.status; return; }
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let end;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, end); buf = buf.slice(end + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (!data) continue;
          const item = JSON.parse(data);
          if (item.delta && item.delta.type === "text_delta") turn.textContent += item.delta.text;
        }
      }
    } catch (e) { /* stopped */ } finally {
      controller = null; stop.hidden = true; turn.dataset.done = "1";
    }
  });
  stop.addEventListener("click", () => controller && controller.abort());
})();
