"""Replay load patterns against the HPA-style `scale_policy.decide` and the naive one-step
threshold scaler (`benchmarks/naive_scaler.py`), in one process on a simulated clock.

    python -m benchmarks.autoscaler_replay [--interval 15] [--start-delay 20] [--duration 1800]

The simulated service is a Celery worker pool scaled on queue depth: each replica runs
`--concurrency` tasks of `--task-seconds` each; a new replica takes `--start-delay` seconds
before it consumes. Every `--interval` seconds the decider sees the backlog and the tasks in
flight, and its answer is applied at once (removals instantly, additions after the delay).

Prints per pattern and decider: scale events, direction reversals (flapping), time to
capacity after each load increase, peak backlog and replica-seconds spent; then the ratios.
No Docker, Redis or Celery is touched.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks.naive_scaler import naive_threshold_decide
from healer.core.scale_policy import History, Observation, ScaleSpec, decide

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

    def step(self, now: float, arrivals: float) -> None:
        self.ready += sum(1 for t in self.starting if t <= now)
        self.starting = [t for t in self.starting if t > now]
        done = self.in_service / self.task_seconds
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
    to_capacity: list[float] = field(default_factory=list)
    peak_backlog: float = 0.0
    replica_seconds: float = 0.0


class Decider:
    def __init__(self, spec: ScaleSpec, naive: bool) -> None:
        self.spec, self.naive = spec, naive
        self.history: History = ()
        self.last: float | None = None

    def __call__(self, obs: Observation, now: float) -> int:
        if self.naive:
            return naive_threshold_decide(self.spec, obs).desired
        d = decide(self.spec, obs, self.history, self.last, now)
        self.history = d.history
        if d.changed:
            self.last = now
        return d.desired


def simulate(pattern: Pattern, decider: Decider, args: argparse.Namespace) -> Run:
    pool, run = Pool(args.concurrency, args.task_seconds), Run()
    steps = list(pattern.steps)
    rising_at: float | None = None
    last_direction = 0
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
        if second % args.interval:
            continue
        obs = Observation(pool.replicas, round(pool.backlog), round(pool.in_service))
        desired = decider(obs, now)
        if desired != pool.replicas:
            direction = 1 if desired > pool.replicas else -1
            run.reversals += last_direction not in (0, direction)
            last_direction = direction
            run.events.append((now, pool.replicas, desired))
            pool.resize(desired, now, args.start_delay)
    return run


def describe(name: str, run: Run, verbose: bool) -> str:
    ttc = f"{statistics.mean(run.to_capacity):6.0f}s" if run.to_capacity else "     -"
    line = (
        f"  {name:6} events {len(run.events):3}  reversals {run.reversals:3}  "
        f"time-to-capacity {ttc}  peak backlog {run.peak_backlog:7.0f}  "
        f"replica-s {run.replica_seconds:7.0f}"
    )
    if verbose:
        line += "\n" + "\n".join(f"      t={t:5.0f}s {a} -> {b}" for t, a, b in run.events)
    return line


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
    args = p.parse_args()
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
        naive = simulate(pattern, Decider(spec, naive=True), args)
        print(f"{name}:")
        print(describe("hpa", hpa, args.verbose))
        print(describe("naive", naive, args.verbose))
        ttc_h = statistics.mean(hpa.to_capacity) if hpa.to_capacity else math.nan
        ttc_n = statistics.mean(naive.to_capacity) if naive.to_capacity else math.nan
        print(
            f"  naive/hpa: events {ratio(len(naive.events), len(hpa.events))}, "
            f"time-to-capacity {ratio(ttc_n, ttc_h) if ttc_h == ttc_h else '-'}, "
            f"peak backlog {ratio(naive.peak_backlog, hpa.peak_backlog)}"
        )


if __name__ == "__main__":
    main()
