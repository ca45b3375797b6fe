"""Replay traces for the autoscaler's newer sources, on the same fluid worker-pool model and
simulated clock as autoscaler_replay.py (printed by it, after its own traces):

* prometheus: the metric is the arrival rate as Prometheus reports it (a 30 s rate, 15 s
  scrape lag), 5 % of queries fail; target = 80 % of a replica's throughput.
* cpu+queue: two metrics (busy share of the replicas, target 0.7; backlog + in flight,
  target 10); the largest recommendation wins.
* app broker: the queue metric read only by the cycle (an application's broker has no
  between-cycles trigger), against the healer's own Redis with the trigger.
* to zero: idle between bursts; min 0 against min 1 — replica-seconds saved and the seconds
  from the first task of a burst until a replica consumes.

Deciders: `naive` (one step per threshold crossing), `default` (today's HPA defaults) and
`tuned` (behaviour labels healer.scale.down.policies=pods:1/60s, up.window=15s).
"""

from __future__ import annotations

import argparse
import random
import statistics
from collections.abc import Callable
from dataclasses import replace

from benchmarks.autoscaler_replay import Pattern, Pool, Run, describe, patterns
from benchmarks.naive_scaler import naive_threshold_decide
from healer.core.scaling.policy import (
    History,
    Observation,
    Reading,
    ScaleSpec,
    ScaleUps,
    decide_readings,
)
from healer.core.scaling.rate import RatePolicy

Observe = Callable[[Pool, float], tuple[Reading, ...]]
LAG, RATE_WINDOW, FAIL_SHARE = 15, 30, 0.05


class ReadingsDecider:
    """decide_readings with the state the scaler keeps in Redis."""

    def __init__(self, spec: ScaleSpec, naive: bool = False) -> None:
        self.spec, self.naive = spec, naive
        self.history: History = ()
        self.last: float | None = None
        self.changes: ScaleUps = ()

    def __call__(self, readings: tuple[Reading, ...], now: float) -> int:
        current = readings[0].observation.replicas
        if self.naive:
            r = max(readings, key=lambda r: r.load or 0.0)
            spec = replace(self.spec, metric=r.metric, target=r.target)
            return naive_threshold_decide(spec, r.observation).desired
        d = decide_readings(self.spec, readings, self.history, self.last, now, self.changes)
        self.history = d.history
        if d.changed:
            self.last = now
            self.changes = (*self.changes, (now, d.desired - current))
        return d.desired


def prometheus_observer(pattern: Pattern, per_replica: float, seed: int) -> Observe:
    rng = random.Random(seed)

    def observe(pool: Pool, now: float) -> tuple[Reading, ...]:
        seen = now - LAG
        rate = statistics.mean(pattern.rate(max(0.0, seen - k)) for k in range(RATE_WINDOW))
        value = None if rng.random() < FAIL_SHARE else rate
        return (Reading("prometheus", per_replica, Observation(pool.replicas, value)),)

    return observe


def cpu_queue_observer(concurrency: int, queue_target: float) -> Observe:
    def observe(pool: Pool, now: float) -> tuple[Reading, ...]:
        busy = pool.in_service / max(1, pool.ready * concurrency)
        n = pool.replicas
        return (
            Reading("cpu", 0.7, Observation(n, busy)),
            Reading(
                "queue", queue_target, Observation(n, round(pool.backlog), round(pool.in_service))
            ),
        )

    return observe


def queue_observer(target: float) -> Observe:
    def observe(pool: Pool, now: float) -> tuple[Reading, ...]:
        obs = Observation(pool.replicas, round(pool.backlog), round(pool.in_service))
        return (Reading("queue", target, obs),)

    return observe


