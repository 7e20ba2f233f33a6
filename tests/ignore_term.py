"""A program that ignores SIGTERM (so only SIGKILL ends it)."""

import signal
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("up, ignoring SIGTERM", flush=True)
while True:
    time.sleep(600)
