"""Replay load patterns against the HPA-style `scale_policy.decide` and the naive one-step
threshold scaler (`benchmarks/naive_scaler.py`), in one process on a simulated clock.

    python -m benchmarks.autoscaler_replay [--interval 15] [--start-delay 20] [--duration 1800]

The simulated service is a Celery worker pool scaled on queue depth: each replica runs
`--concurrency` tasks of `--task-seconds` each; a new replica takes `--start-delay` seconds
before it consumes. Every `--interval` seconds the decider sees the backlog and the tasks in
flight, and its answer is applied at once (removals instantly, additions after the delay).

Prints per pattern and decider: scale events, direction reversals, flaps (a reversal less
than the scale-down window after the previous scale event), time to capacity after each load
increase, peak backlog and replica-seconds spent; then the ratios.

First it prints the burst case: seconds from a burst until max replicas, with and without a
manual `healer scale` just before it, for the behaviour before scale-up stopped waiting on the
cooldown, for today's scaler cycle alone and with the between-cycles trigger.
No Docker, Redis or Celery is touched.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchmarks.naive_scaler import naive_threshold_decide
from healer.adapters.store.keys import SCALE_TRIGGER_HOLD as TRIGGER_HOLD
from healer.core.model import ServiceId
from healer.core.scaling.policy import (
    History,
    Observation,
    ScaleDecision,
    ScaleSpec,
    ScaleUps,
    decide,
    recommend,
)
from healer.core.scaling.trigger import Watch, needs_more

Load = Callable[[float], float]  # tasks arriving per second at time t


@dataclass(frozen=True)
class Pattern:
    """`rate` is what arrives; `nominal` the same without noise, and `steps` the times the
    nominal load rises: time to capacity is measured from each step."""

    rate: Load
    nominal: Load
    steps: tuple[float, ...]


def _burst(t: float) -> float:
    return 20.0 if 300 <= t < 1200 else 2.0


def _oscillating(t: float) -> float:
    return 14.0 if int(t // 60) % 2 else 2.0


def patterns(duration: float, seed: int) -> dict[str, Pattern]:
    rng = random.Random(seed)
    noise = [rng.uniform(-1.5, 1.5) for _ in range(int(duration) + 1)]
    rises = tuple(float(t) for t in range(60, int(duration), 120))
    return {
        "burst": Pattern(_burst, _burst, (300.0,)),
        "steady": Pattern(lambda t: 8.0 + noise[int(t)], lambda t: 8.0, (0.0,)),
        "oscillating": Pattern(_oscillating, _oscillating, rises),
    }


@dataclass
class Pool:
    """A fluid model of the worker pool: backlog, tasks in service, replicas."""

    concurrency: int
    task_seconds: float
    backlog: float = 0.0
    in_service: float = 0.0
    ready: int = 1
    starting: list[float] = field(default_factory=list)  # times new replicas become ready

    @property
    def replicas(self) -> int:
        return self.ready + len(self.starting)

    def capacity(self) -> float:
        """Tasks per second the ready replicas can finish."""
        return self.ready * self.concurrency / self.task_seconds

    def step(self, now: float, arrivals: float, dt: float = 1.0) -> None:
        """Advance `dt` seconds; `arrivals` tasks arrived during them."""
        self.ready += sum(1 for t in self.starting if t <= now)
        self.starting = [t for t in self.starting if t > now]
        done = self.in_service * dt / self.task_seconds
        self.in_service -= done
        free = max(0.0, self.ready * self.concurrency - self.in_service)
        taken = min(self.backlog + arrivals, free)
        self.in_service += taken
        self.backlog += arrivals - taken

    def resize(self, desired: int, now: float, delay: float) -> None:
        if desired > self.replicas:
            self.starting += [now + delay] * (desired - self.replicas)
            return
        for _ in range(self.replicas - desired):  # starting replicas go first, as they cost least
            if self.starting:
                self.starting.pop()
            else:
                self.ready -= 1
                self.in_service = min(self.in_service, self.ready * self.concurrency)


@dataclass
class Run:
    events: list[tuple[float, int, int]] = field(default_factory=list)
    reversals: int = 0
    flaps: int = 0  # reversals within the scale-down window of the previous event
    to_capacity: list[float] = field(default_factory=list)
    peak_backlog: float = 0.0
    replica_seconds: float = 0.0
    series: list[tuple[float, float, int]] = field(default_factory=list)  # t, backlog, replicas


class Decider:
    """`scaling.decide` with the state the scaler keeps in Redis: recommendation history,
    last scale time, the autoscaler's own scale-ups (for the per-period rate limit)."""

    def __init__(self, spec: ScaleSpec, naive: bool = False, legacy: bool = False) -> None:
        self.spec, self.naive, self.legacy = spec, naive, legacy
        self.history: History = ()
        self.last: float | None = None
        self.ups: ScaleUps = ()

    def __call__(self, obs: Observation, now: float) -> int:
        if self.naive:
            return naive_threshold_decide(self.spec, obs).desired
        d = legacy_decide(self.spec, obs, self.history, self.last, now) if self.legacy else None
        d = d or decide(self.spec, obs, self.history, self.last, now, self.ups)
        self.history = d.history
        if d.changed:
            self.last = now
        if d.desired > obs.replicas:
            self.ups = (*self.ups, (now, d.desired - obs.replicas))
        return d.desired

    def manual_scale(self, now: float) -> None:
        """`healer scale`: a replica change of another source (not one of `ups`)."""
        self.last = now


