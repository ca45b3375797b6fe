"""The scaler's CPU and memory metric: the probe's sampler (cgroup files, the stats API only
for containers whose cgroup it cannot read) and the one set of resource maths in
healer.core.resources, averaged over a service's running containers.

CPU is a rate, so it needs a base sample per container: the previous one this source took,
else the one the reconcile probe stored in Redis (`base`), so a fresh worker's first cycle
already has CPU. Without either, CPU is None and the scaler holds (no scaling on a guess).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from healer.core.model import ContainerId, ContainerView
from healer.core.resources import ResourceSample, ratios
from healer.core.scaling.policy import Metric

# Base samples older than this are dropped: a rate over an hour says little about now, and
# containers long gone must not pile up in a long-lived worker.
MAX_BASE_AGE = 3600.0

BaseSamples = Callable[[Sequence[ContainerId]], dict[ContainerId, ResourceSample]]


class Collector(Protocol):
    """The probe's resource sampler (healer.adapters.docker.stats.StatsCollector)."""

    def collect(
        self, containers: Iterable[tuple[ContainerId, int | None]]
    ) -> dict[ContainerId, ResourceSample]: ...


class CollectorSource:
    """`metric_source` of the scaler: the mean ratio to the limit over running containers."""

    def __init__(self, collector: Collector, base: BaseSamples | None = None) -> None:
        self.collector = collector
        self.base = base
        self.previous: dict[ContainerId, ResourceSample] = {}
        self._lock = threading.Lock()  # threads of one worker share the source

    def __call__(self, metric: Metric, containers: Sequence[ContainerView]) -> float | None:
        running = [(c.id, None) for c in containers if c.state == "running"]
        samples = self.collector.collect(running)
        with self._lock:
            bases = dict(self.previous)
        if metric == "cpu" and self.base is not None:
            missing = [cid for cid in samples if cid not in bases]
            bases.update(self.base(missing) if missing else {})
        values = [_value(metric, bases.get(cid), s) for cid, s in samples.items()]
        self._remember(samples)
        known = [v for v in values if v is not None]
        return sum(known) / len(known) if known else None

    def _remember(self, samples: dict[ContainerId, ResourceSample]) -> None:
        if not samples:
            return
        newest = max(s.at for s in samples.values())
        with self._lock:
            self.previous.update(samples)
            self.previous = {c: s for c, s in self.previous.items() if s.at > newest - MAX_BASE_AGE}


def _value(metric: Metric, base: ResourceSample | None, sample: ResourceSample) -> float | None:
    r = ratios(base, sample)
    return r.mem if metric == "memory" else r.cpu
