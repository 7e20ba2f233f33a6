"""A private X display for a headed browser: Xvfb, started and stopped with it.

Sites with heavy bot detection (LMArena's reCAPTCHA, Cloudflare) trust a
headed browser more than a headless one; on a server that has no display, a
headed Chromium needs a virtual one. `-displayfd` lets Xvfb pick a free
display number and tell us, so instances never race for one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess

from instance_runner.chromium import NoBrowser


class NoDisplay(NoBrowser):
    """No display and no Xvfb: a config error, like a missing browser."""


class Xvfb:
    def __init__(self, proc: subprocess.Popen[bytes], display: str) -> None:
        self.proc = proc
        self.display = display

    @staticmethod
    def available() -> bool:
        return shutil.which("Xvfb") is not None

    @classmethod
    def start(cls, screen: str = "1280x900x24", timeout: float = 10.0) -> Xvfb:
        exe = shutil.which("Xvfb")
        if exe is None:
            raise NoDisplay("a headed browser needs a display: install Xvfb (apt-get install xvfb)")
        read, write = os.pipe()
        try:
            proc = subprocess.Popen(
                [exe, "-displayfd", str(write), "-screen", "0", screen, "-nolisten", "tcp"],
                pass_fds=(write,),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        finally:
            os.close(write)
        with os.fdopen(read, "rb") as pipe:
            # Blocking read, once, at start-up (before the event loop serves).
            number = pipe.readline().strip().decode()
        if not number.isdigit():
            proc.kill()
            proc.wait(timeout)
            raise NoDisplay("Xvfb did not start")
        return cls(proc, f":{number}")

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
