// Files into the replica's prompt: the add-media menu, chips, the copyright
// acknowledgement, and a paste. Facts, each with its source (notes:
// /work/wt/notes-aistudio-upload.md; "CJ" = CJackHwang/AIstudioProxyAPI
// @fd1da7bb8128d7f333d71b7529e28bda0ad5b94d, "MF" = Mag1cFall/AIStudio2API
// @79d99fb70b3e81c2e83de01cf5b9aa5b584eaca1):
// - The add-media button: button[data-test-id="add-media-button"], label
//   "Insert images, videos, audio, or files", inside ms-add-media-button,
//   iconname add_circle: MF src/config/selectors.py L20-42; CJ
//   config/selectors.py L43-47. Older UI: "Insert assets such as images,
//   videos, files, or audio": CJ 171ff1ce93ec58acd575b96b142dc2dc5c53a45e
//   browser_utils/page_controller.py L480-500 (PR #169).
// - It opens a CDK overlay menu, div.cdk-overlay-container div[role=menu],
//   over a transparent backdrop that stays when a file is set on the input
//   without a click on the item (CJ presses Escape then):
//   CJ browser_utils/page_controller_modules/input.py L209-224, L276-283.
// - The item: button[role=menuitem].upload-file-menu-item "Upload a file"
//   (older UI "Upload File": CJ ebeed2d90a99c4e9d9c459cde7a58bc684bc2001),
//   holding the hidden input[type=file].file-input[data-test-upload-file-input]
//   WITHOUT `multiple`: CJ input.py L231-270; MF selectors.py and
//   47d91317a4f6a745688225577b1ace116038e160 ("the page now only accepts a
//   single file"). A click on the item opens the file chooser (CJ's
//   expect_file_chooser fallback, input.py L257-270).
// - A chip per file, ms-prompt-box .multi-media-row ms-media-chip, with an
//   img whose src is blob: and a Remove button: MF selectors.py
//   UPLOADED_MEDIA_ITEM_SELECTOR, page_controller.py L1773-1878; CJ
//   947f96278b31d197d070b6427f1ce02a5a8398da _ensure_files_attached.
// - The first upload asks for the copyright acknowledgement,
//   button[aria-label="Agree to the copyright acknowledgement"]: CJ PR #169
//   (171ff1c page_controller.py L480-500), input.py L295-360.
// - A paste of files (a ClipboardEvent on the prompt textarea, then on
//   document) is taken: MF page_controller.py L1538-1590.
// Assumed (no source says): what the input accepts (the Gemini models' image
// types: docs.cloud.google.com/vertex-ai/docs/generative-ai/image/
// image-captioning lists image/png, jpeg, webp, heic, heif), that another
// type is refused with a div.toast.error naming the file, that the dialog's
// backdrop and Escape do not close it and Run does nothing until Agree, that
// the acknowledgement is remembered (here in localStorage), that the older
// UI's chips sit the same way in its wrapper, and a short "loading" state.
window.replicaUpload = (box, ui, changed) => {
  const ACCEPT = ["image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"];
  const ACK = "replicaCopyrightAcknowledged";
  const label = ui === "old"
    ? "Insert assets such as images, videos, files, or audio" : "Insert images, videos, audio, or files";
  const item = ui === "old" ? "Upload File" : "Upload a file";
  box.insertAdjacentHTML("afterbegin", `<div class="multi-media-row"></div>`);
  // (the older UI's button has no data-test-id: CJ added that selector only
  // with the newer UI, 08569982aef92923a5feff3e208416150367669e)
  const testId = ui === "old" ? "" : `data-test-id="add-media-button"`;
  box.insertAdjacentHTML("beforeend", `<ms-add-media-button><button ${testId}
    aria-label="${label}" iconname="add_circle" type="button">+</button></ms-add-media-button>`);
  const row = box.querySelector(".multi-media-row");
  const chips = []; // {chip, mime, b64 (null while loading)}
  let agreedNow = false; // the acknowledgement was given on this page load (for tests)
  let stray = 0; // clicks that landed on a backdrop (for tests)

  const overlay = () => document.querySelector(".cdk-overlay-container")
    || document.body.appendChild(Object.assign(document.createElement("div"), { className: "cdk-overlay-container" }));
  let menu = null; // [backdrop, pane] while open
  let dialog = null;

  function closeMenu() {
    if (menu) for (const n of menu) n.remove();
    menu = null;
  }
  function openMenu() {
    if (menu) return;
    const backdrop = Object.assign(document.createElement("div"), {
      className: "cdk-overlay-backdrop cdk-overlay-transparent-backdrop cdk-overlay-backdrop-showing",
    });
    const pane = document.createElement("div");
    pane.className = "cdk-overlay-connected-position-bounding-box";
    pane.innerHTML = `<div class="cdk-overlay-pane"><div class="mat-mdc-menu-panel" role="menu">
      <button role="menuitem" class="mat-mdc-menu-item upload-file-menu-item" aria-label="${item}"><span>${item}</span>
        <input type="file" class="file-input" data-test-upload-file-input hidden accept="${ACCEPT.join(",")}"></button>
      <button role="menuitem" class="mat-mdc-menu-item" aria-label="Drive"><span>Drive</span></button>
    </div></div>`;
    backdrop.addEventListener("click", () => { stray++; closeMenu(); });
    const entry = pane.querySelector(".upload-file-menu-item"), input = entry.querySelector("input");
    let clicked = false;
    entry.addEventListener("click", (e) => {
      if (e.target === input) return;
      clicked = true;
      input.click(); // the native file chooser
    });
    input.addEventListener("change", () => {
      take([...input.files]);
      input.value = "";
      if (clicked) closeMenu(); // a click on an item closes the menu; set_input_files clicks none
    });
    overlay().append(backdrop, pane);
    menu = [backdrop, pane];
  }
  // (for tests only: a page that loses the button's first click, as one
  // not ready yet would; data-loses-first-click, from app.py)
  let lose = !!document.body.dataset.losesFirstClick;
  box.querySelector("ms-add-media-button button").addEventListener("click", () => {
    if (lose) lose = false; else openMenu();
  });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeMenu(); });

  function askAcknowledgement() {
    if (localStorage.getItem(ACK) || dialog) return;
    const backdrop = Object.assign(document.createElement("div"), {
      className: "cdk-overlay-backdrop cdk-overlay-dark-backdrop cdk-overlay-backdrop-showing",
    });
    backdrop.addEventListener("click", () => { stray++; });
    const wrapper = document.createElement("div");
    wrapper.className = "cdk-global-overlay-wrapper";
    wrapper.innerHTML = `<div class="cdk-overlay-pane"><mat-dialog-container role="dialog" aria-modal="true">
      <h2>Copyright acknowledgement</h2><p>I confirm I have the rights to the files I upload.</p>
      <button class="ms-button-primary" aria-label="Agree to the copyright acknowledgement">Agree</button>
    </mat-dialog-container></div>`;
    wrapper.querySelector("button").addEventListener("click", () => {
      localStorage.setItem(ACK, "1");
      agreedNow = true;
      backdrop.remove();
      wrapper.remove();
      dialog = null;
      changed();
    });
    overlay().append(backdrop, wrapper);
    dialog = wrapper;
  }

  function take(files) {
    for (const file of files) {
      if (!ACCEPT.includes(file.type)) {
        const toast = document.createElement("div");
        toast.className = "toast error";
        toast.textContent = `Failed to upload file ${file.name}: unsupported file type`;
        document.getElementById("callouts").appendChild(toast);
        continue;
      }
      askAcknowledgement();
      const chip = document.createElement("ms-media-chip");
      chip.className = "loading";
      chip.innerHTML = `<span class="name"></span><button aria-label="Remove ${file.name}">x</button>`;
      chip.querySelector(".name").textContent = file.name;
      const entry = { chip, mime: file.type, b64: null };
      chip.querySelector("button").addEventListener("click", () => {
        chips.splice(chips.indexOf(entry), 1);
        chip.remove();
        changed();
      });
      chips.push(entry);
      row.appendChild(chip);
      const reader = new FileReader();
      reader.onload = () => setTimeout(() => { // "loading" a moment
        entry.b64 = String(reader.result).split(",")[1];
        chip.classList.remove("loading");
        chip.insertAdjacentHTML("afterbegin", `<img alt="" width="32" height="32" src="${URL.createObjectURL(file)}">`);
        changed();
      }, 150);
      reader.readAsDataURL(file);
    }
    changed();
  }

  // A paste of files on the prompt box (it bubbles here) or on document.
  document.addEventListener("paste", (e) => {
    const files = [...((e.clipboardData && e.clipboardData.files) || [])];
    if (!files.length) return;
    e.preventDefault();
    take(files);
  });

  return {
    loading: () => chips.some((c) => c.b64 === null),
    blocked: () => dialog !== null, // Run does nothing until the acknowledgement
    agreedNow: () => agreedNow,
    stray: () => stray,
    // The user turn's image parts, [null, null, [mime, base64]] (inferred:
    // notes #21, the public Part.inline_data = 3, Blob{mime_type, data}),
    // and the chips cleared for the next prompt.
    take: () => {
      const parts = chips.map((c) => [null, null, [c.mime, c.b64]]);
      chips.length = 0;
      row.replaceChildren();
      return parts;
    },
  };
};
