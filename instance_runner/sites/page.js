// Installed in every page of an instance (context.add_init_script). It pushes
// what happens on the page to Python through the exposed binding
// window.__mictlEvent(kind, data): answer deltas, completion, banners. No
// polling: a MutationObserver for the DOM. (The network source is tapped
// from Python through the DevTools protocol: sites/tap.py.)
(() => {
  if (window.__mictlArm) return;
  const report = (kind, data) => {
    try { window.__mictlEvent(kind, data === undefined ? null : data); } catch (e) { /* gone */ }
  };
  const visible = (n) => !!n && !n.hidden && n.getClientRects().length > 0;
  const count = (sel) => (sel ? document.querySelectorAll(sel).length : 0);
  let state = null; // the armed generation, if any

  function firstVisible(sel) {
    for (const n of document.querySelectorAll(sel)) if (visible(n)) return n;
    return null;
  }

  function finish(kind, data) {
    state.finished = true;
    state.observer.disconnect();
    report(kind, data);
  }

  function check() {
    const s = state;
    if (!s || s.finished) return;
    for (const n of [...s.stale]) if (!visible(n)) s.stale.delete(n);
    for (const [kind, sel] of s.banners) {
      const n = firstVisible(sel);
      if (n && !s.stale.has(n)) return finish(kind, n.textContent.trim());
    }
    if (s.cfg.source === "dom") {
      const nodes = document.querySelectorAll(s.cfg.answer);
      if (nodes.length <= s.answersBefore) return; // our answer has not appeared yet
      const newest = nodes[nodes.length - 1];
      const text = newest.textContent;
      if (text.length > s.sent.length && text.startsWith(s.sent)) {
        report("delta", text.slice(s.sent.length));
        s.sent = text;
        s.gotDelta = true;
      }
      if (s.cfg.answer_done && newest.closest(s.cfg.answer_done)) return finish("done");
      if (s.cfg.idle && s.gotDelta && document.querySelector(s.cfg.idle)) return finish("done");
    }
  }

  window.__mictlArm = (cfg) => {
    if (state) state.observer.disconnect();
    const banners = [["rate_limit", cfg.rate_limit], ["captcha", cfg.captcha], ["error", cfg.error],
      ["logged_out", cfg.logged_out]]
      .filter((b) => b[1]);
    const stale = new Set(); // banners already up before this request
    for (const [, sel] of banners) for (const n of document.querySelectorAll(sel)) if (visible(n)) stale.add(n);
    state = {
      cfg, banners, stale, sent: "", gotDelta: false, finished: false,
      answersBefore: count(cfg.answer),
      observer: new MutationObserver(check),
    };
    state.observer.observe(document.documentElement, {
      subtree: true, childList: true, characterData: true, attributes: true,
    });
  };

  // Focus the first visible, editable match of `sels` with its content
  // selected, so that typing replaces it (as Playwright's fill does).
  window.__mictlFocus = (sels) => {
    for (const s of sels) {
      for (const el of document.querySelectorAll(s)) {
        if (!visible(el) || el.disabled || el.readOnly) continue;
        el.focus();
        if (el instanceof HTMLTextAreaElement || el instanceof HTMLInputElement) {
          el.select();
        } else if (el.isContentEditable) {
          const range = document.createRange();
          range.selectNodeContents(el);
          const selection = getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
        } else {
          return false;
        }
        return el === document.activeElement || el.contains(document.activeElement);
      }
    }
    return false;
  };

  window.__mictlDisarm = () => {
    if (state) { state.finished = true; state.observer.disconnect(); }
    state = null;
  };

})();
