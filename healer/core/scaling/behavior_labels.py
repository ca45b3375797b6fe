"""HPA's `behavior` as labels: per-direction stabilisation window, rate policies and
selectPolicy, and the tolerance. A bad value is reported naming its label and the default
stays (a bad label never stops a cycle).

  healer.scale.up.window: 0s          scaleUp.stabilizationWindowSeconds
  healer.scale.down.window: 5m        scaleDown.stabilizationWindowSeconds (alias: window)
  healer.scale.up.policies: percent:100/15s,pods:4/15s    scaleUp.policies
  healer.scale.down.policies: percent:100/15s             scaleDown.policies
  healer.scale.up.select: max|min|disabled                scaleUp.selectPolicy
  healer.scale.tolerance: 0.1                             tolerance
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, cast

from healer.core.duration.parse import parse_duration
from healer.core.scaling.rate import SELECTS, PolicyKind, RatePolicy, Select, rate_problems

PREFIX = "healer.scale."
KEYS = (
    "tolerance",
    "up.window",
    "down.window",
    "up.policies",
    "down.policies",
    "up.select",
    "down.select",
)
_POLICY = re.compile(r"^\s*(pods|percent)\s*:\s*([0-9.]+)\s*/\s*(\S+)\s*$", re.IGNORECASE)


def _label(name: str, value: str) -> str:
    return f"label {PREFIX}{name}={value!r}"


def behavior(own: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    """ScaleSpec keyword arguments for the behaviour labels that are set and valid."""
    out: dict[str, Any] = {}
    windows = (("up.window", "scale_up_stabilization_s"), ("down.window", "stabilization_window_s"))
    for name, field in windows:
        seconds = _duration(name, own.get(name), problems)
        if seconds is not None:
            out[field] = seconds
    if "tolerance" in own:
        tol = _tolerance(own["tolerance"], problems)
        if tol is not None:
            out["tolerance"] = tol
    for direction in ("up", "down"):
        out.update(_direction(own, direction, problems))
    return out


def _duration(name: str, value: str | None, problems: list[str]) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        problems.append(f"{_label(name, value)} is not seconds >= 0 (e.g. 300, 90s, 5m)")
        return None
    return seconds


def _tolerance(value: str, problems: list[str]) -> float | None:
    text = value.strip()
    try:
        number = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        number = math.nan
    if math.isfinite(number) and 0 <= number < 1:
        return number
    problems.append(f"{_label('tolerance', value)} is not a fraction in [0, 1) (e.g. 0.1 or 10%)")
    return None


def _direction(own: Mapping[str, str], direction: str, problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    select = own.get(f"{direction}.select")
    if select is not None:
        if select.strip().lower() in SELECTS:
            out[f"{direction}_select"] = cast(Select, select.strip().lower())
        else:
            problems.append(
                f"{_label(direction + '.select', select)} is not one of {', '.join(SELECTS)}; "
                "max used"
            )
    text = own.get(f"{direction}.policies")
    if text is not None:
        policies = parse_policies(f"{direction}.policies", text, direction, problems)
        if policies:
            out[f"{direction}_policies"] = policies
    return out


def parse_policies(
    name: str, text: str, direction: str, problems: list[str]
) -> tuple[RatePolicy, ...]:
    """`pods:4/15s,percent:100/1m` → policies; () (defaults) with a problem when any part
    is wrong: half a policy list would rate-limit differently from what was written."""
    policies: list[RatePolicy] = []
    for part in (p for p in text.split(",") if p.strip()):
        m = _POLICY.match(part)
        period = _period(m.group(3)) if m else None
        if m is None or period is None:
            problems.append(
                f"{_label(name, text)}: {part.strip()!r} is not <pods|percent>:<value>/<period> "
                "(e.g. pods:4/15s); defaults used"
            )
            return ()
        kind: PolicyKind = "pods" if m.group(1).lower() == "pods" else "percent"
        policies.append(RatePolicy(kind, float(m.group(2)), period))
    wrong = rate_problems(policies, "max", direction)
    if wrong or not policies:
        problems.append(f"{_label(name, text)}: {'; '.join(wrong) or 'empty'}; defaults used")
        return ()
    return tuple(policies)


def _period(text: str) -> float | None:
    try:
        seconds = parse_duration(text)
    except ValueError:
        return None
    return seconds if seconds > 0 else None
