"""Take secrets out of an upstream's error body before a client sees it.

An API upstream may echo what it was sent ("Incorrect API key provided:
sk-abc...") and a misconfigured proxy may echo the Authorization header. The
router relays error bodies to its own clients, who must never learn the
keys mictl holds: the backend's own key is cut out wherever it appears, and
so is anything shaped like a key or a bearer token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = b"[redacted]"
KEYLIKE = re.compile(
    rb"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"  # an Authorization value
    rb"|\b(?:sk|pk|rk)-[A-Za-z0-9_-]{12,}"  # OpenAI-style keys (sk-..., sk-proj-...)
    rb"|\bAIza[0-9A-Za-z_-]{30,}"  # Google API keys
    rb"|\b(?:xox[abpr]|ghp|gho|github_pat)_?[A-Za-z0-9_-]{16,}"  # Slack, GitHub tokens
)


def scrub(body: bytes, secrets: Iterable[str] = ()) -> bytes:
    """`body` with each of `secrets` and anything key-shaped replaced."""
    for secret in secrets:
        if len(secret) >= 4:
            body = body.replace(secret.encode(), REDACTED)
    return KEYLIKE.sub(lambda m: (m.group(1) + b" " if m.group(1) else b"") + REDACTED, body)
