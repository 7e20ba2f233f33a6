"""The captcha state of an instance: the site wants a person.

A reCAPTCHA refusal or a Cloudflare challenge is neither a crash (a restart
would not help) nor a logout (the cookies are fine). The instance stops
taking work (its /health says `captcha`, its requests get 503 `captcha`, so
the router sends them elsewhere) and probes the site now and then, by itself:
the first probe `probe_after` seconds after the captcha, each further one
twice as late as the last, up to `probe_max`, so an account under captcha
pressure is never hammered. A passing probe (or `mictl restart`, a fresh
process) ends the state.

Decisions only, no I/O: the instance's shell (recovery.py) acts on them.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Challenge:
    def __init__(
        self,
        *,
        probe_after: float = 300.0,
        probe_max: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.probe_after = probe_after
        self.probe_max = max(probe_max, probe_after)
        self.clock = clock
        self.active = False
        self.reason = ""
        self.since = 0.0  # when the state began (clock time)
        self.probes = 0  # probes that failed since
        self.next_probe = 0.0  # clock time of the next probe
        self._interval = probe_after

    def enter(self, reason: str) -> bool:
        """The site asked for a person. True when this starts the state (a
        second refusal while in it changes nothing: no new schedule)."""
        if self.active:
            return False
        now = self.clock()
        self.active, self.reason, self.since, self.probes = True, reason, now, 0
        self._interval = self.probe_after
        self.next_probe = now + self._interval
        return True

    def wait(self) -> float:
        """Seconds until the next probe is due (0: due now)."""
        return max(0.0, self.next_probe - self.clock()) if self.active else 0.0

    def probe_failed(self, reason: str = "") -> float:
        """Schedule the next probe, twice as late; returns its delay."""
        self.probes += 1
        if reason:
            self.reason = reason
        self._interval = min(self._interval * 2, self.probe_max)
        self.next_probe = self.clock() + self._interval
        return self._interval

    def clear(self) -> float:
        """A probe passed: back to work. Returns how long the state lasted."""
        lasted = self.clock() - self.since if self.active else 0.0
        self.active, self.reason, self.probes = False, "", 0
        return lasted
