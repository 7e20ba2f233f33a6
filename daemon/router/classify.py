"""What one backend's answer means for that backend, as one table.

`classify(kind, status)` decides the breaker's outcome, whether to cool the
model down, whether to try another backend and whether to probe the backend
now. A client's bad request (4xx) never counts against a backend; a 503 from
an instance is its own state speaking (logged out, captcha, its queue full),
which its /health tells the routability machine, so it asks for a probe
instead of feeding the breaker; so is a 503 from another host's mictld (none
of its accounts free), which its /readyz tells.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Outcome = Literal["ok", "fail", "hard_fail", "neutral"]
Kind = Literal["instance", "upstream", "mictld"]

# Not HTTP statuses: what happened when no status came back.
REFUSED = -1  # connection refused or reset before an answer
TIMED_OUT = -2  # no answer within the request's time


class Verdict(msgspec.Struct, frozen=True):
    outcome: Outcome
    retry: bool = False  # try another backend (only before the first byte reached the client)
    cool: bool = False  # a rate limit: rest this backend for this model (Retry-After)
    probe: bool = False  # ask the backend's /health now


OK = Verdict("ok")
CLIENT_ERROR = Verdict("neutral")  # the client's fault: returned as is, no retry
RATE_LIMITED = Verdict("neutral", retry=True, cool=True)
UNREACHABLE = Verdict("hard_fail", retry=True, probe=True)
TIMEOUT = Verdict("fail", retry=True)
BACKEND_FAULT = Verdict("fail", retry=True)
INSTANCE_FAULT = Verdict("fail", retry=True, probe=True)
INSTANCE_STATE = Verdict("neutral", retry=True, probe=True)


def classify(kind: Kind, status: int) -> Verdict:
    if status == REFUSED:
        return UNREACHABLE
    if status == TIMED_OUT:
        return TIMEOUT
    if status < 400:
        return OK
    if status == 429:
        return RATE_LIMITED
    if status < 500:
        return CLIENT_ERROR
    if kind != "upstream":  # an instance, or a mictld host: its /health or /readyz says more
        return INSTANCE_STATE if status == 503 else INSTANCE_FAULT
    return BACKEND_FAULT
