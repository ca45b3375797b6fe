"""The benchmarks' baseline autoscaler: one step on each threshold crossing, no tolerance,
no stabilisation window, no cooldown. Kept here, not in healer/, because nothing in
production uses it; autoscaler_replay.py and a unit test compare `scale_policy.decide` to it."""

from __future__ import annotations

import math

from healer.core.scaling.policy import (
    TOTAL_METRICS,
    Observation,
    ScaleDecision,
    ScaleSpec,
    clamp,
    scale_decision,
    threshold_recommend,
)


def naive_threshold_decide(spec: ScaleSpec, observation: Observation) -> ScaleDecision:
    """Baseline for benchmarks: one step on each threshold crossing, no tolerance or memory.

    Utilisation is the metric itself for cpu/memory, and load / (replicas * target) for a
    queue. Only the min/max clamp is kept so the comparison is about stability, not bounds.
    """
    current = observation.replicas
    value = observation.usable_value
    if value is None:
        raw, why = None, f"{spec.metric} metric missing ({observation.value!r})"
    else:
        raw, why = threshold_recommend(spec, current, _utilisation(spec, observation, value))
    desired, note = clamp(spec, current if raw is None else raw)
    return scale_decision(current, desired, raw, [why, note], ())


def _utilisation(spec: ScaleSpec, obs: Observation, value: float) -> float:
    if spec.metric not in TOTAL_METRICS or spec.target is None:
        return value
    load = value + obs.in_flight
    if obs.replicas == 0:
        return math.inf if load > 0 else 0.0
    return load / (obs.replicas * spec.target)
