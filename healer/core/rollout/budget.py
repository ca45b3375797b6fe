"""How many replicas of a service a repair may take down at once, and which it acts on next.

`healer.repair.max_unavailable` (an integer, or a percentage of the replicas rounded down,
never below 1: a budget of 0 could never repair anything) caps the replicas that are
unavailable while a repair goes through them. Unavailable means not running, or running
with a healthcheck that is not `healthy` yet. Replicas that are unavailable already cost
nothing more to act on, so they go first and count against the budget first; each available
replica is touched only while the budget has room, and the next wave waits until the last
one is available again (`healthy`, or `running` without a healthcheck).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from healer.core.container_state import Healthcheck
from healer.core.model import ContainerId, ContainerView

MAX_UNAVAILABLE_LABEL = "healer.repair.max_unavailable"


@dataclass(frozen=True)
class MaxUnavailable:
    count: int = 1
    percent: float | None = None  # set: `count` is ignored

    def allowed(self, replicas: int) -> int:
        if self.percent is None:
            return max(1, self.count)
        return max(1, math.floor(replicas * self.percent / 100))

    def __str__(self) -> str:
        return f"{self.percent:g}%" if self.percent is not None else str(self.count)


def parse_max_unavailable(text: str) -> MaxUnavailable:
    """`1`, `2`, `25%`; ValueError naming what is wrong otherwise."""
    raw = text.strip()
    try:
        if raw.endswith("%"):
            percent = float(raw[:-1])
            if not 0 < percent <= 100:
                raise ValueError
            return MaxUnavailable(percent=percent)
        count = int(raw)
        if count < 1:
            raise ValueError
        return MaxUnavailable(count=count)
    except ValueError:
        raise ValueError(
            f"{MAX_UNAVAILABLE_LABEL}={text!r} is not a count >= 1 or a percentage "
            "in (0, 100] such as 25%"
        ) from None


def unavailable(c: ContainerView) -> bool:
    return c.state != "running" or c.health not in (None, "healthy")


@dataclass(frozen=True)
class Wave:
    ids: tuple[ContainerId, ...]
    down: int  # replicas of the service unavailable when the wave was planned
    budget: int
    free: tuple[ContainerId, ...] = ()  # of `ids`, those unavailable already (they cost nothing)


def next_wave(
    pending: Sequence[ContainerId], replicas: Sequence[ContainerView], budget: MaxUnavailable
) -> Wave:
    """The pending targets to act on now: every one that is unavailable already, then as
    many available ones as the budget has room for. Empty when the budget is spent."""
    allowed = budget.allowed(len(replicas))
    by_id = {c.id: c for c in replicas}
    down = sum(1 for c in replicas if unavailable(c))
    free = [cid for cid in pending if cid not in by_id or unavailable(by_id[cid])]
    room = max(0, allowed - down)
    costly = [cid for cid in pending if cid not in free][:room]
    return Wave(tuple(free + costly), down, allowed, tuple(free))


def order(pending: Sequence[ContainerId], replicas: Sequence[ContainerView]) -> list[ContainerId]:
    """Unavailable replicas first, then by replica number (the history shows this order)."""
    by_id = {c.id: c for c in replicas}

    def key(cid: ContainerId) -> tuple[int, int]:
        c = by_id.get(cid)
        return (0, 0) if c is None else (0 if unavailable(c) else 1, c.number)

    return sorted(pending, key=key)


def availability_timeout(healthcheck: Healthcheck | None, verify_timeout: float) -> float:
    """Seconds a replaced replica gets to become available: the verify timeout, plus, with a
    healthcheck, its start period and as many checks as it needs to pass or fail (0 means
    Docker's default: 30 s each, 3 retries)."""
    if healthcheck is None:
        return verify_timeout
    interval = healthcheck.interval or 30.0
    timeout = healthcheck.timeout or 30.0
    tries = healthcheck.retries if healthcheck.retries > 0 else 3
    return verify_timeout + healthcheck.start_period + (tries + 1) * (interval + timeout)
