"""Put the prompt in and press send, in as few page round trips as it takes.

Every round trip between Python and the page (Python -> Playwright's driver
-> Chromium -> the renderer and back) costs 2-10 ms on a loaded 2-core
machine, and all of them sit in the client's time to first token. So:

1. One page script arms page.js, focuses the prompt box with its content
   selected, types the prompt with the browser's own editing command
   (`execCommand("insertText")`: the same InsertTextCommand that DevTools'
   Input.insertText runs, with trusted beforeinput/input events, so
   textareas and contenteditable editors alike see real typing), then
   waits in the page until the send button is enabled and returns where it
   is.
2. The mouse press and release go out together over the page's DevTools
   session and are acknowledged together: one round trip, not the three of
   move, down and up (a move waits for the next animation frame, and
   Chromium updates hover with the press anyway).

   A site file with `press = "script"` skips step 2: the page script that
   typed calls the send button's own click() as soon as it is enabled. No
   round trip and no trip through Chromium's input pipeline (9 ms from the
   end of typing to the site's request on the AI Studio replica, under 1 ms
   this way), but the click is untrusted (`isTrusted` false), so it is only
   for sites whose handlers take it. A site empties its prompt box as it
   sends (CJackHwang/AIstudioProxyAPI checks exactly that to tell whether
   a submission took: browser_utils/page_controller_modules/input.py,
   "Input cleared"); a box still holding the prompt 2 s after the click
   means the site ignored it, unless its request went out all the same
   (the adapter asks the tap). Ignored, the button is pressed with the
   mouse after all and the adapter keeps to the mouse; sent, the site
   keeps its prompt in the box, and the box is no longer watched.

A long prompt goes in at once instead. The browser's editing commands
(insertText, from page script or DevTools alike) lay out each new line as
it goes, so their time grows with the square of the number of lines: 1,000
lines take 3-5 s here, 4,000 take 25-40 s, and 20,000 jam the renderer for
good (issue 28). Past BULK_LINES line breaks a textarea gets its whole
value through the element's own value setter and one input event (what
CJackHwang/AIstudioProxyAPI does for every prompt:
browser_utils/page_controller_modules/input.py fills `textarea.value`),
and a rich-text editor gets one paste of the text, which ProseMirror,
Quill and Lexical take in one step (a plain contenteditable takes the text
as its content). Both are linear: 20,000 lines in under 50 ms.

Where the page script cannot type (an editor that handles its input itself
and leaves a different text, or no box on the page yet) the prompt goes in
the slower ways: DevTools' Input.insertText, then Playwright's fill.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import CDPSession, Page

from instance_runner.sites import clicks, sel
from instance_runner.sites.types import Sel

BULK_LINES = 32  # more line breaks than this: the prompt goes in at once

# The whole text into a textarea or input through the element's own value
# setter (frameworks that track the value see the change), or as one paste
# into a rich-text editor; a plain contenteditable that ignores the paste
# takes the text as its content.
_PUT_ALL = """(el, text, norm, shown) => {
    const input = (kind) => el.dispatchEvent(
        new InputEvent("input", {bubbles: true, inputType: kind}));
    if (el instanceof HTMLTextAreaElement || el instanceof HTMLInputElement) {
        const proto = el instanceof HTMLTextAreaElement ? HTMLTextAreaElement : HTMLInputElement;
        Object.getOwnPropertyDescriptor(proto.prototype, "value").set.call(el, text);
        input("insertFromPaste");
        el.dispatchEvent(new Event("change", {bubbles: true}));
        return;
    }
    const data = new DataTransfer();
    data.setData("text/plain", text);
    el.dispatchEvent(new ClipboardEvent("paste",
        {clipboardData: data, bubbles: true, cancelable: true}));
    if (norm(shown()) !== norm(text)) {
        el.textContent = text;
        input("insertFromPaste");
    }
}"""

# [arm config, prompt selectors, text, send selectors, ms to wait for send,
# press, ms to wait after the click for the box to empty (0: not watched)]
# -> null (no box to type in), {typed: false} (typed nothing: the box is
# focused with its content selected), or {typed: true, send: place or null};
# with press, the place says whether the button was clicked, or that the box
# still held the prompt afterwards (the site may have ignored the click).
_TYPE = f"""async ([cfg, box, text, send, waitMs, press, keptMs]) => {{
    const putAll = {_PUT_ALL};
    window.__mictlArm(cfg);
    if (!window.__mictlFocus(box)) return null;
    const el = document.activeElement;
    const norm = (s) => s.replace(/\\s+/g, " ").trim();
    const shown = () => el.value !== undefined ? el.value : el.innerText;
    if (text.split("\\n").length > {BULK_LINES} + 1) {{
        putAll(el, text, norm, shown);
    }} else {{
        document.execCommand("insertText", false, text);
    }}
    if (norm(shown()) !== norm(text)) {{
        window.__mictlFocus(box);  // selected again: real typing replaces it
        return {{typed: false}};
    }}
    const find = {clicks.FIND};
    await null;  // frameworks that re-render in a microtask have done so
    let found = find(send, press);
    const until = performance.now() + waitMs;
    while (found && found.disabled && performance.now() < until) {{
        await new Promise((r) => requestAnimationFrame(r));
        found = find(send, press);
    }}
    if (found && found.pressed && keptMs > 0) {{
        // A site empties its prompt box as it sends. Still showing the prompt
        // after a while: the site ignored the untrusted click.
        const kept = () => el.isConnected && norm(shown()) === norm(text);
        const give = performance.now() + keptMs;
        while (kept() && performance.now() < give) {{
            await new Promise((r) => requestAnimationFrame(r));
        }}
        if (kept()) {{
            const again = find(send, false);
            found = again && {{...again, ignored: true}};
        }}
    }}
    return {{typed: true, send: found}};
}}"""


async def type_prompt(
    page: Page,
    cfg: dict[str, Any],
    box: Sel,
    text: str,
    send: Sel,
    *,
    press: bool = False,
    watch_box: bool = True,
) -> Any:
    """Arm page.js and put `text` in the prompt box, replacing what it held;
    with `press`, click the send button from the page as well. Returns where
    the send button is (clicks.FIND's result, "pressed" when it was clicked,
    "ignored" when the box still held the prompt 2 s after that click, unless
    not `watch_box`), or None when it must be looked for again."""
    kept_ms = 2000 if watch_box else 0
    args = [cfg, sel.options(box), text, sel.options(send), 2000, press, kept_ms]
    done = await page.evaluate(_TYPE, args)
    if done is None:  # no box to focus yet: wait for it the slow way
        await page.fill(sel.any_of(box), text)
        return None
    if not done["typed"]:
        await page.keyboard.insert_text(text)
        return None
    return done["send"]


async def press_send(page: Page, cdp: CDPSession, send: Sel, place: Any) -> None:
    """Click the send button at `place` (from type_prompt), or find it again;
    nothing to do when the page script clicked it already."""
    if place is not None and place["pressed"]:
        return None
    if place is None or place["disabled"] or not place["inside"]:
        return await clicks.click(page, send, "send button", wait_enabled=2)
    await clicks.press_at(page, place["x"], place["y"], cdp)