def legacy_decide(
    spec: ScaleSpec, obs: Observation, history: History, last: float | None, now: float
) -> ScaleDecision | None:
    """The behaviour before scale-up stopped waiting: within `cooldown_s` of any scale event
    (a manual one included) nothing but a clamp into [min, max] happened. None outside the
    cooldown, where the decision was the same as today's minus the per-period rate limit."""
    if last is None or now - last >= spec.cooldown_s:
        return None
    d = decide(spec, Observation(obs.replicas, None), history, None, now)
    raw, _ = recommend(spec, obs)
    kept = d.history if raw is None else (*(e for e in d.history if e[0] < now), (now, raw))
    return replace(d, raw=raw, history=kept)


def simulate(
    pattern: Pattern, decider: Decider, args: argparse.Namespace, trigger: bool = False
) -> Run:
    """With `trigger`, the beat-tick check may also ask for a cycle between two intervals."""
    pool, run = Pool(args.concurrency, args.task_seconds), Run()
    steps = list(pattern.steps)
    rising_at: float | None = None
    last_direction = 0
    held_until = -math.inf
    target = decider.spec.target or 1.0
    for second in range(int(args.duration)):
        now = float(second)
        if steps and now >= steps[0]:
            rising_at = rising_at if rising_at is not None else steps.pop(0)
        pool.step(now, pattern.rate(now))
        if rising_at is not None and pool.capacity() >= pattern.nominal(now):
            run.to_capacity.append(now - rising_at)
            rising_at = None
        run.peak_backlog = max(run.peak_backlog, pool.backlog)
        run.replica_seconds += pool.replicas
        if second % 5 == 0 or (run.series and run.series[-1][2] != pool.replicas):
            run.series.append((now, round(pool.backlog, 1), pool.replicas))
        watch = Watch(
            ServiceId("bench/svc"), ("q",), target, pool.replicas, decider.spec.max_replicas
        )
        asked = trigger and now >= held_until and needs_more(watch, round(pool.backlog))
        held_until = now + TRIGGER_HOLD if asked else held_until
        if second % args.interval and not asked:
            continue
        obs = Observation(pool.replicas, round(pool.backlog), round(pool.in_service))
        desired = decider(obs, now)
        if desired != pool.replicas:
            direction = 1 if desired > pool.replicas else -1
            reversed_ = last_direction not in (0, direction)
            run.reversals += reversed_
            run.flaps += reversed_ and now - run.events[-1][0] < args.window
            last_direction = direction
            run.events.append((now, pool.replicas, desired))
            pool.resize(desired, now, args.start_delay)
    return run


