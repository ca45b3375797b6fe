"""How many repairs may act on the Docker engine at once: an AIMD limit, as TCP's congestion
window, that follows the engine's own throughput. Pure: the state lives in Redis
(healer.adapters.store.repair_limit), every function here maps (policy, state, sample) to a state.

The signal is the engine's time per completed action, measured over a window of completions
(at least `window` of them and `min_latency` seconds): the seconds between the window's first
and last completion per completion, with the mean number of actions in flight as the
window's concurrency. While the engine keeps up, more concurrency keeps that cost level or
lowers it (restarting 50 containers together takes far less than 50 times one); when it is
overloaded, more in flight completes fewer per second and the cost rises. Overload is
therefore a cost (the window's, and the smoothed one) well above the best seen at the same or
lower concurrency (a higher cost with fewer in flight is just less parallelism).

A single action's latency is no such signal: in a burst the engine works through the actions
it was handed, so the last of 100 restarts handed over together takes many times the first,
with the engine as fast as ever. A limit that read that as overload halved itself in the
middle of a mass failure and left the rest waiting for slots the engine could have served.

So the limit

- starts at `initial` (by default the cap; or where it was, for an hour) and grows by one
  per completed action (slow start: it doubles each round) until the first decrease, then
  by 1/limit (one per round);
- halves, at most once per round trip (the latency of the action that saw it), when a window
  shows overload, when one action takes longer than `max_latency`, or when the engine fails an
  action;
- stays within [floor, cap]: `cap` is the operator's HEALER_REPAIR_CONCURRENCY.

An action that used (nearly) its whole stop grace period may have waited on the container,
not the engine: it counts as a completion (it is one), but a window where half or more of
the actions did so is not measured. A loaded engine can make quick-stopping containers take
that long too; then only a failure or an action over `max_latency` lowers the limit, which
errs towards the engine's own parallelism, the floor a mass failure is measured by. Counting
only the other actions would leave gaps in the window that read as a slow engine. A window
whose actions took under `min_latency` on average is neither measured nor ever overload: an
engine answering within a second is not overloaded, whatever the ratio. A pause between
completions longer than the action that ends it (nothing was finishing: the engine was idle,
not slow) starts a new window.
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
    tolerance: float = 2.0  # window and smoothed cost above tolerance x best: overloaded
    min_latency: float = 1.0  # seconds; windows of faster actions never signal overload
    max_latency: float = 30.0  # seconds; one action above it always (half the call timeout)
    decrease: float = 0.5
    smoothing: float = 0.5  # weight of a new window's cost in the moving average
    best_ttl: float = 600.0  # seconds a best cost is trusted: the engine's floor may move
    grace_share: float = 0.9  # this close to its stop grace, an action may have waited on it
    window: int = 8  # completions per measurement (and at least min_latency seconds)

    def __post_init__(self) -> None:
        if self.cap < 1 or self.floor < 1:
            raise ValueError(f"cap and floor must be >= 1, got {self.cap}, {self.floor}")
        if not 0 < self.decrease < 1 or not 0 < self.smoothing <= 1 or self.tolerance <= 1:
            raise ValueError("need 0 < decrease < 1, 0 < smoothing <= 1 and tolerance > 1")
        if self.window < 2:
            raise ValueError(f"a window needs at least 2 completions, got {self.window}")

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
    cost: float | None = None  # moving average of the windows' seconds per completion
    best: float | None = None  # lowest window cost seen since best_at
    best_at: float = 0.0
    best_in_flight: float = 0.0  # the mean concurrency of that window
    decreased_at: float = -math.inf
    tally: Tally | None = None  # the window being filled


@dataclass(frozen=True)
class Tally:
    """The window being filled: its first and last completion, and sums over its completions."""

    first: float
    last: float
    done: int
    in_flight: int  # sum of the actions in flight at each completion
    latency: float  # sum of the completed actions' latencies
    graced: int  # completions that used (nearly) their stop grace

    @classmethod
    def of(cls, s: Sample, graced: bool) -> Tally:
        return cls(s.at, s.at, 1, s.in_flight, s.latency, int(graced))

    def add(self, s: Sample, graced: bool) -> Tally:
        return Tally(
            self.first,
            s.at,
            self.done + 1,
            self.in_flight + s.in_flight,
            self.latency + s.latency,
            self.graced + graced,
        )

    def closed(self) -> Window:
        return Window(
            cost=(self.last - self.first) / (self.done - 1),
            in_flight=self.in_flight / self.done,
            latency=self.latency / self.done,
            graced=self.graced / self.done,
        )


@dataclass(frozen=True)
class Sample:
    """One engine action of a repair (restart, start, stop)."""

    latency: float  # seconds the call took
    in_flight: int  # actions acting when it ended, itself included
    ok: bool  # False: the engine failed it or timed out (not: the container was gone)
    at: float  # when it ended
    grace: float = math.inf  # the stop grace it was given; inf for start


@dataclass(frozen=True)
class Window:
    """A closed window of completions."""

    cost: float  # seconds between completions: the inverse of the engine's throughput
    in_flight: float  # mean actions in flight
    latency: float  # mean latency of its actions
    graced: float  # share of its actions that used (nearly) their stop grace


def allowed(policy: LimitPolicy, state: LimitState) -> int:
    """Actions that may be in flight now."""
    return max(policy.lowest, min(policy.cap, int(state.limit)))


def overloaded(policy: LimitPolicy, state: LimitState, window: Window) -> bool:
    """`state` has `window` measured already."""
    if not _telling(policy, window) or state.cost is None or state.best is None:
        return False
    # Fewer in flight than at the best cost: a higher cost is only less parallelism.
    more_parallel = window.in_flight >= state.best_in_flight
    # The window itself and the average both: a window better than the last ones lowers the
    # best before the average catches up, which is no overload.
    dear = min(window.cost, state.cost) > policy.tolerance * state.best
    return more_parallel and dear


def update(policy: LimitPolicy, state: LimitState, sample: Sample) -> LimitState:
    """The state after one action."""
    graced = sample.ok and sample.latency >= policy.grace_share * sample.grace
    if not sample.ok or (sample.latency > policy.max_latency and not graced):
        return _decrease(policy, state, sample)
    state, window = _count(policy, state, sample, graced)
    if window is not None:
        state = _measure(policy, state, window, sample.at)
        if overloaded(policy, state, window):
            return _decrease(policy, state, sample)
    step = 1.0 if state.slow_start else 1.0 / max(state.limit, 1.0)
    return replace(state, limit=min(float(policy.cap), state.limit + step))


def _count(
    policy: LimitPolicy, state: LimitState, s: Sample, graced: bool
) -> tuple[LimitState, Window | None]:
    """Add a completion to the window; the window it closed, if any."""
    tally = state.tally
    if tally is None or s.at - tally.last > max(s.latency, policy.min_latency):
        return replace(state, tally=Tally.of(s, graced)), None  # idle since: a new window
    grown = tally.add(s, graced)
    if grown.done < policy.window or grown.last - grown.first < policy.min_latency:
        return replace(state, tally=grown), None
    # The completion that closes a window opens the next: each gap is counted once.
    return replace(state, tally=Tally.of(s, graced)), grown.closed()


def _measure(policy: LimitPolicy, state: LimitState, w: Window, at: float) -> LimitState:
    # Only windows of actions slow enough to matter are measured: 50 ms starts among slots
    # held by slow-stopping containers would set a "best" no busy engine could come near.
    if not _telling(policy, w):
        return state
    average = w.cost if state.cost is None else _mix(policy.smoothing, state.cost, w.cost)
    stale = at - state.best_at > policy.best_ttl
    if state.best is None or w.cost < state.best or stale:
        return replace(state, cost=average, best=w.cost, best_at=at, best_in_flight=w.in_flight)
    return replace(state, cost=average)


def _telling(policy: LimitPolicy, w: Window) -> bool:
    """Whether a window says anything about the engine's speed."""
    return w.latency >= policy.min_latency and w.graced < 0.5


def _mix(weight: float, old: float, new: float) -> float:
    return (1 - weight) * old + weight * new


def _decrease(policy: LimitPolicy, state: LimitState, sample: Sample) -> LimitState:
    # One decrease per round trip: the actions that started before it would all report the
    # same overload, and halving once per report would collapse the limit.
    if sample.at - state.decreased_at < sample.latency:
        return replace(state, slow_start=False)
    lower = max(float(policy.lowest), state.limit * policy.decrease)
    return replace(state, limit=lower, slow_start=False, decreased_at=sample.at)
