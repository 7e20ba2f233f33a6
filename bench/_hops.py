"""Where one request's time goes through mictl-instance, hop by hop.

Inputs, all on the one system-wide monotonic clock: the client's start and
its (time, answer characters so far) as pieces arrived; the replica's
(time, answer characters, body bytes) as it wrote each piece; the instance's
timeline marks (instance_runner/timeline.py), where Chromium's own Network
timestamps say when the browser had each chunk of the body.
"""

from __future__ import annotations

from typing import Any

# Hops of the time to first token, then of every piece: (key, column title).
FIRST = [
    ("page", "fresh chat + model"),
    ("type", "type + click (to the site's request)"),
    ("site", "site's first byte (Chromium)"),
    ("first_devtools", "1st piece: Chromium -> instance"),
    ("first_mictl", "1st piece: instance -> client"),
]
PIECE = [
    ("net", "piece: replica -> Chromium"),
    ("devtools", "piece: Chromium -> instance"),
    ("mictl", "piece: instance -> client"),
    ("server", "(of which instance -> SSE handed over)"),
]


def _when(points: list[tuple[float, int]], amount: int) -> float | None:
    """The first time the running total reached `amount`."""
    return next((t for t, total in points if total >= amount), None)


def _running(marks: list[list[Any]], name: str, *, browser: bool) -> list[tuple[float, int]]:
    out, total = [], 0
    for m_name, at, browser_at, size in marks:
        if m_name == name:
            total += size
            when = browser_at if browser else at
            if when is not None:
                out.append((when, total))
    return out


def hops(
    t0: float,
    sent: list[list[float]],
    received: list[tuple[float, int]],
    marks: list[list[Any]],
) -> dict[str, list[float]]:
    """Milliseconds per hop for one request (lists: one value per piece)."""
    out: dict[str, list[float]] = {key: [] for key, _ in FIRST + PIECE}
    at = {m[0]: m for m in reversed(marks)}  # the first mark of each name
    if not {"request", "prepared", "browser_request"} <= set(at) or not sent:
        return out
    chromium = _running(marks, "browser_data", browser=True)
    instance = _running(marks, "received", browser=False)
    handed = [(m[1], m[3]) for m in marks if m[0] == "sent"]  # size: characters so far
    out["page"].append((at["prepared"][1] - t0) * 1000)
    request_sent = at["browser_request"][2]
    out["type"].append((request_sent - at["prepared"][1]) * 1000)
    for i, (wrote, length, size) in enumerate(sent):
        c, r = _when(chromium, int(size)), _when(instance, int(size))
        k, h = _when(received, int(length)), _when(handed, int(length))
        if c is None or r is None or k is None:
            continue
        if i == 0:
            out["site"].append((c - request_sent) * 1000)
            out["first_devtools"].append((r - c) * 1000)
            out["first_mictl"].append((k - r) * 1000)
        out["net"].append((c - wrote) * 1000)
        out["devtools"].append((r - c) * 1000)
        out["mictl"].append((k - r) * 1000)
        if h is not None:
            out["server"].append((h - r) * 1000)
    return out
