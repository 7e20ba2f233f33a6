// Images into the replica's composer, and up to storage, as arena.ai's page
// does it (sources in ../../app.py's docstring: godnight10061/LMArenaBridge
// src/main.py @6714f25 upload_image_to_lmarena: the upload-URL server action,
// a PUT of the bytes, the signed-URL action; the attachment
// {name: key, contentType, url} in userMessage.experimental_attachments).
// The file input is in the page from the start and takes several files:
// foxhui/WebAI2API lmarena_text.js @0fdfd3a calls pasteImages, which
// (src/backend/engine/utils.js @83b28bb) finds the page's input[type="file"]
// without opening anything and sets all the files on it in one call.
// Assumed (no source says): the "Add files" button clicking that hidden
// input (accept image/*), the preview chips
// ([data-attachment] with a blob: img, drawn once the upload is done), the
// error toast for a failed upload, that the page waits for pending uploads
// before it sends, and that the attachments keep the order the files were
// chosen in (a composer's list of attachments, whichever upload ends first).
window.arenaUpload = (form, textarea, toast) => {
  const ACCEPT = ["image/png", "image/jpeg", "image/gif", "image/webp"];
  const ids = document.body.dataset;
  form.insertAdjacentHTML("afterbegin", '<div data-attachments="" class="attachments"></div>'
    + '<input type="file" multiple hidden accept="image/*" data-testid="file-input">');
  const row = form.querySelector("[data-attachments]");
  const input = form.querySelector('input[type="file"]');
  form.querySelector('button[aria-label="Add files"]').addEventListener("click", () => input.click());
  let pending = [];
  let slots = []; // a file each, in the order chosen: {att: {name, contentType, url}} once up

  const action = async (id, args) => {
    const r = await fetch(location.pathname, {
      method: "POST", body: JSON.stringify(args),
      headers: { "Next-Action": id, accept: "text/x-component", "content-type": "text/plain;charset=UTF-8" },
    });
    if (!r.ok) throw new Error(`upload failed (${r.status})`);
    for (const line of (await r.text()).split("\n")) {
      if (line.startsWith("1:")) {
        const v = JSON.parse(line.slice(2));
        if (v.success) return v.data;
      }
    }
    throw new Error("upload failed");
  };

  async function upload(file, slot) {
    const { uploadUrl, key } = await action(ids.uploadAction, [file.name, file.type]);
    const put = await fetch(uploadUrl, { method: "PUT", body: file, headers: { "content-type": file.type } });
    if (!put.ok) throw new Error(`upload failed (${put.status})`);
    const { url } = await action(ids.signedUrlAction, [key]);
    slot.att = { name: key, contentType: file.type, url };
    const chip = document.createElement("figure");
    chip.setAttribute("data-attachment", "");
    chip.innerHTML = `<img alt="" width="40" height="40" src="${URL.createObjectURL(file)}">
      <button type="button" aria-label="Remove attachment">x</button>`;
    chip.querySelector("button").addEventListener("click", () => {
      slots.splice(slots.indexOf(slot), 1);
      chip.remove();
    });
    row.append(chip);
  }

  function take(files) {
    for (const file of files) {
      if (!ACCEPT.includes(file.type)) { toast(`${file.name}: unsupported file type`); continue; }
      const slot = {};
      slots.push(slot);
      pending.push(upload(file, slot).catch((e) => toast(`${file.name}: ${e.message}`)));
    }
  }
  input.addEventListener("change", () => { take([...input.files]); input.value = ""; });

  return {
    // the attachments for the message being sent, once every upload is done;
    // the chips are cleared for the next one
    take: async () => {
      await Promise.all(pending);
      pending = [];
      const out = slots.filter((s) => s.att).map((s) => s.att);
      slots = [];
      row.replaceChildren();
      return out;
    },
  };
};
