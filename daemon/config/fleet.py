"""Config of running a fleet of accounts: auto-scaling, the start-up ramp,
flapping hold-back and FATAL retries. Every one off (or as supervisord does)
unless set.
"""

from __future__ import annotations

import os
from typing import Annotated

import msgspec

from daemon.config.ranges import Count, Seconds, SecondsOrZero, Utilisation
from daemon.types import ProgramSpec


class ScalePolicy(msgspec.Struct, frozen=True, kw_only=True):
    """[scaling] as the scaler's pure decision sees it (daemon/fleet/scale_policy.py)."""

    min_running: int = 1
    max_running: int = 0  # 0: every profile
    up_above: float = 0.8
    down_below: float = 0.2
    window: float = 30.0
    cooldown: float = 60.0


# Seconds between two looks at the pool: a floor, so that no value makes a busy loop.
Interval = Annotated[float, msgspec.Meta(ge=0.1)]
UpAbove = Annotated[float, msgspec.Meta(gt=0)]  # 0 would scale up on any request


class _Struct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class ScalingSection(_Struct):
    enabled: bool = False
    min_running: Count = 1  # instances kept running; the others are standby
    max_running: Count = 0  # 0 = every profile
    up_above: UpAbove = 0.8  # utilisation (in flight + queued over capacity) to scale up
    down_below: Utilisation = 0.2  # ... and to scale down
    window: SecondsOrZero = 30.0  # seconds it must stay above / below
    cooldown: SecondsOrZero = 60.0  # seconds between two steps
    interval: Interval = 1.0  # seconds between two looks at the pool

    def policy(self) -> ScalePolicy | None:
        if not self.enabled:
            return None
        return ScalePolicy(
            min_running=self.min_running,
            max_running=self.max_running,
            up_above=self.up_above,
            down_below=self.down_below,
            window=self.window,
            cooldown=self.cooldown,
        )


class FleetSection(_Struct):
    # Instances warming up at once (STARTING, or RUNNING before their first
    # passing probe); 0 = 20 per core (bench/scale.py: 40 demo instances on 2
    # cores were routable in 45 s with 40 at once, 64 s with 10, 125 s with 4).
    # Programs that are not instances start at once.
    max_starting: Count = 0
    # Flapping: this many exits after startsecs within flap_window seconds
    # hold the program back flap_delay seconds, doubling to flap_delay_max
    # (0 = off, as supervisord).
    flap_exits: Count = 0
    flap_window: Seconds = 60.0
    flap_delay: Seconds = 1.0
    flap_delay_max: Seconds = 300.0
    # A FATAL program tries again by itself after this many seconds, doubling
    # to fatal_retry_max (0 = off: supervisord's FATAL waits for a person).
    fatal_retry_after: SecondsOrZero = 0.0
    fatal_retry_max: Seconds = 3600.0

    def starting_limit(self) -> int:
        return self.max_starting or 20 * (os.cpu_count() or 1)

    def apply(self, specs: list[ProgramSpec]) -> list[ProgramSpec]:
        """Every program's spec with these settings."""
        fields = {
            "flap_exits": self.flap_exits,
            "flap_window": self.flap_window,
            "flap_delay": self.flap_delay,
            "flap_delay_max": self.flap_delay_max,
            "fatal_retry_after": self.fatal_retry_after,
            "fatal_retry_max": self.fatal_retry_max,
        }
        return [msgspec.structs.replace(spec, **fields) for spec in specs]
