"""HPA's scaling policies: how many replicas one period may add or remove.

A policy is ``pods`` (a count) or ``percent`` (of the count at the start of the period) per
``period_s``. ``select`` picks among several: ``max`` the one allowing the largest change
(HPA's default), ``min`` the smallest, ``disabled`` no change in that direction at all.
The start of a period is today's count minus the autoscaler's own changes within it, so a
period's changes add up to at most one policy's worth, as in HPA.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

PolicyKind = Literal["pods", "percent"]
Select = Literal["max", "min", "disabled"]
SELECTS: tuple[Select, ...] = ("max", "min", "disabled")
Changes = Sequence[tuple[float, int]]
"""The autoscaler's own changes: (timestamp, replicas added; negative when removed)."""


@dataclass(frozen=True)
class RatePolicy:
    kind: PolicyKind
    value: float
    period_s: float

    def text(self) -> str:
        unit = "%" if self.kind == "percent" else " pods"
        return f"{self.value:g}{unit} per {self.period_s:g}s"


def rate_problems(policies: Sequence[RatePolicy], select: str, direction: str) -> list[str]:
    problems = []
    if select not in SELECTS:
        problems.append(f"{direction} select must be one of {', '.join(SELECTS)}, got {select!r}")
    for p in policies:
        if p.kind not in ("pods", "percent"):
            problems.append(f"{direction} policy kind must be pods or percent, got {p.kind!r}")
        if not (math.isfinite(p.value) and p.value > 0 and math.isfinite(p.period_s)):
            problems.append(
                f"{direction} policy {p.value!r} per {p.period_s!r}s: value must be > 0"
            )
        elif p.period_s <= 0:
            problems.append(f"{direction} policy period must be > 0s, got {p.period_s!r}")
        elif p.kind == "pods" and p.value != int(p.value):
            problems.append(f"{direction} pods policy needs a whole number, got {p.value!r}")
        elif direction == "down" and p.kind == "percent" and p.value > 100:
            problems.append(f"down percent policy must be <= 100, got {p.value!r}")
    return problems


def _changed(changes: Changes, period_s: float, now: float, sign: int) -> int:
    """Replicas added (sign 1) or removed (sign -1) in the period; an event exactly one
    period old has left it, as in HPA."""
    cutoff = now - period_s
    return sum(abs(n) for t, n in changes if cutoff < t <= now and n * sign > 0)


def up_limit(
    policies: Sequence[RatePolicy], select: Select, current: int, changes: Changes, now: float
) -> int:
    """Most replicas a scale-up may reach now (at least one from zero: a percentage of
    nothing is nothing, and a service at zero must be able to wake)."""
    if select == "disabled" or not policies:
        return current
    limits = []
    for p in policies:
        start = max(0, current - _changed(changes, p.period_s, now, 1))
        if p.kind == "pods":
            limits.append(start + int(p.value))
        else:
            limits.append(max(1, math.ceil(start * (1 + p.value / 100) - 1e-9)))
    return max(limits) if select == "max" else min(limits)


def scale_down_floor(
    policies: Sequence[RatePolicy], select: Select, current: int, changes: Changes, now: float
) -> int:
    """Fewest replicas a scale-down may reach now (0: no limit)."""
    if select == "disabled":
        return current
    if not policies:
        return 0
    limits = []
    for p in policies:
        start = current + _changed(changes, p.period_s, now, -1)
        if p.kind == "pods":
            limits.append(max(0, start - int(p.value)))
        else:
            limits.append(max(0, math.floor(start * (1 - p.value / 100) + 1e-9)))
    return min(limits) if select == "max" else max(limits)