def simulate(
    pattern: Pattern,
    decider: ReadingsDecider,
    observe: Observe,
    args: argparse.Namespace,
    *,
    trigger_target: float | None = None,
    start_ready: int = 1,
) -> tuple[Run, list[float]]:
    """The run, and per burst the seconds from its first task to a replica consuming.
    With `trigger_target` a backlog above the replicas' targets asks for a cycle at once
    (the between-cycles trigger of the healer's own Redis)."""
    pool, run = Pool(args.concurrency, args.task_seconds, ready=start_ready), Run()
    steps, rising_at, last_dir = list(pattern.steps), None, 0
    waiting_since: float | None = None
    to_first: list[float] = []
    for second in range(int(args.duration)):
        now = float(second)
        if steps and now >= steps[0]:
            rising_at = rising_at if rising_at is not None else steps.pop(0)
        arrivals = pattern.rate(now)
        if pool.ready == 0 and arrivals > 0 and waiting_since is None:
            waiting_since = now
        pool.step(now, arrivals)
        if waiting_since is not None and pool.ready > 0:
            to_first.append(now - waiting_since)
            waiting_since = None
        if rising_at is not None and pool.capacity() >= pattern.nominal(now):
            run.to_capacity.append(now - rising_at)
            rising_at = None
        run.peak_backlog = max(run.peak_backlog, pool.backlog)
        run.replica_seconds += pool.replicas
        asked = (
            trigger_target is not None
            and pool.backlog > max(pool.replicas, 0) * trigger_target * 1.1
        )
        if second % args.interval and not asked:
            continue
        desired = decider(observe(pool, now), now)
        if desired != pool.replicas:
            direction = 1 if desired > pool.replicas else -1
            reversed_ = last_dir not in (0, direction)
            run.reversals += reversed_
            run.flaps += reversed_ and now - run.events[-1][0] < args.window
            last_dir = direction
            run.events.append((now, pool.replicas, desired))
            pool.resize(desired, now, args.start_delay)
    return run, to_first


def _bursty(t: float) -> float:
    """Idle, then a minute of 12 tasks/s every ten minutes."""
    return 12.0 if t % 600 >= 540 else 0.0


def report(args: argparse.Namespace) -> None:
    base = ScaleSpec(
        min_replicas=1,
        max_replicas=20,
        metric="queue",
        target=float(args.concurrency),
        stabilization_window_s=args.window,
        cooldown_s=float(args.interval),
    )
    tuned = replace(base, down_policies=(RatePolicy("pods", 1, 60),), scale_up_stabilization_s=15.0)
    per_replica = 0.8 * args.concurrency / args.task_seconds
    print(
        "\nnew sources (same pool model; default = today's HPA defaults, tuned = "
        "down.policies=pods:1/60s + up.window=15s):"
    )
    for name, pattern in patterns(args.duration, args.seed).items():
        observers = {
            "prometheus": prometheus_observer(pattern, per_replica, args.seed),
            "cpu+queue": cpu_queue_observer(args.concurrency, float(args.concurrency)),
        }
        for source, observe in observers.items():
            print(f"{name} / {source}:")
            for label, spec, naive in (
                ("naive", base, True),
                ("default", base, False),
                ("tuned", tuned, False),
            ):
                run, _ = simulate(pattern, ReadingsDecider(spec, naive), observe, args)
                print(describe(label, run, args.verbose))
    print("burst / queue on the app's broker (cycle only) vs the healer's Redis (+trigger):")
    burst = patterns(args.duration, args.seed)["burst"]
    q = queue_observer(float(args.concurrency))
    app, _ = simulate(burst, ReadingsDecider(base), q, args)
    own, _ = simulate(burst, ReadingsDecider(base), q, args, trigger_target=args.concurrency)
    print(describe("app", app, args.verbose))
    print(describe("own", own, args.verbose))
    zero_report(args, base)


def zero_report(args: argparse.Namespace, base: ScaleSpec) -> None:
    pattern = Pattern(
        _bursty, _bursty, tuple(float(t) for t in range(540, int(args.duration), 600))
    )
    q = queue_observer(float(args.concurrency))
    print(f"to zero (idle, a 1-minute burst every 10 min; down window {args.window:g}s):")
    for label, lo in (("min 1", 1), ("min 0", 0)):
        spec = replace(base, min_replicas=lo)
        run, first = simulate(pattern, ReadingsDecider(spec), q, args, start_ready=lo)
        wake = (
            f"first replica consuming {statistics.mean(first):.0f}s after the first task"
            if first
            else "never at zero"
        )
        print(describe(label, run, args.verbose) + f"  {wake}")
    bound = args.interval + args.start_delay
    print(f"  (bound: one interval + start = {bound:g}s; replica-s is the cost at zero)")


def main() -> None:
    p = argparse.ArgumentParser()
    for flag, default in (("--interval", 15), ("--concurrency", 10), ("--seed", 7)):
        p.add_argument(flag, type=int, default=default)
    for flag, fdefault in (
        ("--start-delay", 20.0),
        ("--duration", 1800.0),
        ("--task-seconds", 5.0),
        ("--window", 300.0),
    ):
        p.add_argument(flag, type=float, default=fdefault)
    p.add_argument("-v", "--verbose", action="store_true")
    report(p.parse_args())


if __name__ == "__main__":
    main()
