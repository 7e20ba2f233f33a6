"""When to recycle an instance (restart it fresh), as a pure decision.

Browsers grow and sites log sessions out; recycling by requests served, age
or memory keeps an instance fresh. `due(policy, instances)` picks at most one
instance, never the last routable one, and says why; the daemon then asks
`request_restart(name, reason)`.
"""

from __future__ import annotations

import msgspec


class RecyclePolicy(msgspec.Struct, frozen=True, kw_only=True):
    after_requests: int = 0  # 0: off
    after_seconds: float = 0.0
    above_mb: float = 0.0

    @property
    def active(self) -> bool:
        return bool(self.after_requests or self.after_seconds or self.above_mb)


class InstanceView(msgspec.Struct, frozen=True, kw_only=True):
    """What the decision needs of one RUNNING instance."""

    name: str
    routable: bool
    served: int  # requests since its process started
    uptime: float
    memory_mb: float | None = None  # None: not measured (the policy does not ask)


def due(policy: RecyclePolicy, instances: list[InstanceView]) -> tuple[str, str] | None:
    """The first instance (by name) due for recycling and why, or None.

    Never the last routable instance of several: recycling must not leave
    the pool with nothing to serve.
    """
    if not policy.active:
        return None
    routable = {i.name for i in instances if i.routable}
    for view in sorted(instances, key=lambda i: i.name):
        why = _why(policy, view)
        if why is None:
            continue
        if len(instances) > 1 and not (routable - {view.name}):
            return None
        return view.name, why
    return None


def _why(policy: RecyclePolicy, view: InstanceView) -> str | None:
    if policy.after_requests and view.served >= policy.after_requests:
        return f"{view.served} requests served"
    if policy.after_seconds and view.uptime >= policy.after_seconds:
        return f"up {view.uptime:.0f}s"
    if policy.above_mb and view.memory_mb is not None and view.memory_mb >= policy.above_mb:
        return f"{view.memory_mb:.0f} MB"
    return None
