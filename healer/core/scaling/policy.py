"""Autoscaling decisions: pure HPA-style maths, no I/O.

The caller measures, calls :func:`decide` once per scaler interval, applies the returned
replica count, stores :attr:`ScaleDecision.history` and, when the count changed, records
``now`` as the last scale time. Everything here is a function of its arguments, so a test can
drive a whole scaling episode with a fake clock.

Behaviour follows the Kubernetes HorizontalPodAutoscaler:

* target mode (``target`` set): ``desired = ceil(current * value / target)``; for the queue
  metric the value is the total backlog and ``desired = ceil(backlog / target)``. A ratio within
  ``tolerance`` of 1 means "no change".
* threshold mode (``target`` unset, cpu/memory only): utilisation above ``up_threshold`` adds a
  replica, below ``down_threshold`` removes one.
* scale-down goes only to the highest recommendation seen during ``stabilization_window_s``, and
  only once the recorded history covers that whole window (a restarted healer with no history
  therefore never scales down straight away).
* scale-up never waits on a past event; it is only rate-limited, per ``scale_up_period_s``,
  to ``max(ceil(start * scale_up_factor), start + scale_up_step)`` where ``start`` is the count
  before the autoscaler's own scale-ups of the period (``scale_ups``), as HPA's default
  policy (double, or +4, per 15 s). A manual scale is not one of them, so it never slows a
  later autoscale-up.
* after a scale event, ``cooldown_s`` holds scale-down (new replicas first show up in the
  metric); bringing the count back inside ``[min_replicas, max_replicas]`` always happens,
  metric or not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from healer.core.scaling.rate import RatePolicy, Select, rate_problems, scale_down_floor, up_limit

Metric = Literal["cpu", "memory", "queue", "prometheus"]
Direction = Literal["up", "down", "none"]
History = tuple[tuple[float, int], ...]
"""Recent raw recommendations as ``(timestamp, replicas)``, oldest first."""
ScaleUps = tuple[tuple[float, int], ...]
"""The autoscaler's own recent replica changes as ``(timestamp, replicas added)``; a
scale-down is stored as a negative count (it rate-limits later scale-downs)."""

METRICS: tuple[Metric, ...] = ("cpu", "memory", "queue", "prometheus")
# Metrics whose value is a total to share out (desired = ceil(value / target), HPA's
# AverageValue), not a per-replica utilisation.
TOTAL_METRICS: tuple[Metric, ...] = ("queue", "prometheus")
# ceil() of a product that should be an integer (3 * 0.6 / 0.4) can land a hair above it.
_CEIL_EPSILON = 1e-9


@dataclass(frozen=True)
class ScaleSpec:
    """How one service scales. Times in seconds; cpu/memory values are fractions of the limit.

    ``target`` is per replica: a utilisation fraction for cpu/memory (0.6 = 60 % of the limit),
    a number of tasks (waiting + in flight) per replica for the queue metric.
    """

    min_replicas: int = 1
    max_replicas: int = 5
    metric: Metric = "cpu"
    target: float | None = None
    up_threshold: float = 0.8
    down_threshold: float = 0.2
    # HPA's default: ignore ratios within 10 % of the target, they are measurement noise.
    tolerance: float = 0.1
    # HPA's default scale-down window; scale-up reacts at once.
    stabilization_window_s: float = 300.0
    scale_up_stabilization_s: float = 0.0
    # HPA's default scale-up policy: double, or add 4, whichever is more.
    scale_up_factor: float = 2.0
    scale_up_step: int = 4
    scale_up_period_s: float = 15.0
    # About one scaler interval: new replicas start and show up in the metric before a
    # scale-down is considered. Scale-up never waits on it.
    cooldown_s: float = 60.0
    # HPA behaviour policies; empty scale-up policies mean the factor/step/period above,
    # empty scale-down policies mean no rate limit (the stabilisation window alone).
    up_policies: tuple[RatePolicy, ...] = ()
    up_select: Select = "max"
    down_policies: tuple[RatePolicy, ...] = ()
    down_select: Select = "max"

    def __post_init__(self) -> None:
        problems = _spec_problems(self)
        if problems:
            raise ValueError(f"invalid scale spec: {'; '.join(problems)}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def _spec_problems(spec: ScaleSpec) -> list[str]:
    problems = _replica_problems(spec) + _metric_problems(spec)
    floats = (
        "tolerance",
        "stabilization_window_s",
        "scale_up_stabilization_s",
        "scale_up_period_s",
        "cooldown_s",
    )
    for name in floats:
        value = getattr(spec, name)
        if not _is_real(value) or value < 0:
            problems.append(f"{name} must be a finite number >= 0, got {value!r}")
    if _is_real(spec.tolerance) and spec.tolerance >= 1:
        problems.append(f"tolerance must be < 1, got {spec.tolerance!r}")
    if not _is_real(spec.scale_up_factor) or spec.scale_up_factor < 1:
        problems.append(f"scale_up_factor must be >= 1, got {spec.scale_up_factor!r}")
    if not _is_int(spec.scale_up_step) or spec.scale_up_step < 1:
        problems.append(f"scale_up_step must be an integer >= 1, got {spec.scale_up_step!r}")
    problems += rate_problems(spec.up_policies, spec.up_select, "up")
    problems += rate_problems(spec.down_policies, spec.down_select, "down")
    return problems


def _replica_problems(spec: ScaleSpec) -> list[str]:
    lo, hi = spec.min_replicas, spec.max_replicas
    if not _is_int(lo) or lo < 0:
        return [f"min_replicas must be an integer >= 0, got {lo!r}"]
    if not _is_int(hi) or hi < 1:
        return [f"max_replicas must be an integer >= 1, got {hi!r}"]
    if hi < lo:
        return [f"max_replicas ({hi}) must be >= min_replicas ({lo})"]
    return []


def _metric_problems(spec: ScaleSpec) -> list[str]:
    if spec.metric not in METRICS:
        return [f"metric must be one of {', '.join(METRICS)}, got {spec.metric!r}"]
    if spec.target is not None and (not _is_real(spec.target) or spec.target <= 0):
        return [f"target must be a finite number > 0, got {spec.target!r}"]
    if spec.metric in TOTAL_METRICS and spec.target is None:
        return [f"metric {spec.metric!r} needs a target (per replica); thresholds are fractions"]
    up, down = spec.up_threshold, spec.down_threshold
    if not (_is_real(up) and _is_real(down) and 0 <= down < up):
        return [f"thresholds need 0 <= down_threshold < up_threshold, got {down!r}, {up!r}"]
    return []


@dataclass(frozen=True)
class Observation:
    """What the scaler measured for one service.

    ``value`` is the mean utilisation per replica (cpu/memory, fraction of the limit) or the
    number of tasks waiting in the service's queues (queue); ``None`` when it could not be
    measured. ``in_flight`` counts tasks already reserved or running on workers: they are load
    too, so they are added to the backlog.
    """

    replicas: int
    value: float | None
    in_flight: int = 0

    def __post_init__(self) -> None:
        if not _is_int(self.replicas) or self.replicas < 0:
            raise ValueError(f"replicas must be an integer >= 0, got {self.replicas!r}")
        if not _is_int(self.in_flight) or self.in_flight < 0:
            raise ValueError(f"in_flight must be an integer >= 0, got {self.in_flight!r}")

    @property
    def usable_value(self) -> float | None:
        """The value, or None when it is missing, NaN, infinite or negative."""
        ok = self.value is not None and _is_real(self.value) and self.value >= 0
        return self.value if ok else None


@dataclass(frozen=True)
class ScaleDecision:
    current: int
    desired: int
    raw: int | None
    """The unstabilised, unclamped recommendation; None when the metric was missing."""
    direction: Direction
    reason: str
    history: History
    """What to store and pass to the next :func:`decide` call."""
    decided_by: str = ""
    """The metric whose recommendation won (several metrics: the largest wins)."""

    @property
    def changed(self) -> bool:
        return self.desired != self.current


def _ceil(x: float) -> int:
    return max(0, math.ceil(x - _CEIL_EPSILON))


def _describe(spec: ScaleSpec, obs: Observation, value: float) -> str:
    if spec.metric == "queue":
        return f"queue backlog {value:g} + {obs.in_flight} in flight"
    if spec.metric == "prometheus":
        return f"prometheus query {value:g}"
    return f"{spec.metric} {value:.3f} per replica"


def ceiling_load(spec: ScaleSpec) -> float:
    """The queue load from which `recommend` asks for max replicas or more, whatever else is
    counted (infinite for the other metrics): tasks in flight on top of a backlog this large
    cannot change the decision, so they need not be measured."""
    if spec.metric != "queue" or spec.target is None:
        return math.inf
    # From max-1 replicas the load must also leave the tolerance band, or `recommend` keeps
    # max-1 (target 1, max 12: a backlog of 12 is a ratio of 1.09, inside a tolerance of 0.1).
    # The 1e-9 keeps the ratio strictly above the band after float rounding.
    past_band = (spec.max_replicas - 1) * spec.target * (1 + spec.tolerance) * (1 + 1e-9)
    return max(spec.target * spec.max_replicas, past_band)


def recommend(spec: ScaleSpec, obs: Observation) -> tuple[int | None, str]:
    """The raw recommendation (None when the metric is missing) and why."""
    value = obs.usable_value
    if value is None:
        return None, f"{spec.metric} metric missing ({obs.value!r})"
    if spec.target is None:
        return threshold_recommend(spec, obs.replicas, value)
    current = obs.replicas
    load = value + obs.in_flight if spec.metric in TOTAL_METRICS else current * value
    ratio = load / (current * spec.target) if current else math.inf
    shown = f"ratio {ratio:.2f}" if current else "no replicas running"
    what = f"{_describe(spec, obs, value)} vs target {spec.target:g} ({shown})"
    if abs(ratio - 1) <= spec.tolerance:
        return current, f"{what}, within tolerance {spec.tolerance:g}"
    return _ceil(load / spec.target), what


def threshold_recommend(spec: ScaleSpec, current: int, value: float) -> tuple[int, str]:
    what = f"{spec.metric} {value:.3f}"
    if value > spec.up_threshold:
        return current + 1, f"{what} above up threshold {spec.up_threshold:g}"
    if value < spec.down_threshold:
        return max(current - 1, 0), f"{what} below down threshold {spec.down_threshold:g}"
    return current, f"{what} between thresholds {spec.down_threshold:g}-{spec.up_threshold:g}"


def prune_history(spec: ScaleSpec, history: History, now: float) -> History:
    """Entries inside the longest window, plus the newest one before it (its start value).

    Entries after ``now`` are dropped: the clock stepped back, and keeping them would hold
    their recommendation until the clock catches up.
    """
    horizon = max(spec.stabilization_window_s, spec.scale_up_stabilization_s)
    ordered = sorted(e for e in history if e[0] <= now)
    inside = tuple(e for e in ordered if e[0] > now - horizon)
    before = [e for e in ordered if e[0] <= now - horizon]
    return (before[-1], *inside) if before else inside


def _down_limit(spec: ScaleSpec, history: History, now: float, raw: int) -> int | None:
    """Highest recommendation over the scale-down window; None if history doesn't cover it."""
    window = spec.stabilization_window_s
    if window == 0:
        return raw
    cutoff = now - window
    before = [e for e in history if e[0] <= cutoff]
    if not before:
        return None
    start = max(before)[1]
    return max([raw, start, *(r for t, r in history if t > cutoff)])