def describe(name: str, run: Run, verbose: bool) -> str:
    ttc = f"{statistics.mean(run.to_capacity):6.0f}s" if run.to_capacity else "     -"
    line = (
        f"  {name:6} events {len(run.events):3}  reversals {run.reversals:3}  "
        f"flaps {run.flaps:3}  "
        f"time-to-capacity {ttc}  peak backlog {run.peak_backlog:7.0f}  "
        f"replica-s {run.replica_seconds:7.0f}"
    )
    if verbose:
        line += "\n" + "\n".join(f"      t={t:5.0f}s {a} -> {b}" for t, a, b in run.events)
    return line


# --- a burst right after a manual scale --------------------------------------------------

BURST_TASKS = 100
BURST_SPEC = ScaleSpec(min_replicas=1, max_replicas=4, metric="queue", target=10.0, cooldown_s=60.0)
TICK = 1.0  # beat's tick, when the between-cycles trigger checks the backlog
DT = 0.1


def burst_to_capacity(
    legacy: bool, manual: bool, trigger: bool, phase: float, args: argparse.Namespace
) -> float:
    """Seconds from a burst of BURST_TASKS tasks until BURST_SPEC's max replicas consume.

    The service ran at 1 replica long enough for a full history; with `manual`, an operator
    scaled it to 2 one second before the burst. Scaler cycles run every `--burst-interval`
    seconds from `phase`; with `trigger` the beat-tick check (healer.core.scaling.trigger) also
    asks for a cycle once the backlog alone exceeds the replicas' targets.
    """
    spec = BURST_SPEC
    pool, decider = (
        Pool(args.burst_concurrency, args.burst_task_seconds),
        Decider(spec, legacy=legacy),
    )
    decider.history = ((-600.0, 1),)
    interval, delay = float(args.burst_interval), args.burst_start_delay
    held_until = -math.inf
    for k in range(int(-5 / DT), int(300 / DT)):
        now = round(k * DT, 6)
        if manual and now == -1.0:
            pool.resize(2, now, delay)
            decider.manual_scale(now)
        pool.step(now, BURST_TASKS if now == 0.0 else 0.0, DT)
        if now >= 0 and pool.ready >= spec.max_replicas:
            return now
        obs = Observation(pool.replicas, round(pool.backlog), round(pool.in_service))
        cycle = math.isclose((now - phase) % interval, 0.0, abs_tol=DT / 2) or math.isclose(
            (now - phase) % interval, interval, abs_tol=DT / 2
        )
        asked = (
            trigger
            and now >= held_until
            and math.isclose(now % TICK, 0.0, abs_tol=DT / 2)
            and needs_more(
                Watch(ServiceId("bench/svc"), ("q",), 10.0, pool.replicas, spec.max_replicas),
                round(pool.backlog),
            )
        )
        if asked:
            held_until = now + TRIGGER_HOLD
        if cycle or asked:
            pool.resize(decider(obs, now), now, delay)
    return math.inf


