"""How many repairs may act on the Docker engine at once: an AIMD limit, as TCP's congestion
window, that follows the engine's own latency. Pure: the state lives in Redis
(healer.adapters.repair_limit), every function here maps (policy, state, sample) to a state.

The signal is the engine's time per action, by Little's law: an action's latency divided by
the actions in flight. While the engine still works in parallel that cost falls as more run
at once (restarting 50 containers together takes far less than 50 times one); once it is
saturated, more concurrency only queues inside dockerd and the cost stops falling, and when
it is overloaded the cost rises. Saturation is therefore a cost well above the best one seen
at the same or lower concurrency (a higher cost with fewer in flight is just less
parallelism). So the limit

- starts at `initial` (by default the cap; or where it was, for an hour) and grows by one
  per completed action (slow start: it doubles each round) until the first sign of
  saturation, then by 1/limit (one per round);
- halves, at most once per round trip (the latency of the action that saw it), when the
  smoothed cost exceeds `tolerance` times the best cost seen recently, when one action takes
  longer than `max_latency`, or when the engine fails an action;
- stays within [floor, cap]: `cap` is the operator's HEALER_REPAIR_CONCURRENCY.

An action that used (nearly) its whole stop grace period waited on the container, not the
engine, and is no signal at all. Latencies under `min_latency` are neither measured nor ever
saturation: an engine answering within a second is not overloaded, whatever the ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class LimitPolicy:
    cap: int  # HEALER_REPAIR_CONCURRENCY
    floor: int = 2
    # A cold start (no state in Redis for an hour) allows the cap at once: the engine's own
    # parallel restart of everything that failed is the floor a mass failure is measured
    # by, and waves of repairs behind a smaller start would each add a round trip.
    initial: int | None = None  # None: the cap
    tolerance: float = 2.0  # smoothed cost above tolerance x best: saturated
    min_latency: float = 1.0  # seconds; below it an action never signals saturation
    max_latency: float = 30.0  # seconds; above it always (half the Docker call timeout)
    decrease: float = 0.5
    smoothing: float = 0.2  # weight of a new cost in the moving average
    best_ttl: float = 600.0  # seconds a best cost is trusted: the engine's floor may move
    grace_share: float = 0.9  # an action this close to its stop grace waited on the container

    def __post_init__(self) -> None:
        if self.cap < 1 or self.floor < 1:
            raise ValueError(f"cap and floor must be >= 1, got {self.cap}, {self.floor}")
        if not 0 < self.decrease < 1 or not 0 < self.smoothing <= 1 or self.tolerance <= 1:
            raise ValueError("need 0 < decrease < 1, 0 < smoothing <= 1 and tolerance > 1")

    @property
    def lowest(self) -> int:
        return min(self.floor, self.cap)

    def start(self) -> LimitState:
        first = self.cap if self.initial is None else min(self.initial, self.cap)
        return LimitState(float(first))


@dataclass(frozen=True)
class LimitState:
    limit: float
    slow_start: bool = True
    cost: float | None = None  # moving average of seconds per action per action in flight
    best: float | None = None  # lowest single cost seen since best_at
    best_at: float = 0.0
    best_in_flight: int = 0  # the concurrency that cost was seen at
    decreased_at: float = -math.inf


@dataclass(frozen=True)
class Sample:
    """One engine action of a repair (restart, start, stop)."""

    latency: float  # seconds the call took
    in_flight: int  # actions acting when it ended, itself included
    ok: bool  # False: the engine failed it or timed out (not: the container was gone)
    at: float
    grace: float = math.inf  # the stop grace it was given; inf for start


def allowed(policy: LimitPolicy, state: LimitState) -> int:
    """Actions that may be in flight now."""
    return max(policy.lowest, min(policy.cap, int(state.limit)))


def saturated(policy: LimitPolicy, state: LimitState, sample: Sample) -> bool:
    if not sample.ok or sample.latency > policy.max_latency:
        return True
    if sample.latency < policy.min_latency or state.cost is None or state.best is None:
        return False
    # Fewer in flight than at the best cost: a higher cost is only less parallelism.
    more_parallel = sample.in_flight >= state.best_in_flight
    return more_parallel and state.cost > policy.tolerance * state.best


def update(policy: LimitPolicy, state: LimitState, sample: Sample) -> LimitState:
    """The state after one action."""
    if sample.ok and sample.latency >= policy.grace_share * sample.grace:
        return state  # the container took its grace period: nothing learnt about the engine
    measured = _measure(policy, state, sample)
    if saturated(policy, measured, sample):
        return _decrease(policy, measured, sample)
    step = 1.0 if measured.slow_start else 1.0 / max(measured.limit, 1.0)
    return replace(measured, limit=min(float(policy.cap), measured.limit + step))


def _measure(policy: LimitPolicy, state: LimitState, sample: Sample) -> LimitState:
    # Only actions slow enough to matter are measured: a 50 ms start among slots held by
    # slow-stopping containers would set a "best" no busy engine could ever come near.
    if not sample.ok or sample.latency < policy.min_latency:
        return state
    cost = sample.latency / max(1, sample.in_flight)
    average = cost if state.cost is None else _mix(policy.smoothing, state.cost, cost)
    stale = sample.at - state.best_at > policy.best_ttl
    if state.best is None or cost < state.best or stale:
        return replace(
            state, cost=average, best=cost, best_at=sample.at, best_in_flight=sample.in_flight
        )
    return replace(state, cost=average)


def _mix(weight: float, old: float, new: float) -> float:
    return (1 - weight) * old + weight * new


def _decrease(policy: LimitPolicy, state: LimitState, sample: Sample) -> LimitState:
    # One decrease per round trip: the actions that started before it would all report the
    # same saturation, and halving once per report would collapse the limit.
    if sample.at - state.decreased_at < sample.latency:
        return replace(state, slow_start=False)
    lower = max(float(policy.lowest), state.limit * policy.decrease)
    return replace(state, limit=lower, slow_start=False, decreased_at=sample.at)