def _up_limit(spec: ScaleSpec, history: History, now: float, raw: int) -> int:
    """Lowest recommendation over the scale-up window (just ``raw`` with HPA's 0 s default)."""
    cutoff = now - spec.scale_up_stabilization_s
    return min([raw, *(r for t, r in history if t > cutoff)])


def up_policies(spec: ScaleSpec) -> tuple[RatePolicy, ...]:
    """The scale-up policies in force: the labels', else double or + step per period."""
    if spec.up_policies:
        return spec.up_policies
    period = spec.scale_up_period_s
    return (
        RatePolicy("percent", (spec.scale_up_factor - 1) * 100, period),
        RatePolicy("pods", spec.scale_up_step, period),
    )


def max_scale_up(spec: ScaleSpec, current: int, scale_ups: ScaleUps = (), now: float = 0.0) -> int:
    """Most replicas a scale-up may reach now: by default double, or + step, from the count at
    the start of the period (before the autoscaler's scale-ups within it), as HPA computes it."""
    return up_limit(up_policies(spec), spec.up_select, current, scale_ups, now)


def added_in_period(spec: ScaleSpec, scale_ups: ScaleUps, now: float) -> int:
    """Replicas the autoscaler added in the last ``scale_up_period_s`` (an event exactly one
    period old has left it, as in HPA)."""
    cutoff = now - spec.scale_up_period_s
    return sum(n for t, n in scale_ups if cutoff < t <= now and n > 0)