def burst_report(args: argparse.Namespace) -> None:
    phases = [i * DT for i in range(int(args.burst_interval / DT))]
    bound = args.burst_interval + args.burst_start_delay
    print(
        f"burst of {BURST_TASKS} tasks: scaler interval {args.burst_interval:g}s, target "
        f"{BURST_SPEC.target:g}/replica, max {BURST_SPEC.max_replicas}, cooldown "
        f"{BURST_SPEC.cooldown_s:g}s, replica start {args.burst_start_delay:g}s; seconds to "
        f"{BURST_SPEC.max_replicas} replicas, mean / max over {len(phases)} cycle phases "
        f"(goal: <= interval + start = {bound:g}s)"
    )
    print(f"  {'':28} {'no scale before':>18} {'manual scale to 2 just before':>32}")
    rows = (
        ("old (cooldown blocks all)", True, False),
        ("ours, scaler cycle only", False, False),
        ("ours, cycle + trigger", False, True),
    )
    for label, legacy, trigger in rows:
        cells = []
        for manual in (False, True):
            times = [burst_to_capacity(legacy, manual, trigger, p, args) for p in phases]
            text = f"{statistics.mean(times):6.1f} / {max(times):5.1f}"
            cells.append(text if math.isfinite(max(times)) else "never (backlog gone first)")
        print(f"  {label:28} {cells[0]:>18} {cells[1]:>32}")


def ratio(a: float, b: float) -> str:
    if b == 0:
        return "inf" if a else "1.00"
    return f"{a / b:.2f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--interval", type=int, default=15, help="scaler interval, s")
    p.add_argument("--start-delay", type=float, default=20.0, help="replica start time, s")
    p.add_argument("--duration", type=float, default=1800.0, help="simulated time, s")
    p.add_argument("--concurrency", type=int, default=10, help="tasks a replica runs at once")
    p.add_argument("--task-seconds", type=float, default=5.0, help="duration of one task")
    p.add_argument("--window", type=float, default=300.0, help="HPA scale-down window, s")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("-v", "--verbose", action="store_true", help="print every scale event")
    p.add_argument("--burst-interval", type=float, default=3.0, help="burst case: interval, s")
    p.add_argument("--burst-start-delay", type=float, default=1.0, help="burst case: start, s")
    p.add_argument("--burst-concurrency", type=int, default=4, help="burst case: tasks/replica")
    p.add_argument("--burst-task-seconds", type=float, default=20.0, help="burst case: task, s")
    p.add_argument("--json", type=Path, help="also write each pattern's time series here")
    args = p.parse_args()
    series: dict[str, dict[str, object]] = {}
    burst_report(args)
    # target = one replica's concurrency: "a full replica" is the HPA target.
    spec = ScaleSpec(
        min_replicas=1,
        max_replicas=20,
        metric="queue",
        target=float(args.concurrency),
        stabilization_window_s=args.window,
        cooldown_s=float(args.interval),
    )
    print(
        f"interval {args.interval}s, start delay {args.start_delay:g}s, "
        f"{args.duration:g}s simulated, replica = {args.concurrency} x {args.task_seconds:g}s tasks"
    )
    for name, pattern in patterns(args.duration, args.seed).items():
        hpa = simulate(pattern, Decider(spec, naive=False), args)
        triggered = simulate(pattern, Decider(spec, naive=False), args, trigger=True)
        naive = simulate(pattern, Decider(spec, naive=True), args)
        series[name] = {
            label: {"series": run.series, "events": run.events, "max_replicas": spec.max_replicas}
            for label, run in (("hpa", hpa), ("hpa+trigger", triggered), ("naive", naive))
        }
        print(f"{name}:")
        print(describe("hpa", hpa, args.verbose))
        print(describe("hpa+tr", triggered, args.verbose))
        print(describe("naive", naive, args.verbose))
        ttc_h = statistics.mean(hpa.to_capacity) if hpa.to_capacity else math.nan
        ttc_n = statistics.mean(naive.to_capacity) if naive.to_capacity else math.nan
        print(
            f"  naive/hpa: events {ratio(len(naive.events), len(hpa.events))}, "
            f"time-to-capacity {ratio(ttc_n, ttc_h) if ttc_h == ttc_h else '-'}, "
            f"peak backlog {ratio(naive.peak_backlog, hpa.peak_backlog)}"
        )
    from benchmarks.replay.sources import report

    report(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"benchmark": "autoscaler_replay", "patterns": series}))


if __name__ == "__main__":
    main()
