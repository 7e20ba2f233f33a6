"""Which Chromium to run, and how.

The headless shell starts in about 0.2 s and takes about 100 MB PSS per
browser here, against 0.6 s and 220 MB for full Chromium in new headless mode,
so it comes first.
"""

from __future__ import annotations

import glob
import os
import shutil

CANDIDATES = (
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/lib/chromium/chromium",
    "chromium",
    "google-chrome",
)

# The network is closed on many hosts: do not let Chromium reach for Google.
FLAGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
)

EXIT_NO_BROWSER = 78  # EX_CONFIG: mictld treats it as fatal, no retries


class NoBrowser(Exception):
    pass


def find(
    configured: str = "", playwright_default: str | None = None, *, full: bool = False
) -> str | None:
    """The executable to pass to Playwright (None = Playwright's own).

    `full`: the mode needs full Chromium (new headless, or headed), which the
    headless shell is not.
    """
    tried = []
    candidates = [c for c in CANDIDATES if not (full and c.endswith("headless-shell"))]
    for candidate in ([configured] if configured else []) + candidates:
        path = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        tried.append(candidate)
        if path and os.access(path, os.X_OK) and os.path.isfile(path):
            return path
        if configured and candidate == configured:
            raise NoBrowser(f"the configured browser {configured!r} is not an executable file")
    if playwright_default and os.path.exists(playwright_default):
        return None
    raise NoBrowser(
        "no Chromium found (tried: "
        + ", ".join([*tried, "Playwright's own"])
        + "). Install one: `apt-get install chromium-headless-shell` on Debian, "
        "or `python -m playwright install chromium`."
    )


def playwright_default() -> str | None:
    """Where `python -m playwright install chromium` puts its browser, if it did."""
    root = os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or os.path.expanduser(
        "~/.cache/ms-playwright"
    )
    found = sorted(glob.glob(os.path.join(root, "chromium*", "chrome-*", "*chrome*")))
    return found[-1] if found else None


def flags(extra: list[str]) -> list[str]:
    args = list(FLAGS) + list(extra)
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to sandbox as root
    return args