def _stabilise(
    spec: ScaleSpec,
    current: int,
    raw: int,
    history: History,
    now: float,
    scale_ups: ScaleUps,
    cooldown: str,
) -> tuple[int, str]:
    up = _up_limit(spec, history, now, raw)
    if current < up:
        limit = max(current, max_scale_up(spec, current, scale_ups, now))
        if up > limit:
            return limit, f"scale-up rate-limited to {limit} (from {up})"
        return up, ""
    if cooldown and raw < current:
        return current, cooldown
    down = _down_limit(spec, history, now, raw)
    window = f"{spec.stabilization_window_s:g}s"
    if down is None:
        held = raw < current
        return current, f"history does not cover the {window} window yet" if held else ""
    floor = scale_down_floor(spec.down_policies, spec.down_select, current, scale_ups, now)
    if max(down, floor) < current:
        if floor > down:
            return floor, f"scale-down rate-limited to {floor} (from {down})"
        return down, "" if down == raw else f"stabilised at {down}, highest in {window}"
    if raw < current:
        return current, f"scale-down held: recommendation {down} within the last {window}"
    return current, ""


def clamp(spec: ScaleSpec, replicas: int) -> tuple[int, str]:
    if replicas < spec.min_replicas:
        return spec.min_replicas, f"raised to min_replicas {spec.min_replicas}"
    if replicas > spec.max_replicas:
        return spec.max_replicas, f"capped at max_replicas {spec.max_replicas}"
    return replicas, ""


def _cooldown_note(spec: ScaleSpec, last_scale_at: float | None, now: float) -> str:
    """Why a scale-down is held by the cooldown, or "" when it is not."""
    if last_scale_at is None or now - last_scale_at >= spec.cooldown_s:
        return ""
    return (
        f"scale-down held by cooldown: last scale {now - last_scale_at:g}s ago "
        f"< {spec.cooldown_s:g}s"
    )


def scale_decision(
    current: int, desired: int, raw: int | None, notes: list[str], h: History
) -> ScaleDecision:
    direction: Direction = "up" if desired > current else "down" if desired < current else "none"
    verdict = f"{current} -> {desired}" if desired != current else f"holding {current}"
    text = "; ".join(n for n in notes if n)
    return ScaleDecision(current, desired, raw, direction, f"{verdict}: {text}", h)


def decide(
    spec: ScaleSpec,
    observation: Observation,
    history: History,
    last_scale_at: float | None,
    now: float,
    scale_ups: ScaleUps = (),
) -> ScaleDecision:
    """What replica count the service should have now, and the history to keep.

    ``last_scale_at`` is the last replica change of any source (it holds scale-down only);
    ``scale_ups`` the autoscaler's own recent scale-ups (they rate-limit scale-up)."""
    reading = Reading(spec.metric, spec.target, observation)
    return decide_readings(spec, (reading,), history, last_scale_at, now, scale_ups)


def decide_readings(
    spec: ScaleSpec,
    readings: Sequence[Reading],
    history: History,
    last_scale_at: float | None,
    now: float,
    scale_ups: ScaleUps = (),
) -> ScaleDecision:
    """:func:`decide` over several metrics: each recommends, the largest wins (HPA v2)."""
    current = readings[0].observation.replicas if readings else 0
    raw, why, by = recommend_all(spec, readings)
    kept = prune_history(spec, history, now)
    cooldown = _cooldown_note(spec, last_scale_at, now)
    target = current
    if raw is None:
        notes = [why, "no scaling without a metric"]
    else:
        target, note = _stabilise(spec, current, raw, kept, now, scale_ups, cooldown)
        notes = [f"{why}, raw recommendation {raw}", note]
    desired, note = clamp(spec, target)
    # A second decision at the same instant replaces the first.
    new_history = kept if raw is None else (*(e for e in kept if e[0] < now), (now, raw))
    decision = scale_decision(current, desired, raw, [*notes, note], new_history)
    return replace(decision, decided_by=by)


@dataclass(frozen=True)
class Reading:
    """One metric's measurement; ``activation``: above it a service at zero wakes, at or
    below it (every metric) a service with min 0 counts as idle (KEDA's activation)."""

    metric: Metric
    target: float | None
    observation: Observation
    activation: float = 0.0

    @property
    def load(self) -> float | None:
        value = self.observation.usable_value
        return None if value is None else value + self.observation.in_flight


def recommend_all(spec: ScaleSpec, readings: Sequence[Reading]) -> tuple[int | None, str, str]:
    """(raw recommendation, why, the metric that decided): the largest of the metrics'. A
    missing metric never lets the count go below the current one (HPA does the same)."""
    results = [
        (r, *recommend(replace(spec, metric=r.metric, target=r.target), r.observation))
        for r in readings
    ]
    known = [(r, n, why) for r, n, why in results if n is not None]
    whys = [why for _, _, why in results]
    if not known:
        return None, "; ".join(whys) or "no metric", ""
    best, raw, _ = max(known, key=lambda k: k[1])
    current = best.observation.replicas
    if spec.min_replicas == 0:
        raw = _activated(readings, raw, whys)
    if len(known) < len(results):
        whys.append(f"a metric is missing: not below {current}")
        raw = max(raw, current)
    if len(results) > 1:
        whys.append(f"{best.metric} decided")
    return raw, "; ".join(whys), best.metric


def _activated(readings: Sequence[Reading], raw: int, whys: list[str]) -> int:
    """Scale to zero: idle (every metric at or below its activation) asks for 0, any
    activity for at least one replica."""
    active = [r for r in readings if (r.load or 0.0) > r.activation]
    if active:
        return max(1, raw)
    whys.append("idle: every metric at or below its activation")
    return 0
